#include "fracture/models/kernels/squeeze_excite.h"

#include <ATen/Parallel.h>


#include <algorithm>
#include <cmath>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "fracture/core/error.h"
#include "fracture/models/kernels/cpu_isa.h"

namespace fracture::models {
namespace {

#define FRACTURE_INLINE inline __attribute__((always_inline))

#if defined(_OPENMP)
int in_parallel() { return omp_in_parallel(); }
int thread_num() { return omp_get_thread_num(); }
int team_size() { return omp_get_num_threads(); }
#else
int in_parallel() { return 0; }
int thread_num() { return 0; }
int team_size() { return 1; }
#endif

// The three steps of one image, NHWC x (hw, c), each over channels [k0, k1) where it can be, so a
// batch-1 call splits an image's channels over threads and every value is still summed in the
// same order as on one thread (results do not depend on the thread count).

// mean[k] = average of x[., k] over the hw pixels, k in [k0, k1).
FRACTURE_INLINE void pool_body(const float* x, int64_t hw, int64_t c, int64_t k0, int64_t k1, float* mean) {
  std::fill(mean + k0, mean + k1, 0.0f);
  for (int64_t p = 0; p < hw; ++p) {
    const float* xp = x + p * c;
    for (int64_t k = k0; k < k1; ++k) mean[k] += xp[k];
  }
  const float inv = 1.0f / static_cast<float>(hw);
  for (int64_t k = k0; k < k1; ++k) mean[k] *= inv;
}

// h (s) = act(b1 + mean (c) x w1t (c, s)): every inner loop a contiguous multiply-add over h.
FRACTURE_INLINE void hidden_body(const float* mean, int64_t c, int64_t s, const float* w1t, const float* b1, Act act,
                                 float* h) {
  std::copy(b1, b1 + s, h);
  for (int64_t k = 0; k < c; ++k) {
    const float a = mean[k];
    const float* w = w1t + k * s;
    for (int64_t j = 0; j < s; ++j) h[j] += w[j] * a;
  }
  for (int64_t j = 0; j < s; ++j) {
    const float v = h[j];
    h[j] = act == Act::relu ? std::max(v, 0.0f) : v / (1.0f + std::exp(-v));  // relu or silu
  }
}

// g[k] = scale_act(b2 + h (s) x w2t (s, c))[k] and y[., k] = x[., k] * g[k], k in [k0, k1).
FRACTURE_INLINE void gate_scale_body(const float* x, float* y, int64_t hw, int64_t c, int64_t s, int64_t k0,
                                     int64_t k1, const float* h, const float* w2t, const float* b2, Act scale_act,
                                     float* g) {
  std::copy(b2 + k0, b2 + k1, g + k0);
  for (int64_t j = 0; j < s; ++j) {
    const float a = h[j];
    const float* w = w2t + j * c;
    for (int64_t k = k0; k < k1; ++k) g[k] += w[k] * a;
  }
  for (int64_t k = k0; k < k1; ++k) {
    const float v = g[k];
    // hardsigmoid as PyTorch: relu6(v + 3) / 6; or the logistic sigmoid
    g[k] = scale_act == Act::hardsigmoid ? std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f : 1.0f / (1.0f + std::exp(-v));
  }
  for (int64_t p = 0; p < hw; ++p) {
    const float* xp = x + p * c;
    float* yp = y + p * c;
    for (int64_t k = k0; k < k1; ++k) yp[k] = xp[k] * g[k];
  }
}

struct SeSteps {
  void (*pool)(const float*, int64_t, int64_t, int64_t, int64_t, float*);
  void (*hidden)(const float*, int64_t, int64_t, const float*, const float*, Act, float*);
  void (*gate_scale)(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t, const float*, const float*,
                     const float*, Act, float*);
};

// One copy per vector width, chosen by cpu_isa().simd (which honours ONEDNN_MAX_CPU_ISA), as the
// Winograd transforms (winograd.cpp).
#define FRACTURE_SE_COPY(suffix, target)                                                                           \
  target void pool_##suffix(const float* x, int64_t hw, int64_t c, int64_t k0, int64_t k1, float* mean) {          \
    pool_body(x, hw, c, k0, k1, mean);                                                                             \
  }                                                                                                                \
  target void hidden_##suffix(const float* mean, int64_t c, int64_t s, const float* w1t, const float* b1, Act act, \
                              float* h) {                                                                          \
    hidden_body(mean, c, s, w1t, b1, act, h);                                                                      \
  }                                                                                                                \
  target void gate_scale_##suffix(const float* x, float* y, int64_t hw, int64_t c, int64_t s, int64_t k0,          \
                                  int64_t k1, const float* h, const float* w2t, const float* b2, Act scale_act,    \
                                  float* g) {                                                                      \
    gate_scale_body(x, y, hw, c, s, k0, k1, h, w2t, b2, scale_act, g);                                             \
  }
FRACTURE_SE_COPY(avx512, __attribute__((target("avx512f"))))
FRACTURE_SE_COPY(avx2, __attribute__((target("avx2,fma"))))
FRACTURE_SE_COPY(baseline, )
#undef FRACTURE_SE_COPY

SeSteps se_steps(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512: return {pool_avx512, hidden_avx512, gate_scale_avx512};
    case SimdLevel::avx2: return {pool_avx2, hidden_avx2, gate_scale_avx2};
    case SimdLevel::baseline: break;
  }
  return {pool_baseline, hidden_baseline, gate_scale_baseline};
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

int kernel_team_size() {
  int team = 1;
#pragma omp parallel num_threads(std::max(1, at::get_num_threads()))
  {
#pragma omp single
    team = team_size();
  }
  return team;
}

torch::Tensor SqueezeExciteKernel::forward(const torch::Tensor& x) const {
  FRACTURE_CHECK(accepts(x), "squeeze-excitation kernel: expected a channels-last fp32 CPU tensor with ", c_,
                 " channels, got ", x.sizes());
  auto y = torch::empty_like(x, torch::MemoryFormat::ChannelsLast);
  const int64_t n = x.size(0), hw = x.size(2) * x.size(3), c = c_, s = s_;
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const SeSteps run = se_steps(cpu_isa().simd);
  const float *w1t = w1t_.data(), *b1 = b1_.data(), *w2t = w2t_.data(), *b2 = b2_.data();
  const Act act = act_, scale_act = scale_act_;
  // OpenMP (this file is compiled with it, as winograd.cpp): the team of ATen's thread count, one
  // thread inside another parallel region. Blocks of 16 channels: each thread writes whole 64-byte
  // lines of y.
  const int threads = in_parallel() ? 1 : std::max(1, at::get_num_threads());
  const int64_t blocks = (c + 15) / 16;
  std::vector<float> scratch(static_cast<size_t>((2 * c + s) * threads));  // (mean, h, g) per thread
  if (n >= threads || blocks < 2) {
    // A whole image per thread: no barrier, every image's pixels read by one core.
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && n > 1)
    for (int64_t b = 0; b < n; ++b) {
      float* mean = scratch.data() + static_cast<size_t>(thread_num()) * (2 * c + s);
      float *h = mean + c, *g = h + s;
      const float* xb = xp + b * hw * c;
      run.pool(xb, hw, c, 0, c, mean);
      run.hidden(mean, c, s, w1t, b1, act, h);
      run.gate_scale(xb, yp + b * hw * c, hw, c, s, 0, c, h, w2t, b2, scale_act, g);
    }
    return y;
  }
  // Fewer images than threads (batch 1): each image's channels split over the team; the hidden
  // layer, which needs every channel's mean, once between two barriers.
  float* mean = scratch.data();
  float *h = mean + c, *g = h + s;
  const int team = static_cast<int>(std::min<int64_t>(threads, blocks));
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = xp + b * hw * c;
    float* yb = yp + b * hw * c;
#pragma omp parallel num_threads(team)
    {
      const int64_t t = thread_num(), nt = team_size();
      const int64_t k0 = std::min(c, blocks * t / nt * 16), k1 = std::min(c, blocks * (t + 1) / nt * 16);
      run.pool(xb, hw, c, k0, k1, mean);
#pragma omp barrier
#pragma omp single
      run.hidden(mean, c, s, w1t, b1, act, h);
      run.gate_scale(xb, yb, hw, c, s, k0, k1, h, w2t, b2, scale_act, g);
    }
  }
  return y;
}

}  // namespace fracture::models
