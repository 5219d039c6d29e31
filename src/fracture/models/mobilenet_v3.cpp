#include "fracture/models/mobilenet_v3.h"

#include "fracture/core/error.h"

namespace fracture::models {

MobileNetV3BlockImpl::MobileNetV3BlockImpl(const MobileNetV3BlockConf& c, BnParams bn) {
  use_res_connect = c.stride == 1 && c.in == c.out;
  block = Seq();
  if (c.expanded != c.in) block->push_back(conv_bn_act(c.in, c.expanded, 1, 1, 1, c.act, bn));
  block->push_back(conv_bn_act(c.expanded, c.expanded, c.kernel, c.stride, c.expanded, c.act, bn));
  if (c.use_se) {
    block->push_back(SqueezeExcitation(c.expanded, make_divisible(c.expanded / 4, 8), Act::relu, Act::hardsigmoid));
  }
  block->push_back(conv_bn_act(c.expanded, c.out, 1, 1, 1, Act::none, bn));
  register_module("block", block);
}

torch::Tensor MobileNetV3BlockImpl::forward(torch::Tensor x) {
  return use_res_connect ? block->forward_plus(x, x) : block->forward(x);
}

MobileNetV3SmallImpl::MobileNetV3SmallImpl(const ClassifierOptions& o) {
  FRACTURE_CHECK(o.num_classes >= 1, "mobilenet_v3_small: num_classes must be >= 1, got ", o.num_classes);
  FRACTURE_CHECK(o.in_channels == 1 || o.in_channels == 3, "mobilenet_v3_small: in_channels must be 1 or 3, got ",
                 o.in_channels);
  const BnParams bn{1e-3, 0.01};
  const Act RE = Act::relu, HS = Act::hardswish;
  // torchvision _mobilenet_v3_conf("mobilenet_v3_small"): in, kernel, expanded, out, SE, act, stride.
  const MobileNetV3BlockConf table[] = {
      {16, 3, 16, 16, true, RE, 2},   {16, 3, 72, 24, false, RE, 2},  {24, 3, 88, 24, false, RE, 1},
      {24, 5, 96, 40, true, HS, 2},   {40, 5, 240, 40, true, HS, 1},  {40, 5, 240, 40, true, HS, 1},
      {40, 5, 120, 48, true, HS, 1},  {48, 5, 144, 48, true, HS, 1},  {48, 5, 288, 96, true, HS, 2},
      {96, 5, 576, 96, true, HS, 1},  {96, 5, 576, 96, true, HS, 1},
  };
  features = Seq();
  features->push_back(conv_bn_act(o.in_channels, 16, 3, 2, 1, HS, bn));
  for (const auto& c : table) features->push_back(MobileNetV3Block(c, bn));
  features->push_back(conv_bn_act(96, 576, 1, 1, 1, HS, bn));
  register_module("features", features);

  double p = o.dropout < 0 ? 0.2 : o.dropout;
  classifier = Seq(torch::nn::Linear(576, 1024), Activation(HS),
                                     torch::nn::Dropout(torch::nn::DropoutOptions(p)),
                                     torch::nn::Linear(1024, o.num_classes));
  register_module("classifier", classifier);

  // torchvision: convs kaiming_normal fan_out, BN 1/0, Linear normal(0, 0.01) and bias 0.
  init_conv_bn(*features);
  torch::NoGradGuard ng;
  for (auto& m : classifier->modules(false)) {
    if (auto* l = m->as<torch::nn::Linear>()) {
      torch::nn::init::normal_(l->weight, 0.0, 0.01);
      l->bias.zero_();
    }
  }
}

torch::Tensor MobileNetV3SmallImpl::forward_features(torch::Tensor x) {
  return features->forward(x);  // (B, 576, H/32, W/32)
}

torch::Tensor MobileNetV3SmallImpl::forward_features_until(torch::Tensor x, const std::string& layer) {
  return features->forward_range(x, 0, sequential_layer_index(*features, "features", layer) + 1);
}

torch::Tensor MobileNetV3SmallImpl::forward_features_from(torch::Tensor a, const std::string& layer) {
  return features->forward_range(a, sequential_layer_index(*features, "features", layer) + 1, features->size());
}

std::vector<std::string> MobileNetV3SmallImpl::feature_layers() const { return sequential_layer_names(*features, "features"); }

torch::Tensor MobileNetV3SmallImpl::forward_head(torch::Tensor x) {
  // inference only (Dropout is the identity), and not when Grad-CAM differentiates the head
  if (fast_fc1 && fast_fc2 && !wants_grad(x)) {
    auto pooled = torch::adaptive_avg_pool2d(x, {1, 1});  // (B, 576, 1, 1)
    return fast_fc2->forward(fast_fc1->forward(pooled)).flatten(1);
  }
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);  // (B, 576)
  return classifier->forward(x);                          // (B, num_classes)
}

}  // namespace fracture::models
