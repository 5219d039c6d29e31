// EfficientNet-B0 (Tan & Le 2019) with torchvision 0.14's structure and state-dict keys:
// features.0 stem, features.1..7 stages of MBConv blocks (`features.S.B.block.K`), features.8 last
// conv 320->1280, classifier.{0: Dropout, 1: Linear 1280->num_classes}.
//
//   fracture::models::ClassifierOptions opt;  opt.num_classes = 1;
//   fracture::models::EfficientNetB0 net(opt);
//   torch::Tensor logits = net->forward(x);   // (B, 3, H, W) -> (B, 1)
#pragma once
#include "fracture/models/classifier.h"
#include "fracture/models/layers.h"

namespace fracture::models {

/// MBConv: [1x1 expand-BN-SiLU] -> kxk depthwise-BN-SiLU -> SE (width max(1, in / 4), sigmoid)
/// -> 1x1 project-BN; when stride 1 and in == out: stochastic_depth(branch, p) + input.
class MBConvImpl : public torch::nn::Module {
 public:
  MBConvImpl(int64_t expand_ratio, int64_t kernel, int64_t stride, int64_t in, int64_t out, double sd_prob);
  torch::Tensor forward(torch::Tensor x);
  Seq block{nullptr};
  bool use_res_connect = false;
  double sd_prob = 0.0;  ///< this block's drop probability
};
TORCH_MODULE(MBConv);

/// efficientnet_b0: 5,288,548 parameters with 1000 classes. BatchNorm eps 1e-5, momentum 0.1.
/// Stochastic depth: block i of 16 gets p = stochastic_depth_prob * i / 16 (residual blocks only).
class EfficientNetB0Impl : public ClassifierImpl {
 public:
  explicit EfficientNetB0Impl(const ClassifierOptions& options = {});
  torch::Tensor forward_features(torch::Tensor x) override;
  torch::Tensor forward_features_until(torch::Tensor x, const std::string& layer) override;
  torch::Tensor forward_features_from(torch::Tensor a, const std::string& layer) override;
  std::vector<std::string> feature_layers() const override;
  torch::Tensor forward_head(torch::Tensor features) override;
  std::string arch() const override { return "efficientnet_b0"; }
  std::string head_prefix() const override { return "classifier."; }
  std::string first_conv_key() const override { return "features.0.0.weight"; }
  /// One image per slice: its activations, not its weights, dominate the memory traffic (the first
  /// expansion alone is 112x112x96 floats, 4.8 MB, more than a core's L2), so a bigger slice only
  /// streams more of them. Batch 16 on 2 threads, interleaved in one process (docs/performance.md):
  /// slices of 1, 2, 4 images 181 / 170 / 161 img/s; ResNet18 79 / 87 / 97, MobileNetV3-Small
  /// 1,057 / 1,143 / 1,158 (they keep 4).
  int64_t default_batch_slice() const override { return 1; }

  Seq features{nullptr}, classifier{nullptr};
};
TORCH_MODULE(EfficientNetB0);

}  // namespace fracture::models
