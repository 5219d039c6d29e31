#include "fracture/models/resnet.h"

#include "fracture/core/error.h"

namespace fracture::models {

namespace {
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding((k - 1) / 2).bias(false));
}
SyncBatchNorm2d bn(int64_t c) { return SyncBatchNorm2d(torch::nn::BatchNorm2dOptions(c).eps(1e-5).momentum(0.1)); }
}  // namespace

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
  conv1 = register_module("conv1", conv(in, out, 3, stride));
  bn1 = register_module("bn1", bn(out));
  conv2 = register_module("conv2", conv(out, out, 3, 1));
  bn2 = register_module("bn2", bn(out));
  if (stride != 1 || in != out) {
    downsample = register_module("downsample", Seq(conv(in, out, 1, stride), bn(out)));
  }
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  if (fast1 && fast2) {  // inference: relu(conv2(relu(conv1 x)) + identity), two oneDNN primitives
    auto identity = downsample ? downsample->forward(x) : x;
    return fast2->forward(fast1->forward(x), &identity);
  }
  auto y = conv1->forward(x);
  if (!bn_folded) y = bn1->forward(y);
  y = torch::relu_(y);  // in place, as torchvision's ReLU(inplace=True)
  y = conv2->forward(y);
  if (!bn_folded) y = bn2->forward(y);
  auto identity = downsample ? downsample->forward(x) : x;
  return torch::relu_(y.add_(identity));
}

ResNet18Impl::ResNet18Impl(const ClassifierOptions& o) {
  FRACTURE_CHECK(o.num_classes >= 1, "resnet18: num_classes must be >= 1, got ", o.num_classes);
  FRACTURE_CHECK(o.in_channels == 1 || o.in_channels == 3, "resnet18: in_channels must be 1 or 3, got ", o.in_channels);
  dropout = o.dropout < 0 ? 0.0 : o.dropout;
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels, 64, 7).stride(2).padding(3).bias(false)));
  bn1 = register_module("bn1", bn(64));
  const int64_t widths[4] = {64, 128, 256, 512};
  Seq* layers[4] = {&layer1, &layer2, &layer3, &layer4};
  int64_t in = 64;
  for (int i = 0; i < 4; ++i) {
    int64_t stride = i == 0 ? 1 : 2;
    *layers[i] = register_module("layer" + std::to_string(i + 1),
                                 Seq(BasicBlock(in, widths[i], stride), BasicBlock(widths[i], widths[i], 1)));
    in = widths[i];
  }
  fc = register_module("fc", torch::nn::Linear(512, o.num_classes));
  // torchvision: convs kaiming_normal (fan_out, relu), BN weight 1 / bias 0, Linear left at its default.
  torch::NoGradGuard ng;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<torch::nn::Conv2d>()) torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    if (auto* b = m->as<torch::nn::BatchNorm2d>()) { b->weight.fill_(1.0); b->bias.zero_(); }
  }
}

torch::Tensor ResNet18Impl::forward_features(torch::Tensor x) { return forward_features_until(x, "layer4"); }

namespace {
int resnet_layer(const std::string& layer) {
  for (int k = 1; k <= 4; ++k)
    if (layer == "layer" + std::to_string(k)) return k;
  FRACTURE_FAIL("Grad-CAM layer '", layer, "': expected one of layer1, layer2, layer3, layer4");
}
}  // namespace

torch::Tensor ResNet18Impl::forward_features_until(torch::Tensor x, const std::string& layer) {
  const int last = resnet_layer(layer);
  if (fast_stem) {
    x = fast_stem->forward(x);
  } else {
    x = conv1->forward(x);
    if (!bn_folded) x = bn1->forward(x);
    x = torch::relu_(x);  // (B, 64, H/2, W/2)
  }
  x = torch::max_pool2d(x, 3, 2, 1);  // (B, 64, H/4, W/4)
  Seq layers[] = {layer1, layer2, layer3, layer4};
  for (int k = 0; k < last; ++k) x = layers[k]->forward(x);  // layer4: (B, 512, H/32, W/32)
  return x;
}

torch::Tensor ResNet18Impl::forward_features_from(torch::Tensor a, const std::string& layer) {
  Seq layers[] = {layer1, layer2, layer3, layer4};
  for (int k = resnet_layer(layer); k < 4; ++k) a = layers[k]->forward(a);
  return a;
}

torch::Tensor ResNet18Impl::forward_head(torch::Tensor x) {
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);                     // (B, 512)
  if (dropout > 0) x = torch::dropout(x, dropout, is_training());
  return fc->forward(x);                                                    // (B, num_classes)
}

}  // namespace fracture::models
