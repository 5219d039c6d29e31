// SiLU (x * sigmoid(x)) in place over a float buffer, on ATen's threads, vectorised at the width
// cpu_isa().simd allows. OnednnConv runs it after a convolution primitive without oneDNN's swish
// post-op: oneDNN 2.6's swish took 0.4-0.5 ns per value on the AVX-512 Xeon, this pass 5-20 % less
// than it for whole convolutions (docs/performance.md), the extra pass over the output included.
//
//   fracture::models::silu_inplace(y.data_ptr<float>(), y.numel());   // y = y * sigmoid(y)
//
// e^-x as winograd.cpp's Cephes-style exp_approx (degree-6 polynomial, |x| clamped to 87/88):
// within float rounding of torch::silu (tested in models_test).
#pragma once
#include <cstdint>

namespace fracture::models {

/// x[i] = x[i] / (1 + e^-x[i]) for i < n; one thread inside another parallel region.
void silu_inplace(float* x, int64_t n);

}  // namespace fracture::models
