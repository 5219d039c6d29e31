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

// GCC vectors as wide as each copy's registers (16, 8, 4 floats: zmm, ymm, xmm). A vector wider
// than the target's registers is lowered lane by lane in places (measured: 16-float vectors in
// the AVX2 copy ran 7x slower than 8-float ones).
typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

// Whole-vector SiLU: no per-lane branch, so the compiler emits one division per vector (GCC split
// a scalar clamp into three masked divisions under `omp simd`).
template <class V, class VI>
FRACTURE_INLINE V silu_vec(V v) {
  V x = -v;
  const V lo = V{} - 87.f, hi = V{} + 88.f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  // e^x: n = x log2(e) rounded (adding 1.5 * 2^23 leaves it in t's low mantissa bits), r = x - n ln2
  // in two parts, e^r by Cephes' degree-6 polynomial, 2^n through the exponent bits.
  const V t = x * 1.44269504088896341f + 12582912.f;
  const V n = t - 12582912.f;
  const V r = x - n * 0.693359375f + n * 2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  VI bits;
  std::memcpy(&bits, &t, sizeof bits);
  bits = (bits - (0x4B400000 - 127)) << 23;  // t's bits are 0x4B400000 + n
  V scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return v / (1.f + (p * r * r + r + 1.f) * scale);
}

// [i0, i1) of x; the last partial vector through a zero-padded copy.
template <class V, class VI>
FRACTURE_INLINE void silu_body(float* x, int64_t i0, int64_t i1) {
  constexpr int64_t L = sizeof(V) / sizeof(float);
  int64_t i = i0;
  for (; i + L <= i1; i += L) {
    V v;
    std::memcpy(&v, x + i, sizeof v);
    v = silu_vec<V, VI>(v);
    std::memcpy(x + i, &v, sizeof v);
  }
  if (i < i1) {
    float tail[L] = {};
    std::memcpy(tail, x + i, static_cast<size_t>(i1 - i) * sizeof(float));
    V v;
    std::memcpy(&v, tail, sizeof v);
    v = silu_vec<V, VI>(v);
    std::memcpy(tail, &v, sizeof v);
    std::memcpy(x + i, tail, static_cast<size_t>(i1 - i) * sizeof(float));
  }
}

// One copy per vector width, chosen by cpu_isa().simd (ONEDNN_MAX_CPU_ISA honoured).
using Body = void (*)(float*, int64_t, int64_t);
__attribute__((target("avx512f,fma"))) void silu_avx512(float* x, int64_t i0, int64_t i1) {
  silu_body<v16, v16i>(x, i0, i1);
}
__attribute__((target("avx2,fma"))) void silu_avx2(float* x, int64_t i0, int64_t i1) { silu_body<v8, v8i>(x, i0, i1); }
void silu_baseline(float* x, int64_t i0, int64_t i1) { silu_body<v4, v4i>(x, i0, i1); }

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
