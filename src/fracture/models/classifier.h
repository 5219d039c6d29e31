// Common interface of the classification backbones (resnet18, mobilenet_v3_small,
// efficientnet_b0): torchvision 0.14 structure and state-dict keys, one factory, fine-tuning helpers.
//
//   fracture::models::ClassifierOptions opt;
//   opt.num_classes = 1;                       // binary fracture: one logit
//   auto net = fracture::models::make_classifier("mobilenet_v3_small", opt);
//   torch::Tensor logits = net->forward(x);    // x (B, in_channels, H, W) -> (B, num_classes)
//   fracture::models::freeze_backbone(*net);   // train only the head ("classifier.*")
//   fracture::models::unfreeze(*net);
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace fracture::models {

/// Construction options shared by all backbones. Read at construction only.
struct ClassifierOptions {
  int64_t num_classes = 1000;          ///< output logits; 1 for the binary fracture task
  double dropout = -1.0;               ///< head dropout; < 0: the torchvision default (resnet18 0, others 0.2)
  int64_t in_channels = 3;             ///< 3 (RGB / replicated grey) or 1 (grey stem, see adapt_first_conv_weight)
  double stochastic_depth_prob = 0.2;  ///< efficientnet_b0 only: final block's drop probability (linear ramp)
};

/// Base of every classifier: forward to logits plus the naming facts that loading and freezing need.
class ClassifierImpl : public torch::nn::Module {
 public:
  /// x (B, in_channels, H, W) float, ImageNet-normalised -> logits (B, num_classes):
  /// forward_head(forward_features(x)); on the CPU in slices side by side after set_batch_slice.
  torch::Tensor forward(torch::Tensor x);
  /// The last feature map, before global average pooling: (B, C, H/32, W/32) (resnet18 layer4,
  /// C = 512; mobilenet_v3_small features, 576; efficientnet_b0 features, 1280). Grad-CAM's target.
  virtual torch::Tensor forward_features(torch::Tensor x) = 0;
  /// forward_features split at a named layer (Grad-CAM's target): `until` runs the input through
  /// that layer, `from` takes its output on to the last feature map. Names: resnet18 "layer1" ..
  /// "layer4"; mobilenet_v3_small and efficientnet_b0 "features.0" .. "features.<n-1>", and
  /// "features" for the last (as torchvision's module names). Throws fracture::Error for another name,
  /// listing the valid ones.
  virtual torch::Tensor forward_features_until(torch::Tensor x, const std::string& layer) = 0;
  virtual torch::Tensor forward_features_from(torch::Tensor a, const std::string& layer) = 0;
  /// The layer names forward_features_until accepts, in forward order (the last is the default).
  virtual std::vector<std::string> feature_layers() const = 0;
  /// Global average pooling, [dropout] and the head: (B, C, h, w) -> logits (B, num_classes).
  virtual torch::Tensor forward_head(torch::Tensor features) = 0;
  /// torchvision architecture name ("resnet18", ...).
  virtual std::string arch() const = 0;
  /// State-dict prefix of the head ("fc." or "classifier.").
  virtual std::string head_prefix() const = 0;
  /// State-dict key of the first convolution's weight ("conv1.weight" or "features.0.0.weight").
  virtual std::string first_conv_key() const = 0;
  /// Images per batch slice that optimize_for_inference uses when InferenceOptions::batch_slice is
  /// -1 (its default): 4, or what an architecture measured faster (efficientnet_b0: 1).
  virtual int64_t default_batch_slice() const { return 4; }

  /// Module::train, but keeps the backbone's BatchNorm layers in eval mode while frozen.
  void train(bool on = true) override;

  bool backbone_frozen() const { return frozen_; }
  /// True after optimize_for_inference (BatchNorm folded): train(true) then throws.
  bool inference_only() const { return inference_only_; }
  void set_inference_only() { inference_only_ = true; }
  /// images > 0: a CPU batch of at least (threads x images) runs as slices of about `images`
  /// images side by side, one thread each (kernels/batch_split.h); 0 (default): every layer over
  /// all threads. Set by optimize_for_inference (InferenceOptions::batch_slice); forward must then
  /// be safe on several threads at once, which an optimised model's is.
  void set_batch_slice(int64_t images) { batch_slice_ = images; }
  int64_t batch_slice() const { return batch_slice_; }
  void set_backbone_frozen(bool frozen) { frozen_ = frozen; }

  /// Parameter names under head_prefix(), in state-dict order.
  std::vector<std::string> head_parameter_names() const;
  /// Parameters of the head (to optimise when the backbone is frozen).
  std::vector<torch::Tensor> head_parameters() const;
  /// Parameters outside the head.
  std::vector<torch::Tensor> backbone_parameters() const;

 private:
  bool frozen_ = false;
  bool inference_only_ = false;
  int64_t batch_slice_ = 0;
};

using Classifier = std::shared_ptr<ClassifierImpl>;

/// Names accepted by make_classifier.
std::vector<std::string> classifier_names();

/// Builds "resnet18", "mobilenet_v3_small" or "efficientnet_b0" with torchvision's initialisation.
/// Throws fracture::Error for another name (listing the valid ones) or bad options.
Classifier make_classifier(const std::string& name, const ClassifierOptions& options = {});

/// Freezes the backbone: requires_grad false outside the head, backbone BatchNorm in eval mode
/// (running stats no longer updated) until unfreeze(). The head stays trainable.
void freeze_backbone(ClassifierImpl& net);
/// Undoes freeze_backbone: every parameter trainable, BatchNorm follows the module's mode again.
void unfreeze(ClassifierImpl& net);

/// Converts a pretrained 3-channel first-conv weight (out, 3, k, k) to a 1-channel one (out, 1, k, k)
/// by summing over the input-channel axis, so a grey image x gives the same response as the
/// replicated RGB image (x, x, x). Returns the weight unchanged when it already has `in_channels`.
torch::Tensor adapt_first_conv_weight(const torch::Tensor& weight, int64_t in_channels);

/// Number of elements over all parameters (not buffers).
int64_t parameter_count(const torch::nn::Module& m);

}  // namespace fracture::models
