// One convolution + bias + activation (+ a residual add) as a single oneDNN primitive, for CPU
// inference on fp32 channels-last (NHWC) tensors. Used by optimize_for_inference when the build has
// oneDNN (FRACTURE_WITH_ONEDNN) and InferenceOptions::onednn is on.
//
//   OnednnConvSpec s;  s.stride = 2;  s.padding = 1;  s.act = OnednnAct::silu;
//   OnednnConv conv(weight, bias, s);            // weight (O, I/groups, kh, kw), bias (O,) or undefined
//   torch::Tensor y = conv.forward(x);           // x (B, I, H, W) -> (B, O, H', W'), both channels-last
//   torch::Tensor z = conv.forward(x, &skip);    // act(conv(x) + b) + skip (or act(conv + b + skip))
//
// What it saves over ATen's convolution followed by separate ops (PyTorch 1.13): the activation and
// the residual add are oneDNN post-ops, applied while the output tile is still in cache, instead of
// two more passes over the output (except SiLU without a residual: oneDNN 2.6's swish post-op cost
// more than the primitive without it plus one vectorised pass, kernels/activation.h); the weights
// are reordered into oneDNN's blocked layout once per input shape instead of on every call; every
// shape goes to oneDNN (ATen sends small batch-1 1x1
// convolutions to an im2col + OpenBLAS GEMM whose spinning threads compete with OpenMP's).
// Results equal ATen's to float rounding (tested in models_test against the unfused models).
//
// Right on every CPU: which oneDNN implementation runs depends on the CPU (and ONEDNN_MAX_CPU_ISA),
// the shape and the post-ops. A residual that an implementation would add wrongly (oneDNN 2.6's
// gemm convolution, chosen for grouped convolutions without AVX-512) goes through its sum post-op
// instead; where oneDNN offers only its slow reference kernel, or nothing, the call runs ATen's
// convolution and activation (implementation() "aten"), noted once at debug level in spec.log.
#pragma once
#include <torch/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace spdlog {
class logger;
}

namespace fracture::models {

enum class OnednnAct { none, relu, silu, hardswish, sigmoid };

struct OnednnConvSpec {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
  OnednnAct act = OnednnAct::none;
  /// With a residual given to forward(): true = act(conv + b) + skip (YOLOv8 Bottleneck),
  /// false = act(conv + b + skip) (ResNet BasicBlock).
  bool add_after_act = true;
  /// bf16 source, weights and destination (bias and accumulation fp32; an fp32 input is converted
  /// first): oneDNN's bf16 kernels, about twice the fp32 multiply rate where the CPU has AVX512_BF16
  /// (measured here: 3x3 convolutions 296-433 vs 172-227 GFLOP/s). Results differ from fp32 by bf16
  /// rounding (8-bit mantissa), not float rounding.
  bool bf16 = false;
  /// With bf16: write an fp32 destination (for the last convolution before fp32 code).
  bool fp32_out = false;
  /// fp32 3x3 stride-1 convolutions (groups 1) run as Winograd F(4x4, 3x3) (winograd.h) for the
  /// input shapes where WinogradConv::pays(): a quarter of the multiplies, outputs within float
  /// rounding amplified by the transforms (up to 1.9e-5 of max |y| measured; winograd.h).
  bool winograd = false;
  /// With winograd: at the first call for each input shape (and residual or not) where
  /// WinogradConv::pays(), time Winograd against oneDNN's direct convolution (best of 3 alternated
  /// calls each) and keep the faster for that shape, for CPUs where the fixed rule is wrong (an
  /// apparent 1.6x loss at 64 channels on one AVX-512 Xeon turned out to be our SiLU epilogue
  /// running scalar; fixed, Winograd won there too: docs/performance.md). Timing makes the choice
  /// differ between processes where the two are close, so it is opt-in; false (default):
  /// Winograd wherever pays(), the same choice on every run.
  bool winograd_tune = false;
  /// Where the debug notes go (ATen fallbacks, the sum-post-op route), each once per process; none
  /// when null. Not owned: it must outlive this convolution.
  spdlog::logger* log = nullptr;
};

class WinogradConv;

class OnednnConv {
 public:
  /// True when this build links oneDNN (FRACTURE_WITH_ONEDNN).
  static bool available();
  /// Copies weight (and bias) to fp32 CPU; throws fracture::Error when oneDNN is not built in.
  OnednnConv(const torch::Tensor& weight, const torch::Tensor& bias, const OnednnConvSpec& spec);
  ~OnednnConv();
  /// x: (B, I, H, W) fp32 CPU, any layout (made channels-last contiguous if it is not). `skip`, when
  /// given, has the output's shape. Returns a new channels-last contiguous tensor. Thread-safe.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor* skip = nullptr) const;
  /// conv(x * scale) for one image, scale (I floats) per input channel: a squeeze-and-excitation
  /// gate taken into the weights (O x I multiplies) instead of a pass over x (H x W x I). Only
  /// where folds_input_scale(); x must have batch 1. Thread-safe.
  torch::Tensor forward_scaled(const torch::Tensor& x, const float* scale, const torch::Tensor* skip = nullptr) const;
  /// True for an fp32 1x1 convolution with groups 1 on a oneDNN build (forward_scaled's domain).
  bool folds_input_scale() const;
  int64_t out_channels() const;

  /// The implementation of the last call: oneDNN's name (e.g. "brgconv:avx512_core", "jit:avx2"),
  /// "winograd_f4x3:" + the transforms' vector width ("avx512", "avx2", "baseline"), or "aten" (the
  /// fallback), for tests and logs; "" before the first call.
  std::string implementation() const;

 private:
  // oneDNN's direct convolution (or the ATen fallback) of forward().
  // in_scale (forward_scaled): per input channel, into the weights of this call.
  torch::Tensor direct(const torch::Tensor& x, const torch::Tensor* skip, const float* in_scale = nullptr) const;
  // spec.winograd_tune's timing for x's shape, once per shape.
  bool winograd_wins(const WinogradConv& w, const torch::Tensor& x, const torch::Tensor* skip) const;

  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool winograd_ok_ = false;                        // spec.winograd and the weight suits it
  mutable std::shared_ptr<WinogradConv> winograd_;  // built at the first input shape where it may pay
  mutable std::mutex tune_mu_;
  mutable std::map<std::pair<std::vector<int64_t>, bool>, bool> winograd_wins_;  // (input dims, skip) -> Winograd
};

}  // namespace fracture::models
