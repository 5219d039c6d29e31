// MobileNetV3-Small (Howard et al. 2019) with torchvision 0.14's structure and state-dict keys:
// features.0 stem, features.1..11 inverted residual blocks (`features.N.block.K`), features.12
// last conv, classifier.{0: Linear 576->1024, 1: Hardswish, 2: Dropout, 3: Linear 1024->num_classes}.
//
//   fracture::models::ClassifierOptions opt;  opt.num_classes = 1;
//   fracture::models::MobileNetV3Small net(opt);
//   torch::Tensor logits = net->forward(x);   // (B, 3, H, W) -> (B, 1)
#pragma once
#include "fracture/models/classifier.h"
#include "fracture/models/layers.h"

namespace fracture::models {

/// One row of torchvision's MobileNetV3 block table.
struct MobileNetV3BlockConf {
  int64_t in, kernel, expanded, out;
  bool use_se;
  Act act;  ///< relu ("RE") or hardswish ("HS")
  int64_t stride;
};

/// Inverted residual: [1x1 expand-BN-act] -> kxk depthwise-BN-act -> [SE] -> 1x1 project-BN,
/// + input when stride 1 and in == out. SE width make_divisible(expanded / 4, 8), Hardsigmoid scale.
class MobileNetV3BlockImpl : public torch::nn::Module {
 public:
  MobileNetV3BlockImpl(const MobileNetV3BlockConf& c, BnParams bn);
  torch::Tensor forward(torch::Tensor x);
  Seq block{nullptr};
  bool use_res_connect = false;
};
TORCH_MODULE(MobileNetV3Block);

/// mobilenet_v3_small: 2,542,856 parameters with 1000 classes. BatchNorm eps 1e-3, momentum 0.01.
class MobileNetV3SmallImpl : public ClassifierImpl {
 public:
  explicit MobileNetV3SmallImpl(const ClassifierOptions& options = {});
  torch::Tensor forward_features(torch::Tensor x) override;
  torch::Tensor forward_features_until(torch::Tensor x, const std::string& layer) override;
  torch::Tensor forward_features_from(torch::Tensor a, const std::string& layer) override;
  std::vector<std::string> feature_layers() const override;
  torch::Tensor forward_head(torch::Tensor features) override;
  std::string arch() const override { return "mobilenet_v3_small"; }
  std::string head_prefix() const override { return "classifier."; }
  std::string first_conv_key() const override { return "features.0.0.weight"; }

  Seq features{nullptr}, classifier{nullptr};
  /// Set by optimize_for_inference on the fused oneDNN path: classifier.0 + Hardswish and
  /// classifier.3 as 1x1 convolutions on the pooled (B, 576, 1, 1) features (weights packed once,
  /// the activation a post-op), instead of ATen's linear, which at batch 1 is OpenBLAS's sgemv on
  /// its own threads. Not used when a gradient is wanted (Grad-CAM differentiates the head).
  std::shared_ptr<OnednnConv> fast_fc1, fast_fc2;
};
TORCH_MODULE(MobileNetV3Small);

}  // namespace fracture::models
