#include "fracture/models/classifier.h"

#include "fracture/core/error.h"
#include "fracture/models/efficientnet.h"
#include "fracture/models/kernels/batch_split.h"
#include "fracture/models/mobilenet_v3.h"
#include "fracture/models/resnet.h"

namespace fracture::models {

namespace {
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Puts every BatchNorm outside the head into eval mode (running stats frozen).
void backbone_bn_eval(ClassifierImpl& net) {
  const std::string head = net.head_prefix();
  for (auto& item : net.named_modules("", /*include_self=*/false)) {
    if (starts_with(item.key() + ".", head)) continue;
    if (item.value()->as<torch::nn::BatchNorm2d>()) item.value()->eval();
  }
}
}  // namespace

torch::Tensor ClassifierImpl::forward(torch::Tensor x) {
  auto whole = [this](const torch::Tensor& s) { return forward_head(forward_features(s)); };
  if (batch_slice_ > 0 && x.device().is_cpu()) return forward_batch_slices(x, batch_slice_, whole);
  return whole(x);
}

void ClassifierImpl::train(bool on) {
  FRACTURE_CHECK(!(on && inference_only_), arch(),
                 ": cannot train a model after optimize_for_inference (BatchNorm is folded); build a new one");
  torch::nn::Module::train(on);
  if (frozen_) backbone_bn_eval(*this);
}

std::vector<std::string> ClassifierImpl::head_parameter_names() const {
  std::vector<std::string> names;
  for (auto& p : named_parameters()) {
    if (starts_with(p.key(), head_prefix())) names.push_back(p.key());
  }
  return names;
}

std::vector<torch::Tensor> ClassifierImpl::head_parameters() const {
  std::vector<torch::Tensor> out;
  for (auto& p : named_parameters()) {
    if (starts_with(p.key(), head_prefix())) out.push_back(p.value());
  }
  return out;
}

std::vector<torch::Tensor> ClassifierImpl::backbone_parameters() const {
  std::vector<torch::Tensor> out;
  for (auto& p : named_parameters()) {
    if (!starts_with(p.key(), head_prefix())) out.push_back(p.value());
  }
  return out;
}

std::vector<std::string> classifier_names() { return {"resnet18", "mobilenet_v3_small", "efficientnet_b0"}; }

Classifier make_classifier(const std::string& name, const ClassifierOptions& options) {
  if (name == "resnet18") return std::make_shared<ResNet18Impl>(options);
  if (name == "mobilenet_v3_small") return std::make_shared<MobileNetV3SmallImpl>(options);
  if (name == "efficientnet_b0") return std::make_shared<EfficientNetB0Impl>(options);
  FRACTURE_FAIL("unknown model '", name, "': expected resnet18, mobilenet_v3_small or efficientnet_b0");
}

void freeze_backbone(ClassifierImpl& net) {
  for (auto& p : net.backbone_parameters()) p.set_requires_grad(false);
  for (auto& p : net.head_parameters()) p.set_requires_grad(true);
  net.set_backbone_frozen(true);
  backbone_bn_eval(net);
}

void unfreeze(ClassifierImpl& net) {
  for (auto& p : net.parameters()) p.set_requires_grad(true);
  net.set_backbone_frozen(false);
  net.train(net.is_training());  // BatchNorm follows the module's mode again
}

torch::Tensor adapt_first_conv_weight(const torch::Tensor& weight, int64_t in_channels) {
  FRACTURE_CHECK(weight.dim() == 4, "first conv weight must be 4-D (out, in, kh, kw), got ", weight.dim(), "-D");
  if (weight.size(1) == in_channels) return weight;
  FRACTURE_CHECK(weight.size(1) == 3 && in_channels == 1, "cannot adapt a first conv with ", weight.size(1),
                 " input channels to ", in_channels, " (only 3 -> 1 is supported)");
  return weight.sum(1, /*keepdim=*/true);
}

int64_t parameter_count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace fracture::models
