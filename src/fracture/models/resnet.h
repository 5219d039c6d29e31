// ResNet-18 (He et al. 2016) with torchvision 0.14's structure and state-dict keys
// (conv1, bn1, layer{1..4}.{0,1}.{conv1,bn1,conv2,bn2}, layer{2,3,4}.0.downsample.{0,1}, fc).
//
//   fracture::models::ClassifierOptions opt;  opt.num_classes = 1;
//   fracture::models::ResNet18 net(opt);
//   torch::Tensor logits = net->forward(x);   // (B, 3, H, W) -> (B, 1)
#pragma once
#include "fracture/models/classifier.h"
#include "fracture/models/layers.h"

namespace fracture::models {

/// torchvision BasicBlock: 3x3 conv-BN-ReLU, 3x3 conv-BN, + identity (or 1x1 conv-BN `downsample`), ReLU.
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  SyncBatchNorm2d bn1{nullptr}, bn2{nullptr};
  Seq downsample{nullptr};  // null when shapes already match
  bool bn_folded = false;   // bn1/bn2 folded into conv1/conv2 (optimize_for_inference): skipped
  /// Fused oneDNN forms (InferenceOptions::onednn): relu(conv1) and relu(conv2 + identity).
  std::shared_ptr<OnednnConv> fast1, fast2;
};
TORCH_MODULE(BasicBlock);

/// resnet18: 11,689,512 parameters with 1000 classes. BatchNorm eps 1e-5, momentum 0.1.
/// Dropout (options.dropout > 0) is applied before `fc`; torchvision has none (default 0).
class ResNet18Impl : public ClassifierImpl {
 public:
  explicit ResNet18Impl(const ClassifierOptions& options = {});
  torch::Tensor forward_features(torch::Tensor x) override;
  torch::Tensor forward_features_until(torch::Tensor x, const std::string& layer) override;
  torch::Tensor forward_features_from(torch::Tensor a, const std::string& layer) override;
  std::vector<std::string> feature_layers() const override { return {"layer1", "layer2", "layer3", "layer4"}; }
  torch::Tensor forward_head(torch::Tensor features) override;
  std::string arch() const override { return "resnet18"; }
  std::string head_prefix() const override { return "fc."; }
  std::string first_conv_key() const override { return "conv1.weight"; }

  torch::nn::Conv2d conv1{nullptr};
  SyncBatchNorm2d bn1{nullptr};
  Seq layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
  double dropout = 0.0;
  bool bn_folded = false;  // bn1 folded into conv1 (optimize_for_inference): skipped
  std::shared_ptr<OnednnConv> fast_stem;  // relu(conv1) fused (InferenceOptions::onednn)
};
TORCH_MODULE(ResNet18);

}  // namespace fracture::models
