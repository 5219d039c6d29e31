// Winograd F(4x4, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016) for fp32 CPU inference on channels-last tensors: 3x3, stride 1, dilation 1,
// groups 1 convolutions with a bias, an activation and an optional residual add, computed as
//   1. input transform  V = B^T d B  for every 6x6 input tile d (stride 4) and channel: (36, T, I)
//   2. 36 matrix products M[k] = V[k] @ U[k]  with U = G g G^T  (I, O) precomputed: (36, T, O)
//   3. output transform Y = A^T m A  -> the 4x4 output tile, + bias (+ skip), activation (+ skip)
// Step 2 needs 36 / (16 * 9) = 1/4 of the direct convolution's multiplies per output. Used by
// OnednnConv (OnednnConvSpec::winograd) for the shapes where it is faster here (pays()). The
// results differ from a direct convolution by float rounding amplified by the transforms'
// constants (up to 8 and 1/24): measured up to 1.9e-5 of the largest output (576 channels),
// bounded in models_test at 3e-5.
//
//   WinogradConv conv(weight, bias, /*padding=*/1, OnednnAct::silu, /*add_after_act=*/true);
//   torch::Tensor y = conv.forward(x);            // x (B, I, H, W) fp32 -> (B, O, H+2p-2, W+2p-2)
//   torch::Tensor z = conv.forward(x, &skip);     // act(conv + b) + skip
#pragma once
#include <torch/types.h>

#include "fracture/models/kernels/onednn_conv.h"

namespace fracture::models {

class WinogradConv {
 public:
  /// True for a (O, I, 3, 3) weight with stride 1, dilation 1 and groups 1.
  static bool supports(const torch::Tensor& weight, int64_t stride, int64_t dilation, int64_t groups);
  /// True where this machine's measurements (README, "Winograd convolutions") say Winograd beats
  /// oneDNN's direct convolution: at least 48 channels in and out (below, the transforms cost more
  /// than the multiplies saved), an output of at least 8x8 (smaller maps waste most of each 4x4
  /// tile) and enough work (tiles x I x O >= 131,072; 64 channels on 20x20 measured 1.1x slower)
  /// to amortise the per-call overhead.
  static bool pays(int64_t in_ch, int64_t out_ch, int64_t batch, int64_t out_h, int64_t out_w);

  /// weight (O, I, 3, 3), bias (O,) or undefined; both copied to fp32 CPU and transformed once.
  WinogradConv(const torch::Tensor& weight, const torch::Tensor& bias, int64_t padding, OnednnAct act,
               bool add_after_act);
  /// x (B, I, H, W) fp32 CPU, any layout (made channels-last contiguous if it is not); skip, when
  /// given, has the output's shape. Returns a new channels-last contiguous (B, O, H', W') tensor.
  /// Thread-safe (no state changes).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor* skip = nullptr) const;

  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }

 private:
  torch::Tensor u_;     // (36, I, O) fp32: the transformed weights G g G^T, position-major
  torch::Tensor bias_;  // (O,) fp32
  int64_t in_ = 0, out_ = 0, padding_ = 0;
  OnednnAct act_ = OnednnAct::none;
  bool add_after_act_ = true;
};

}  // namespace fracture::models
