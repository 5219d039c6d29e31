#include "fracture/models/efficientnet.h"

#include <cmath>

#include "fracture/core/error.h"

namespace fracture::models {

MBConvImpl::MBConvImpl(int64_t expand_ratio, int64_t kernel, int64_t stride, int64_t in, int64_t out, double p)
    : sd_prob(p) {
  use_res_connect = stride == 1 && in == out;
  const BnParams bn{1e-5, 0.1};
  int64_t expanded = make_divisible(static_cast<double>(in * expand_ratio), 8);
  block = Seq();
  if (expanded != in) block->push_back(conv_bn_act(in, expanded, 1, 1, 1, Act::silu, bn));
  block->push_back(conv_bn_act(expanded, expanded, kernel, stride, expanded, Act::silu, bn));
  block->push_back(SqueezeExcitation(expanded, std::max<int64_t>(1, in / 4), Act::silu, Act::sigmoid));
  block->push_back(conv_bn_act(expanded, out, 1, 1, 1, Act::none, bn));
  register_module("block", block);
}

torch::Tensor MBConvImpl::forward(torch::Tensor x) {
  if (use_res_connect && !is_training()) return block->forward_plus(x, x);  // stochastic depth is the identity
  auto y = block->forward(x);
  if (!use_res_connect) return y;
  return stochastic_depth(y, sd_prob, is_training()) + x;
}

EfficientNetB0Impl::EfficientNetB0Impl(const ClassifierOptions& o) {
  FRACTURE_CHECK(o.num_classes >= 1, "efficientnet_b0: num_classes must be >= 1, got ", o.num_classes);
  FRACTURE_CHECK(o.in_channels == 1 || o.in_channels == 3, "efficientnet_b0: in_channels must be 1 or 3, got ",
                 o.in_channels);
  FRACTURE_CHECK(o.stochastic_depth_prob >= 0 && o.stochastic_depth_prob < 1,
                 "efficientnet_b0: stochastic_depth_prob must be in [0, 1), got ", o.stochastic_depth_prob);
  const BnParams bn{1e-5, 0.1};
  // torchvision B0 stages: expand ratio, kernel, stride, in, out, layers (width and depth mult 1.0).
  struct Stage { int64_t expand, kernel, stride, in, out, layers; };
  const Stage stages[] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},  {6, 5, 2, 24, 40, 2},  {6, 3, 2, 40, 80, 3},
                          {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1}};
  int64_t total_blocks = 0;
  for (const auto& s : stages) total_blocks += s.layers;

  features = Seq();
  features->push_back(conv_bn_act(o.in_channels, 32, 3, 2, 1, Act::silu, bn));
  int64_t block_id = 0;
  for (const auto& s : stages) {
    Seq stage;
    for (int64_t i = 0; i < s.layers; ++i) {
      double p = o.stochastic_depth_prob * static_cast<double>(block_id) / static_cast<double>(total_blocks);
      stage->push_back(MBConv(s.expand, s.kernel, i == 0 ? s.stride : 1, i == 0 ? s.in : s.out, s.out, p));
      ++block_id;
    }
    features->push_back(stage);
  }
  features->push_back(conv_bn_act(320, 1280, 1, 1, 1, Act::silu, bn));
  register_module("features", features);

  double p = o.dropout < 0 ? 0.2 : o.dropout;
  classifier = Seq(torch::nn::Dropout(torch::nn::DropoutOptions(p)),
                                     torch::nn::Linear(1280, o.num_classes));
  register_module("classifier", classifier);

  // torchvision: convs kaiming_normal fan_out, BN 1/0, Linear uniform(+-1/sqrt(out)) and bias 0.
  init_conv_bn(*features);
  torch::NoGradGuard ng;
  for (auto& m : classifier->modules(false)) {
    if (auto* l = m->as<torch::nn::Linear>()) {
      double r = 1.0 / std::sqrt(static_cast<double>(l->weight.size(0)));
      torch::nn::init::uniform_(l->weight, -r, r);
      l->bias.zero_();
    }
  }
}

torch::Tensor EfficientNetB0Impl::forward_features(torch::Tensor x) {
  return features->forward(x);  // (B, 1280, H/32, W/32)
}

torch::Tensor EfficientNetB0Impl::forward_features_until(torch::Tensor x, const std::string& layer) {
  return features->forward_range(x, 0, sequential_layer_index(*features, "features", layer) + 1);
}

torch::Tensor EfficientNetB0Impl::forward_features_from(torch::Tensor a, const std::string& layer) {
  return features->forward_range(a, sequential_layer_index(*features, "features", layer) + 1, features->size());
}

std::vector<std::string> EfficientNetB0Impl::feature_layers() const { return sequential_layer_names(*features, "features"); }

torch::Tensor EfficientNetB0Impl::forward_head(torch::Tensor x) {
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);  // (B, 1280)
  return classifier->forward(x);                          // (B, num_classes)
}

}  // namespace fracture::models
