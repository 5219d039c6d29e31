#include "fracture/models/kernels/squeeze_excite.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "fracture/core/error.h"
#include "fracture/models/kernels/cpu_isa.h"

namespace fracture::models {
namespace {

#define FRACTURE_INLINE inline __attribute__((always_inline))

// out (n) += v (m) x wt (m, n), row by row: every inner loop a contiguous multiply-add over out.
FRACTURE_INLINE void add_vec_mat(const float* v, const float* wt, int64_t m, int64_t n, float* out) {
  for (int64_t k = 0; k < m; ++k) {
    const float a = v[k];
    const float* w = wt + k * n;
    for (int64_t j = 0; j < n; ++j) out[j] += w[j] * a;
  }
}

// One image, NHWC: x (hw, c) -> y (hw, c) = x * gate. scratch holds c + s + c floats.
FRACTURE_INLINE void se_image_body(const float* x, float* y, int64_t hw, int64_t c, int64_t s, const float* w1t,
                                   const float* b1, const float* w2t, const float* b2, Act act, Act scale_act,
                                   float* scratch) {
  float* mean = scratch;
  float* h = scratch + c;
  float* g = h + s;
  std::fill(mean, mean + c, 0.0f);
  for (int64_t p = 0; p < hw; ++p) {
    const float* xp = x + p * c;
    for (int64_t k = 0; k < c; ++k) mean[k] += xp[k];
  }
  const float inv = 1.0f / static_cast<float>(hw);
  for (int64_t k = 0; k < c; ++k) mean[k] *= inv;
  std::copy(b1, b1 + s, h);
  add_vec_mat(mean, w1t, c, s, h);
  for (int64_t j = 0; j < s; ++j) {
    const float v = h[j];
    h[j] = act == Act::relu ? std::max(v, 0.0f) : v / (1.0f + std::exp(-v));  // relu or silu
  }
  std::copy(b2, b2 + c, g);
  add_vec_mat(h, w2t, s, c, g);
  for (int64_t k = 0; k < c; ++k) {
    const float v = g[k];
    // hardsigmoid as PyTorch: relu6(v + 3) / 6; or the logistic sigmoid
    g[k] = scale_act == Act::hardsigmoid ? std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f : 1.0f / (1.0f + std::exp(-v));
  }
  for (int64_t p = 0; p < hw; ++p) {
    const float* xp = x + p * c;
    float* yp = y + p * c;
    for (int64_t k = 0; k < c; ++k) yp[k] = xp[k] * g[k];
  }
}

using SeImage = void (*)(const float*, float*, int64_t, int64_t, int64_t, const float*, const float*, const float*,
                         const float*, Act, Act, float*);

// One copy per vector width, chosen by cpu_isa().simd (which honours ONEDNN_MAX_CPU_ISA), as the
// Winograd transforms (winograd.cpp).
#define FRACTURE_SE_COPY(suffix, target)                                                                             \
  target void se_image_##suffix(const float* x, float* y, int64_t hw, int64_t c, int64_t s, const float* w1t,       \
                                const float* b1, const float* w2t, const float* b2, Act act, Act scale_act,          \
                                float* scratch) {                                                                    \
    se_image_body(x, y, hw, c, s, w1t, b1, w2t, b2, act, scale_act, scratch);                                        \
  }
FRACTURE_SE_COPY(avx512, __attribute__((target("avx512f"))))
FRACTURE_SE_COPY(avx2, __attribute__((target("avx2,fma"))))
FRACTURE_SE_COPY(baseline, )
#undef FRACTURE_SE_COPY

SeImage se_image(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512: return se_image_avx512;
    case SimdLevel::avx2: return se_image_avx2;
    case SimdLevel::baseline: break;
  }
  return se_image_baseline;
}

std::vector<float> transposed(const torch::Tensor& w) {  // (R, K, 1, 1) -> (K, R) row-major
  auto t = w.detach().to(torch::kCPU, torch::kFloat32).reshape({w.size(0), w.size(1)}).t().contiguous();
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

std::vector<float> values(const torch::Tensor& b) {
  auto t = b.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

}  // namespace

SqueezeExciteKernel::SqueezeExciteKernel(const torch::Tensor& fc1_w, const torch::Tensor& fc1_b,
                                         const torch::Tensor& fc2_w, const torch::Tensor& fc2_b, Act act,
                                         Act scale_act)
    : c_(fc1_w.size(1)), s_(fc1_w.size(0)), act_(act), scale_act_(scale_act) {
  FRACTURE_CHECK(fc1_w.dim() == 4 && fc1_w.size(2) == 1 && fc1_w.size(3) == 1 && fc2_w.dim() == 4 &&
                     fc2_w.size(0) == c_ && fc2_w.size(1) == s_ && fc2_w.size(2) == 1 && fc2_w.size(3) == 1 &&
                     fc1_b.defined() && fc1_b.numel() == s_ && fc2_b.defined() && fc2_b.numel() == c_,
                 "squeeze-excitation kernel: expected fc1 (S, C, 1, 1) + bias (S), fc2 (C, S, 1, 1) + bias (C); got ",
                 fc1_w.sizes(), " and ", fc2_w.sizes());
  FRACTURE_CHECK(act == Act::relu || act == Act::silu, "squeeze-excitation kernel: act must be relu or silu");
  FRACTURE_CHECK(scale_act == Act::hardsigmoid || scale_act == Act::sigmoid,
                 "squeeze-excitation kernel: scale_act must be hardsigmoid or sigmoid");
  w1t_ = transposed(fc1_w);
  w2t_ = transposed(fc2_w);
  b1_ = values(fc1_b);
  b2_ = values(fc2_b);
}

bool SqueezeExciteKernel::accepts(const torch::Tensor& x) const {
  return x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.size(1) == c_ &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

torch::Tensor SqueezeExciteKernel::forward(const torch::Tensor& x) const {
  FRACTURE_CHECK(accepts(x), "squeeze-excitation kernel: expected a channels-last fp32 CPU tensor with ", c_,
                 " channels, got ", x.sizes());
  auto y = torch::empty_like(x, torch::MemoryFormat::ChannelsLast);
  const int64_t n = x.size(0), hw = x.size(2) * x.size(3);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const SeImage run = se_image(cpu_isa().simd);
  at::parallel_for(0, n, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> scratch(static_cast<size_t>(2 * c_ + s_));
    for (int64_t b = b0; b < b1; ++b)
      run(xp + b * hw * c_, yp + b * hw * c_, hw, c_, s_, w1t_.data(), b1_.data(), w2t_.data(), b2_.data(), act_,
          scale_act_, scratch.data());
  });
  return y;
}

}  // namespace fracture::models
