// Inference-only speed-ups for the classifiers: BatchNorm folded into the preceding convolution,
// optionally channels-last (NHWC) weights. Logits equal the unfolded model's up to float rounding
// (tested to 1e-4 relative in models_test).
//
//   auto net = fracture::models::make_classifier("efficientnet_b0", opt);
//   fracture::models::load_classifier_weights(...);               // anything that changes weights first
//   fracture::models::InferenceOptions io;  io.channels_last = true;
//   fracture::models::optimize_for_inference(*net, io);           // eval mode, BN folded, no going back
//   torch::InferenceMode guard;
//   auto logits = net->forward(fracture::models::inference_input(x, io));   // (B, 3, H, W) -> (B, nc)
#pragma once
#include <torch/types.h>

#include "fracture/models/classifier.h"
#include "fracture/models/kernels/onednn_conv.h"

namespace fracture::models {

/// What optimize_for_inference does. Read once, when it runs.
struct InferenceOptions {
  bool fold_bn = true;         ///< fold each eval BatchNorm into the conv before it (adds a conv bias)
  /// Store 4-D weights NHWC; feed inputs through inference_input(). For an fp32 CPU model this
  /// also runs each squeeze-and-excitation block as one kernel (kernels/squeeze_excite.h).
  bool channels_last = false;
  /// With channels_last and fold_bn, in a build with oneDNN (OnednnConv::available()): each
  /// convolution with its activation (and ResNet's/YOLOv8's residual add) runs as one fused oneDNN
  /// primitive with weights reordered once (onednn_conv.h). Ignored otherwise.
  bool onednn = true;
  /// YOLOv8 only, with onednn in effect: bf16 convolutions (OnednnConvSpec::bf16), activations in
  /// bf16 between them, the Detect head's last convolutions writing fp32 (so decoding, DFL and NMS
  /// stay fp32). Outputs differ from fp32 by bf16 rounding; an opt-in speed/precision trade. Where
  /// !bf16_supported(), the model runs fp32 with one warning to `log`.
  bool bf16 = false;
  /// With onednn in effect and fp32: 3x3 stride-1 convolutions as Winograd F(4x4, 3x3) where it
  /// pays (winograd.h): a quarter of their multiplies; outputs differ from the direct convolution
  /// by float rounding amplified by the transforms (about 1e-5 of a layer's largest output).
  bool winograd = true;
  /// With winograd: time Winograd against oneDNN's direct convolution at each convolution's first
  /// call for an input shape and keep the faster (OnednnConvSpec::winograd_tune). Off by default:
  /// the choice can differ between processes where the two are close (outputs then differ by float
  /// rounding), which would break byte-identical resumed and sharded runs; default: Winograd
  /// wherever WinogradConv::pays(), the same on every run.
  bool winograd_tune = false;
  /// With bf16: also run it where oneDNN only emulates bf16 (AVX-512 without bf16 instructions,
  /// e.g. under ONEDNN_MAX_CPU_ISA=AVX512_CORE). Off by default: measured slower than fp32 there
  /// (docs/performance.md); for benchmarks.
  bool bf16_emulation = false;
  /// Classifiers on the CPU: a batch of at least (ATen threads x batch_slice) images runs as
  /// slices of about batch_slice images side by side, one thread each (kernels/batch_split.h),
  /// instead of every layer over all threads; 0: off. Logits equal the whole batch's up to float
  /// rounding (oneDNN may pick another kernel for the slice's shape). -1 (default): the
  /// architecture's ClassifierImpl::default_batch_slice() (efficientnet_b0 1, the others 4).
  int64_t batch_slice = -1;
  /// Debug notes of the fused path (where a convolution falls back to ATen, and why) and the
  /// warning when bf16 was asked for on a CPU that cannot run it; none when null. Not owned: it must
  /// outlive the model.
  spdlog::logger* log = nullptr;
};

/// Whether bf16 convolutions run on this CPU under the current ONEDNN_MAX_CPU_ISA (cpu_isa()):
/// true where it has native bf16 instructions (AVX512_BF16 / AMX). False on AVX2 and older
/// (oneDNN 2.6 has no bf16 convolution there) and on AVX-512 without bf16, where oneDNN emulates it
/// (measured slower than fp32 there: docs/performance.md); `why` then says which.
/// With allow_emulation, also true where oneDNN emulates bf16 on AVX-512 without bf16 instructions.
bool bf16_supported(std::string* why = nullptr, bool allow_emulation = false);

/// True when `options` make optimize_for_inference use fused oneDNN convolutions in this build
/// (for a model whose parameters are fp32 on the CPU; others keep ATen's convolutions).
bool uses_onednn(const InferenceOptions& options);
/// uses_onednn(options) and every parameter of `net` is an fp32 CPU tensor.
bool uses_onednn(const InferenceOptions& options, torch::nn::Module& net);

/// Puts `net` in eval mode and applies `options`. Folding uses the BatchNorm running statistics:
/// w' = w * gamma / sqrt(var + eps), b' = beta + (b - mean) * gamma / sqrt(var + eps) (computed in
/// float64, stored in the weight dtype); the BatchNorm is then skipped. Afterwards the model is for
/// inference only: net.train(true) throws; do not save it as weights (conv weights are folded, and
/// the new conv biases are plain members outside the state dict). Move the model to its device
/// before calling this. Calling it twice is an error.
void optimize_for_inference(ClassifierImpl& net, const InferenceOptions& options = {});

/// x in the memory format the optimised model expects (channels-last when options.channels_last).
torch::Tensor inference_input(const torch::Tensor& x, const InferenceOptions& options);

/// Stores every 4-D parameter of `net` in channels-last (NHWC) memory format, in place.
void weights_to_channels_last(torch::nn::Module& net);

/// True when every 4-D parameter of `net` is stored channels-last (what weights_to_channels_last
/// leaves; copy_ and the optimisers' in-place updates keep it).
bool weights_are_channels_last(const torch::nn::Module& net);

/// Folds BatchNorm `bn` (eval statistics) into `conv` in place, giving conv a bias.
void fold_conv_bn(torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn);

/// A fused oneDNN convolution with `conv`'s current weight, bias, stride, padding, dilation and
/// groups (call after folding); activation, residual order, bf16 and Winograd from `spec`, whose
/// geometry fields (stride, padding, dilation, groups) are taken from `conv` instead.
std::shared_ptr<OnednnConv> make_onednn_conv(const torch::nn::Conv2dImpl& conv, OnednnConvSpec spec);

}  // namespace fracture::models
