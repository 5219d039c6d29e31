// Building blocks shared by the torchvision-compatible backbones (internal to models/).
//
//   auto stem = conv_bn_act(3, 16, 3, 2, 1, Act::hardswish, {1e-3, 0.01});   // keys 0.weight, 1.*
//   SqueezeExcitation se(96, 24, Act::relu, Act::hardsigmoid);                // keys fc1.*, fc2.*
#pragma once
#include <torch/torch.h>

#include "fracture/models/batchnorm.h"
#include "fracture/models/kernels/onednn_conv.h"

namespace fracture::models {

/// nn::Sequential with a plain forward(Tensor), so sequentials can nest (keys "0", "1", ...).
/// `skip[i]` true makes forward pass over child i (a BatchNorm folded into the conv before it by
/// optimize_for_inference, or an activation fused into it); empty (the default) runs every child.
class SeqImpl : public torch::nn::SequentialImpl {
 public:
  using torch::nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return forward_range(std::move(x), 0, size()); }
  /// Children [from, to) only (Grad-CAM at an inner layer), with skip and fast as forward. A
  /// squeeze-and-excitation child followed (within the range) by a fused 1x1 projection runs as
  /// fold_se() says.
  torch::Tensor forward_range(torch::Tensor x, size_t from, size_t to);
  /// forward(x) + residual. When the last child is a Seq that runs as one fused convolution with
  /// nothing after it (an inverted-residual block's projection: conv + folded BN, no activation),
  /// the add is that convolution's post-op instead of another pass over the output.
  torch::Tensor forward_plus(torch::Tensor x, const torch::Tensor& residual);
  /// When child i is a squeeze-and-excitation block with its kernel, x (its input) is one image
  /// needing no gradient, and child i + 1 is a Seq running as one fused fp32 1x1 convolution with
  /// more pixels than twice its output channels: that convolution, to be run as
  /// forward_scaled(x, gate) with the SE gate in `gate` (the gate goes into O x I weights instead
  /// of a pass over H x W x I pixels). Otherwise null.
  const OnednnConv* fold_se(size_t i, const torch::Tensor& x, std::vector<float>* gate);
  std::vector<bool> skip;
  /// fast[i]: child i (a conv) and the children it absorbed (marked in skip) as one fused oneDNN
  /// convolution (optimize_for_inference with InferenceOptions::onednn).
  std::vector<std::shared_ptr<OnednnConv>> fast;
};
TORCH_MODULE(Seq);

/// The child index a layer name means in a sequential named `prefix` ("features"): "features.N" is
/// child N, `prefix` alone the last. Throws fracture::Error listing the valid names otherwise.
size_t sequential_layer_index(const SeqImpl& seq, const std::string& prefix, const std::string& layer);
/// "prefix.0" .. "prefix.<n-2>", then `prefix` (the last child).
std::vector<std::string> sequential_layer_names(const SeqImpl& seq, const std::string& prefix);

enum class Act { none, relu, hardswish, silu, sigmoid, hardsigmoid };

/// True when a gradient will flow back through `x` (Grad-CAM differentiates the head of an
/// optimised network): the inference-only kernels, which record no autograd graph, step aside.
inline bool wants_grad(const torch::Tensor& x) { return torch::GradMode::is_enabled() && x.requires_grad(); }

/// Applies an activation by kind (none = identity).
torch::Tensor apply_act(const torch::Tensor& x, Act a);
/// In-place apply_act (torchvision's inplace=True): same values, no extra activation tensor.
torch::Tensor apply_act_(torch::Tensor& x, Act a);

/// An activation as a parameter-free module, so Sequential indices match torchvision. In place,
/// as torchvision's Conv2dNormActivation (its input is always a fresh conv/BN output).
class ActivationImpl : public torch::nn::Module {
 public:
  explicit ActivationImpl(Act a) : act(a) {}
  torch::Tensor forward(torch::Tensor x) { return apply_act_(x, act); }
  Act act;
};
TORCH_MODULE(Activation);

/// BatchNorm hyper-parameters: torchvision's eps and momentum per architecture.
struct BnParams {
  double eps = 1e-5;
  double momentum = 0.1;
};

/// torchvision's Conv2dNormActivation: Sequential(Conv2d(no bias), BatchNorm2d[, activation]).
/// Padding (k - 1) / 2, so the spatial size is ceil(H / stride).
Seq conv_bn_act(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups, Act act,
                                  BnParams bn);

/// Squeeze-and-excitation (Hu et al. 2018) as in torchvision.ops.SqueezeExcitation:
/// global average pool -> 1x1 conv `fc1` -> act -> 1x1 conv `fc2` -> scale act -> x * scale.
class SqueezeExciteKernel;

class SqueezeExcitationImpl : public torch::nn::Module {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t squeeze, Act act, Act scale_act);
  torch::Tensor forward(torch::Tensor x);  // (B, C, H, W) -> (B, C, H, W)
  torch::nn::Conv2d fc1{nullptr}, fc2{nullptr};
  Act act, scale_act;
  /// Set by optimize_for_inference (channels-last fp32 CPU models): the whole block in one call of
  /// plain loops (kernels/squeeze_excite.h) for the inputs it accepts, when no gradient is wanted.
  std::shared_ptr<SqueezeExciteKernel> fast;
};
TORCH_MODULE(SqueezeExcitation);

/// torchvision.ops.stochastic_depth in "row" mode (Huang et al. 2016): in training each sample's
/// residual branch is zeroed with probability p and the survivors scaled by 1 / (1 - p).
torch::Tensor stochastic_depth(const torch::Tensor& x, double p, bool training);

/// torchvision's _make_divisible: round to the nearest multiple of `divisor`, never below 90 %.
int64_t make_divisible(double v, int64_t divisor);

/// torchvision's init for MobileNetV3/EfficientNet convs and norms: conv kaiming_normal (fan_out),
/// bias 0; BatchNorm weight 1, bias 0.
void init_conv_bn(torch::nn::Module& m);

}  // namespace fracture::models
