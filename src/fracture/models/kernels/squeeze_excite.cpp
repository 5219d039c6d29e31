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

// The steps of one image, NHWC x (hw, c). The pixels are cut into chunks (chunk_begin) whose
// channel sums are added in chunk order, the same cut whatever the thread count, so results do not
// depend on it; threads take whole chunks, pooling and scaling the same pixels (their cores' cache).
// Splitting the channels instead was measured slower on 2 threads than on one (two cores then
// share every 128-byte pair of lines the prefetcher brings in).
constexpr int64_t kMaxChunks = 16;
int64_t chunk_count(int64_t hw) { return std::min(hw, kMaxChunks); }
int64_t chunk_begin(int64_t hw, int64_t i) { return hw * i / chunk_count(hw); }

// sum (c) = sum of x[p, .] over pixels p in [p0, p1).
FRACTURE_INLINE void sum_body(const float* x, int64_t c, int64_t p0, int64_t p1, float* sum) {
  std::fill(sum, sum + c, 0.0f);
  for (int64_t p = p0; p < p1; ++p) {
    const float* xp = x + p * c;
    for (int64_t k = 0; k < c; ++k) sum[k] += xp[k];
  }
}

// The gate g (c) from the chunks' sums (chunks, c): mean = their sum in order / hw;
// h (s) = act(b1 + mean x w1t (c, s)); g = scale_act(b2 + h x w2t (s, c)). Every inner loop is a
// contiguous multiply-add over the output. scratch holds c + s floats.
FRACTURE_INLINE void gate_body(const float* sums, int64_t chunks, int64_t hw, int64_t c, int64_t s, const float* w1t,
                               const float* b1, const float* w2t, const float* b2, Act act, Act scale_act,
                               float* scratch, float* g) {
  float* mean = scratch;
  float* h = scratch + c;
  std::copy(sums, sums + c, mean);
  for (int64_t i = 1; i < chunks; ++i)
    for (int64_t k = 0; k < c; ++k) mean[k] += sums[i * c + k];
  const float inv = 1.0f / static_cast<float>(hw);
  for (int64_t k = 0; k < c; ++k) mean[k] *= inv;
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
  std::copy(b2, b2 + c, g);
  for (int64_t j = 0; j < s; ++j) {
    const float a = h[j];
    const float* w = w2t + j * c;
    for (int64_t k = 0; k < c; ++k) g[k] += w[k] * a;
  }
  for (int64_t k = 0; k < c; ++k) {
    const float v = g[k];
    // hardsigmoid as PyTorch: relu6(v + 3) / 6; or the logistic sigmoid
    g[k] = scale_act == Act::hardsigmoid ? std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f : 1.0f / (1.0f + std::exp(-v));
  }
}

// y[p, .] = x[p, .] * g for pixels p in [p0, p1).
FRACTURE_INLINE void scale_body(const float* x, float* y, int64_t c, int64_t p0, int64_t p1, const float* g) {
  for (int64_t p = p0; p < p1; ++p) {
    const float* xp = x + p * c;
    float* yp = y + p * c;
    for (int64_t k = 0; k < c; ++k) yp[k] = xp[k] * g[k];
  }
}

struct SeSteps {
  void (*sum)(const float*, int64_t, int64_t, int64_t, float*);
  void (*gate)(const float*, int64_t, int64_t, int64_t, int64_t, const float*, const float*, const float*,
               const float*, Act, Act, float*, float*);
  void (*scale)(const float*, float*, int64_t, int64_t, int64_t, const float*);
};

// One copy per vector width, chosen by cpu_isa().simd (which honours ONEDNN_MAX_CPU_ISA), as the
// Winograd transforms (winograd.cpp).
#define FRACTURE_SE_COPY(suffix, target)                                                                            \
  target void sum_##suffix(const float* x, int64_t c, int64_t p0, int64_t p1, float* sum) {                         \
    sum_body(x, c, p0, p1, sum);                                                                                    \
  }                                                                                                                 \
  target void gate_##suffix(const float* sums, int64_t chunks, int64_t hw, int64_t c, int64_t s, const float* w1t,  \
                            const float* b1, const float* w2t, const float* b2, Act act, Act scale_act,             \
                            float* scratch, float* g) {                                                             \
    gate_body(sums, chunks, hw, c, s, w1t, b1, w2t, b2, act, scale_act, scratch, g);                               \
  }                                                                                                                 \
  target void scale_##suffix(const float* x, float* y, int64_t c, int64_t p0, int64_t p1, const float* g) {         \
    scale_body(x, y, c, p0, p1, g);                                                                                 \
  }
FRACTURE_SE_COPY(avx512, __attribute__((target("avx512f"))))
FRACTURE_SE_COPY(avx2, __attribute__((target("avx2,fma"))))
FRACTURE_SE_COPY(baseline, )
#undef FRACTURE_SE_COPY

SeSteps se_steps(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512: return {sum_avx512, gate_avx512, scale_avx512};
    case SimdLevel::avx2: return {sum_avx2, gate_avx2, scale_avx2};
    case SimdLevel::baseline: break;
  }
  return {sum_baseline, gate_baseline, scale_baseline};
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

torch::Tensor SqueezeExciteKernel::forward(const torch::Tensor& x) const { return run(x, nullptr); }

void SqueezeExciteKernel::gate(const torch::Tensor& x, float* g) const {
  FRACTURE_CHECK(x.dim() == 4 && x.size(0) == 1, "squeeze-excitation kernel: gate() takes one image, got ", x.sizes());
  run(x, g);
}

torch::Tensor SqueezeExciteKernel::run(const torch::Tensor& x, float* gate_out) const {
  FRACTURE_CHECK(accepts(x), "squeeze-excitation kernel: expected a channels-last fp32 CPU tensor with ", c_,
                 " channels, got ", x.sizes());
  torch::Tensor y;
  if (!gate_out) y = torch::empty_like(x, torch::MemoryFormat::ChannelsLast);
  const int64_t n = x.size(0), hw = x.size(2) * x.size(3), c = c_, s = s_;
  const float* xp = x.data_ptr<float>();
  float* yp = gate_out ? nullptr : y.data_ptr<float>();
  const SeSteps run = se_steps(cpu_isa().simd);
  const float *w1t = w1t_.data(), *b1 = b1_.data(), *w2t = w2t_.data(), *b2 = b2_.data();
  const Act act = act_, scale_act = scale_act_;
  const int64_t chunks = chunk_count(hw), per_image = (chunks + 2) * c + s;  // sums, g, mean + h
  // OpenMP (this file is compiled with it, as winograd.cpp): a team of ATen's thread count, one
  // thread inside another parallel region.
  const int threads = in_parallel() ? 1 : std::max(1, at::get_num_threads());
  // Below kSplitElements values per image the team's barriers cost more than the second core saves
  // (measured at batch 1: 14x14x480 equal on 1 and 2 threads, 28x28x240 1.9x faster on 2).
  constexpr int64_t kSplitElements = int64_t{1} << 16;
  if (n >= threads || chunks < 2 || hw * c < kSplitElements) {
    // A whole image per thread (or all on one): no barrier.
    std::vector<float> scratch(static_cast<size_t>(per_image * threads));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && n > 1)
    for (int64_t b = 0; b < n; ++b) {
      float* sums = scratch.data() + thread_num() * per_image;
      float* g = sums + chunks * c;
      const float* xb = xp + b * hw * c;
      for (int64_t i = 0; i < chunks; ++i) run.sum(xb, c, chunk_begin(hw, i), chunk_begin(hw, i + 1), sums + i * c);
      float* gb = gate_out ? gate_out + b * c : g;  // gate-only: written straight to the caller's
      run.gate(sums, chunks, hw, c, s, w1t, b1, w2t, b2, act, scale_act, g + c, gb);
      if (!gate_out) run.scale(xb, yp + b * hw * c, c, 0, hw, gb);
    }
    return y;
  }
  // Fewer images than threads (batch 1): each image's chunks split over the team, the gate once
  // between two barriers.
  std::vector<float> scratch(static_cast<size_t>(per_image));
  float* sums = scratch.data();
  float* g = sums + chunks * c;
  const int team = static_cast<int>(std::min<int64_t>(threads, chunks));
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = xp + b * hw * c;
    float* yb = gate_out ? nullptr : yp + b * hw * c;
    float* gb = gate_out ? gate_out + b * c : g;  // gate-only: written straight to the caller's
#pragma omp parallel num_threads(team)
    {
      const int64_t t = thread_num(), nt = team_size();
      const int64_t i0 = chunks * t / nt, i1 = chunks * (t + 1) / nt;
      for (int64_t i = i0; i < i1; ++i) run.sum(xb, c, chunk_begin(hw, i), chunk_begin(hw, i + 1), sums + i * c);
#pragma omp barrier
#pragma omp single
      run.gate(sums, chunks, hw, c, s, w1t, b1, w2t, b2, act, scale_act, g + c, gb);
      if (yb) run.scale(xb, yb, c, chunk_begin(hw, i0), chunk_begin(hw, i1), gb);
    }
  }
  return y;
}

}  // namespace fracture::models
