// Squeeze-and-excitation (Hu et al. 2018; torchvision.ops.SqueezeExcitation) for inference in one
// call of plain loops: global average pool, fc1 + act, fc2 + scale_act, and the channel scaling,
// on fp32 channels-last (NHWC) tensors. Used by optimize_for_inference for MobileNetV3-Small and
// EfficientNet-B0 (9 and 16 SE blocks).
//
//   SqueezeExciteKernel se(fc1_w, fc1_b, fc2_w, fc2_b, Act::relu, Act::hardsigmoid);
//   torch::Tensor y = se.forward(x);   // x (B, C, H, W) fp32 channels-last -> x * gate, channels-last
//
// What it saves over torchvision's six ATen calls: the two 1x1 convolutions on (B, C, 1, 1) went
// through oneDNN with their weights reordered on every call (measured: 17-33 us for the SE of one
// MobileNetV3 block at batch 1 in isolation, 40-105 us inside a full forward, where those weights
// come from L3), and each op had its own dispatch and output allocation. Here the weights are laid
// out once ((C, S) and (S, C), so every inner loop is a contiguous multiply-add over channels that
// the compiler vectorises without reassociating), one output is allocated, and the work is split
// over ATen's threads: whole images when the batch has at least as many as there are threads, else
// each image's channels (pooling and scaling; the hidden layer once between them). Results equal
// the ATen path up to float summation order and do not depend on the thread count.
#pragma once
#include <torch/types.h>

#include <vector>

#include "fracture/models/layers.h"

namespace fracture::models {

class SqueezeExciteKernel {
 public:
  /// fc1_w (S, C, 1, 1), fc1_b (S,), fc2_w (C, S, 1, 1), fc2_b (C,): copied (as fp32) and
  /// transposed once. act: relu or silu; scale_act: hardsigmoid or sigmoid (others throw).
  SqueezeExciteKernel(const torch::Tensor& fc1_w, const torch::Tensor& fc1_b, const torch::Tensor& fc2_w,
                      const torch::Tensor& fc2_b, Act act, Act scale_act);
  /// True when forward() takes x: 4-D fp32 CPU, channels-last contiguous, C channels.
  bool accepts(const torch::Tensor& x) const;
  /// x * gate(x) as a new channels-last tensor; x must be accepted.
  torch::Tensor forward(const torch::Tensor& x) const;
  /// The gate alone, for one image: g (C floats) = scale_act(fc2(act(fc1(mean of x)))), the same
  /// values forward() multiplies by. x must be accepted and have batch 1. For a following 1x1
  /// convolution that takes the scaling into its weights (OnednnConv::forward_scaled).
  void gate(const torch::Tensor& x, float* g) const;
  int64_t channels() const { return c_; }

 private:
  // forward() when gate_out is null; else the gates of the batch into gate_out (N x C), no scaling.
  torch::Tensor run(const torch::Tensor& x, float* gate_out) const;
  int64_t c_, s_;
  std::vector<float> w1t_, b1_, w2t_, b2_;  // w1t (C, S): w1t[c * S + s] = fc1_w[s, c]; w2t (S, C)
  Act act_, scale_act_;
};

/// The number of threads an OpenMP region of the inference kernels (this one, winograd.h) gets
/// now: ATen's thread count (at::set_num_threads), or 1 in a build without OpenMP. For tests.
int kernel_team_size();

}  // namespace fracture::models
