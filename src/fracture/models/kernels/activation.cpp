// SiLU in place: see activation.h. Compiled with OpenMP and -ffp-contract=fast (CMakeLists).
#include "fracture/models/kernels/activation.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "fracture/models/kernels/cpu_isa.h"

namespace fracture::models {
namespace {

#define FRACTURE_INLINE inline __attribute__((always_inline))

// 16 floats as a GCC vector: one zmm, two ymm or four xmm in the copies below.
typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

// Whole-vector SiLU: no per-lane branch, so the compiler emits one division per vector (GCC split
// a scalar clamp into three masked divisions under `omp simd`).
FRACTURE_INLINE v16 silu16(v16 v) {
  v16 x = -v;
  const v16 lo = v16{} - 87.f, hi = v16{} + 88.f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  // e^x: n = x log2(e) rounded (adding 1.5 * 2^23 leaves it in t's low mantissa bits), r = x - n ln2
  // in two parts, e^r by Cephes' degree-6 polynomial, 2^n through the exponent bits.
  const v16 t = x * 1.44269504088896341f + 12582912.f;
  const v16 n = t - 12582912.f;
  const v16 r = x - n * 0.693359375f + n * 2.12194440e-4f;
  v16 p = v16{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  v16i bits;
  std::memcpy(&bits, &t, sizeof bits);
  bits = (bits - (0x4B400000 - 127)) << 23;  // t's bits are 0x4B400000 + n
  v16 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return v / (1.f + (p * r * r + r + 1.f) * scale);
}

// [i0, i1) of x; the last partial vector through a zero-padded copy.
FRACTURE_INLINE void silu_body(float* x, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 16 <= i1; i += 16) {
    v16 v;
    std::memcpy(&v, x + i, sizeof v);
    v = silu16(v);
    std::memcpy(x + i, &v, sizeof v);
  }
  if (i < i1) {
    float tail[16] = {};
    std::memcpy(tail, x + i, static_cast<size_t>(i1 - i) * sizeof(float));
    v16 v;
    std::memcpy(&v, tail, sizeof v);
    v = silu16(v);
    std::memcpy(tail, &v, sizeof v);
    std::memcpy(x + i, tail, static_cast<size_t>(i1 - i) * sizeof(float));
  }
}

// One copy per vector width, chosen by cpu_isa().simd (ONEDNN_MAX_CPU_ISA honoured).
using Body = void (*)(float*, int64_t, int64_t);
__attribute__((target("avx512f,fma"))) void silu_avx512(float* x, int64_t i0, int64_t i1) { silu_body(x, i0, i1); }
__attribute__((target("avx2,fma"))) void silu_avx2(float* x, int64_t i0, int64_t i1) { silu_body(x, i0, i1); }
void silu_baseline(float* x, int64_t i0, int64_t i1) { silu_body(x, i0, i1); }

Body body(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512: return silu_avx512;
    case SimdLevel::avx2: return silu_avx2;
    case SimdLevel::baseline: break;
  }
  return silu_baseline;
}

}  // namespace

void silu_inplace(float* x, int64_t n) {
  const Body run = body(cpu_isa().simd);
  constexpr int64_t kChunk = 4096;  // values per work item: 16 KiB
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#if defined(_OPENMP)
  const int threads = omp_in_parallel() ? 1 : std::max(1, at::get_num_threads());
#else
  const int threads = 1;
#endif
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) run(x, c * kChunk, std::min(n, (c + 1) * kChunk));
}

}  // namespace fracture::models
