// Winograd F(4x4, 3x3): see winograd.h. Compiled with OpenMP (the libgomp libtorch uses, so the
// same thread pool and thread count as ATen) and without the precompiled torch header (CMakeLists).
#include "fracture/models/kernels/winograd.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>

#include "fracture/core/error.h"
#include "fracture/models/kernels/cpu_isa.h"

#if defined(FRACTURE_WITH_ONEDNN)
#include <oneapi/dnnl/dnnl.h>
#endif

namespace fracture::models {

namespace {

// Everything the per-tile kernels call is forced inline, so that each copy of a kernel (AVX-512,
// AVX2, baseline; tile_kernels below) vectorises it at its own width.
#define FRACTURE_INLINE inline __attribute__((always_inline))

constexpr int64_t kTile = 4;    // output tile side (m in F(m, r))
constexpr int64_t kIn = 6;      // input tile side m + r - 1
constexpr int64_t kPos = 36;    // positions in an input tile: the number of matrix products
constexpr int64_t kBlock = 64;  // channels per pass of a transform (local buffers stay in L1)

// Lavin & Gray's F(4x4, 3x3) matrices (interpolation points 0, 1, -1, 2, -2, infinity): G (6x3)
// here; B^T (6x6) and A^T (4x6) are written out in bt6 and at4.
constexpr double kG[6][3] = {{1.0 / 4, 0, 0},
                             {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                             {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                             {1.0 / 24, 1.0 / 12, 1.0 / 6},
                             {1.0 / 24, -1.0 / 12, 1.0 / 6},
                             {0, 0, 1}};

// out[i][c] = sum_k B^T[i][k] in[k][c] for 6 vectors of n floats, with
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
FRACTURE_INLINE void bt6(const float* const in[6], float* const out[6], int64_t n) {
  const float *d0 = in[0], *d1 = in[1], *d2 = in[2], *d3 = in[3], *d4 = in[4], *d5 = in[5];
  float *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3], *o4 = out[4], *o5 = out[5];
#pragma GCC ivdep
  for (int64_t c = 0; c < n; ++c) {
    const float a = d1[c], b = d2[c], e = d3[c], f = d4[c];
    o0[c] = 4.f * d0[c] - 5.f * b + f;
    o1[c] = -4.f * (a + b) + e + f;
    o2[c] = 4.f * (a - b) - e + f;
    o3[c] = 2.f * (e - a) - b + f;
    o4[c] = 2.f * (a - e) - b + f;
    o5[c] = 4.f * a - 5.f * e + d5[c];
  }
}

// out[i][c] = sum_k A^T[i][k] in[k][c], i < 4, for 6 vectors of n floats, with
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
FRACTURE_INLINE void at4(const float* const in[6], float* const out[4], int64_t n) {
  const float *m0 = in[0], *m1 = in[1], *m2 = in[2], *m3 = in[3], *m4 = in[4], *m5 = in[5];
  float *o0 = out[0], *o1 = out[1], *o2 = out[2], *o3 = out[3];
#pragma GCC ivdep
  for (int64_t c = 0; c < n; ++c) {
    const float p12 = m1[c] + m2[c], d12 = m1[c] - m2[c], p34 = m3[c] + m4[c], d34 = m3[c] - m4[c];
    o0[c] = m0[c] + p12 + p34;
    o1[c] = d12 + 2.f * d34;
    o2[c] = p12 + 4.f * p34;
    o3[c] = d12 + 8.f * d34 + m5[c];
  }
}

// e^x, vectorisable (no libm call): Cephes' expf -- x = n ln2 + r with |r| <= ln2/2, e^r by a
// degree-6 polynomial, 2^n through the exponent bits. Clamped to [-87, 88] (e^-87 ~ 1.6e-38).
// n = x log2(e) rounded to nearest by adding and subtracting 1.5 * 2^23 (exact for |n| < 2^22),
// not std::floor(.. + 0.5): GCC 12 does not vectorise floorf without -fno-trapping-math, and
// one scalar floor kept the whole epilogue loop scalar (SiLU Winograd convolutions ran 3x slower
// than ReLU ones: 64 channels 80x80, 2,752 against 937 us).
FRACTURE_INLINE float exp_approx(float x) {
  x = std::min(std::max(x, -87.f), 88.f);
  const float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return er * scale;
}

// The activations as torch defines them: silu x * sigmoid(x), hardswish x * relu6(x + 3) / 6.
template <OnednnAct A>
FRACTURE_INLINE float activate(float x) {
  if constexpr (A == OnednnAct::relu) return std::max(x, 0.f);
  if constexpr (A == OnednnAct::silu) return x / (1.f + exp_approx(-x));
  if constexpr (A == OnednnAct::sigmoid) return 1.f / (1.f + exp_approx(-x));
  if constexpr (A == OnednnAct::hardswish) return x * std::min(std::max(x + 3.f, 0.f), 6.f) * (1.f / 6.f);
  return x;
}

// dst = act(src + bias [+ skip]) [+ skip]: the residual before or after the activation.
template <OnednnAct A>
FRACTURE_INLINE void epilogue(const float* src, const float* bias, const float* skip, bool skip_after, float* dst,
                              int64_t n) {
  // omp simd: GCC does not vectorise these loops on its own (possible aliasing, the exp's bit cast).
  if (!skip) {
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) dst[c] = activate<A>(src[c] + bias[c]);
  } else if (skip_after) {
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) dst[c] = activate<A>(src[c] + bias[c]) + skip[c];
  } else {
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) dst[c] = activate<A>(src[c] + bias[c] + skip[c]);
  }
}

FRACTURE_INLINE void epilogue(OnednnAct act, const float* src, const float* bias, const float* skip, bool skip_after,
                              float* dst, int64_t n) {
  switch (act) {
    case OnednnAct::none: return epilogue<OnednnAct::none>(src, bias, skip, skip_after, dst, n);
    case OnednnAct::relu: return epilogue<OnednnAct::relu>(src, bias, skip, skip_after, dst, n);
    case OnednnAct::silu: return epilogue<OnednnAct::silu>(src, bias, skip, skip_after, dst, n);
    case OnednnAct::hardswish: return epilogue<OnednnAct::hardswish>(src, bias, skip, skip_after, dst, n);
    case OnednnAct::sigmoid: return epilogue<OnednnAct::sigmoid>(src, bias, skip, skip_after, dst, n);
  }
}

struct Geometry {
  int64_t n, h, w, in, out, pad, oh, ow, th, tw, tiles;
};

// Tiles [t0, t1) of the image into V (36, ct, I), which holds tiles [c0, c0 + ct), position-major
// so that each of the 36 products reads a contiguous (ct, I) matrix (measured: 7 % faster overall
// than tile-major V with strided products). x is (N, H, W, I) contiguous; tile t covers input rows
// 4 ty - pad .. 4 ty - pad + 5 and the same columns (zeros outside the image).
FRACTURE_INLINE void input_tiles_body(const float* x, float* v, int64_t c0, int64_t ct, const Geometry& g, int64_t t0,
                                      int64_t t1) {
  alignas(64) float zeros[kBlock] = {};
  alignas(64) float tmp[kPos][kBlock];
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / (g.th * g.tw), r = t % (g.th * g.tw);
    const int64_t y0 = (r / g.tw) * kTile - g.pad, x0 = (r % g.tw) * kTile - g.pad;
    for (int64_t ch = 0; ch < g.in; ch += kBlock) {
      const int64_t cb = std::min(kBlock, g.in - ch);
      const float* d[kIn][kIn];
      for (int64_t i = 0; i < kIn; ++i) {
        const int64_t yy = y0 + i;
        for (int64_t j = 0; j < kIn; ++j) {
          const int64_t xx = x0 + j;
          d[i][j] = (yy >= 0 && yy < g.h && xx >= 0 && xx < g.w) ? x + ((n * g.h + yy) * g.w + xx) * g.in + ch : zeros;
        }
      }
      // Columns: tmp[i][j] = sum_k B^T[i][k] d[k][j].
      for (int64_t j = 0; j < kIn; ++j) {
        const float* in[6] = {d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]};
        float* out[6] = {tmp[0 * kIn + j], tmp[1 * kIn + j], tmp[2 * kIn + j],
                         tmp[3 * kIn + j], tmp[4 * kIn + j], tmp[5 * kIn + j]};
        bt6(in, out, cb);
      }
      // Rows: V[i][j] = sum_k tmp[i][k] B[k][j] = sum_k B^T[j][k] tmp[i][k].
      for (int64_t i = 0; i < kIn; ++i) {
        const float* in[6] = {tmp[i * kIn + 0], tmp[i * kIn + 1], tmp[i * kIn + 2],
                              tmp[i * kIn + 3], tmp[i * kIn + 4], tmp[i * kIn + 5]};
        float* out[6];
        for (int64_t j = 0; j < kIn; ++j) out[j] = v + ((i * kIn + j) * ct + t - c0) * g.in + ch;
        bt6(in, out, cb);
      }
    }
  }
}

// Tiles [t0, t1) of y (N, OH, OW, O) = act(A^T m A + bias [+ skip]) [+ skip], from M (36, ct, O)
// holding tiles [c0, c0 + ct); a tile's rows and columns past the output's edge are dropped.
FRACTURE_INLINE void output_tiles_body(const float* m, int64_t c0, int64_t ct, const float* bias, const float* skip,
                                       bool skip_after, OnednnAct act, float* y, const Geometry& g, int64_t t0,
                                       int64_t t1) {
  alignas(64) float tmp[kTile * kIn][kBlock];
  alignas(64) float res[kTile * kTile][kBlock];
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / (g.th * g.tw), r = t % (g.th * g.tw);
    const int64_t y0 = (r / g.tw) * kTile, x0 = (r % g.tw) * kTile;
    for (int64_t ch = 0; ch < g.out; ch += kBlock) {
      const int64_t cb = std::min(kBlock, g.out - ch);
      // Columns: tmp[i][j] = sum_k A^T[i][k] m[k][j], i < 4.
      for (int64_t j = 0; j < kIn; ++j) {
        const float* in[6];
        for (int64_t k = 0; k < kIn; ++k) in[k] = m + ((k * kIn + j) * ct + t - c0) * g.out + ch;
        float* out[4] = {tmp[0 * kIn + j], tmp[1 * kIn + j], tmp[2 * kIn + j], tmp[3 * kIn + j]};
        at4(in, out, cb);
      }
      // Rows: res[i][j] = sum_k tmp[i][k] A[k][j], j < 4.
      for (int64_t i = 0; i < kTile; ++i) {
        const float* in[6] = {tmp[i * kIn + 0], tmp[i * kIn + 1], tmp[i * kIn + 2],
                              tmp[i * kIn + 3], tmp[i * kIn + 4], tmp[i * kIn + 5]};
        float* out[4] = {res[i * kTile + 0], res[i * kTile + 1], res[i * kTile + 2], res[i * kTile + 3]};
        at4(in, out, cb);
      }
      for (int64_t i = 0; i < kTile && y0 + i < g.oh; ++i) {
        for (int64_t j = 0; j < kTile && x0 + j < g.ow; ++j) {
          const int64_t at = ((n * g.oh + y0 + i) * g.ow + x0 + j) * g.out + ch;
          epilogue(act, res[i * kTile + j], bias + ch, skip ? skip + at : nullptr, skip_after, y + at, cb);
        }
      }
    }
  }
}

// One copy of each transform per vector width, chosen at run time by cpu_isa().simd: the CPU's
// widest that oneDNN's effective ISA also allows, so ONEDNN_MAX_CPU_ISA=AVX2 (or SSE41) runs the
// AVX2 (or baseline) copies on an AVX-512 machine, as an older CPU would (GCC's target_clones
// would pick by the CPU alone). The bodies are forced inline into each copy.
#define FRACTURE_TILE_COPIES(suffix, target)                                                                       \
  target void input_tiles_##suffix(const float* x, float* v, int64_t c0, int64_t ct, const Geometry& g, int64_t t0, \
                                   int64_t t1) {                                                                   \
    input_tiles_body(x, v, c0, ct, g, t0, t1);                                                                      \
  }                                                                                                                 \
  target void output_tiles_##suffix(const float* m, int64_t c0, int64_t ct, const float* bias, const float* skip,   \
                                    bool skip_after, OnednnAct act, float* y, const Geometry& g, int64_t t0,        \
                                    int64_t t1) {                                                                   \
    output_tiles_body(m, c0, ct, bias, skip, skip_after, act, y, g, t0, t1);                                        \
  }
FRACTURE_TILE_COPIES(avx512, __attribute__((target("avx512f"))))
FRACTURE_TILE_COPIES(avx2, __attribute__((target("avx2"))))
FRACTURE_TILE_COPIES(baseline, )
#undef FRACTURE_TILE_COPIES

using InputTiles = void (*)(const float*, float*, int64_t, int64_t, const Geometry&, int64_t, int64_t);
using OutputTiles = void (*)(const float*, int64_t, int64_t, const float*, const float*, bool, OnednnAct, float*,
                             const Geometry&, int64_t, int64_t);

struct TileKernels {
  InputTiles input;
  OutputTiles output;
};

TileKernels tile_kernels(SimdLevel level) {
  switch (level) {
    case SimdLevel::avx512: return {input_tiles_avx512, output_tiles_avx512};
    case SimdLevel::avx2: return {input_tiles_avx2, output_tiles_avx2};
    case SimdLevel::baseline: break;
  }
  return {input_tiles_baseline, output_tiles_baseline};
}

}  // namespace

bool WinogradConv::supports(const torch::Tensor& weight, int64_t stride, int64_t dilation, int64_t groups) {
  return weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3 && stride == 1 && dilation == 1 &&
         groups == 1;
}

bool WinogradConv::pays(int64_t in_ch, int64_t out_ch, int64_t batch, int64_t out_h, int64_t out_w) {
  const int64_t tiles = batch * ((out_h + kTile - 1) / kTile) * ((out_w + kTile - 1) / kTile);
  return in_ch >= 48 && out_ch >= 48 && out_h >= 8 && out_w >= 8 && tiles * in_ch * out_ch >= 131072;
}

WinogradConv::WinogradConv(const torch::Tensor& weight, const torch::Tensor& bias, int64_t padding, OnednnAct act,
                           bool add_after_act)
    : padding_(padding), act_(act), add_after_act_(add_after_act) {
  FRACTURE_CHECK(supports(weight, 1, 1, 1), "WinogradConv: weight must be (O, I, 3, 3), got ", weight.sizes());
  FRACTURE_CHECK(padding >= 0, "WinogradConv: padding must be >= 0, got ", padding);
  torch::NoGradGuard ng;
  out_ = weight.size(0);
  in_ = weight.size(1);
  // U = G g G^T per (o, i), in float64, then stored (36, I, O) fp32 for the matrix products.
  auto G = torch::empty({6, 3}, torch::kFloat64);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 3; ++j) G[i][j] = kG[i][j];
  auto g = weight.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  auto u = torch::matmul(torch::matmul(G, g), G.t());  // (O, I, 6, 6)
  u_ = u.permute({2, 3, 1, 0}).reshape({kPos, in_, out_}).to(torch::kFloat32).contiguous();
  bias_ = bias.defined() ? bias.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone()
                         : torch::zeros({out_}, torch::kFloat32);
  FRACTURE_CHECK(bias_.numel() == out_, "WinogradConv: bias has ", bias_.numel(), " values for ", out_,
                 " output channels");
}

torch::Tensor WinogradConv::forward(const torch::Tensor& x_in, const torch::Tensor* skip) const {
  FRACTURE_CHECK(x_in.dim() == 4 && x_in.device().is_cpu() && x_in.scalar_type() == torch::kFloat32,
                 "WinogradConv: input must be a (B, C, H, W) fp32 CPU tensor, got ", x_in.sizes(), " ",
                 x_in.scalar_type(), " on ", x_in.device());
  FRACTURE_CHECK(x_in.size(1) == in_, "WinogradConv: input has ", x_in.size(1), " channels, the weight expects ", in_);
  torch::Tensor x = x_in.contiguous(torch::MemoryFormat::ChannelsLast);  // no-op when so
  Geometry g;
  g.n = x.size(0);
  g.h = x.size(2);
  g.w = x.size(3);
  g.in = in_;
  g.out = out_;
  g.pad = padding_;
  g.oh = g.h + 2 * padding_ - 2;
  g.ow = g.w + 2 * padding_ - 2;
  FRACTURE_CHECK(g.oh > 0 && g.ow > 0, "WinogradConv: input ", g.h, "x", g.w,
                 " is too small for a 3x3 kernel with padding ", padding_);
  g.th = (g.oh + kTile - 1) / kTile;
  g.tw = (g.ow + kTile - 1) / kTile;
  g.tiles = g.n * g.th * g.tw;
  auto y = torch::empty({g.n, out_, g.oh, g.ow}, x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  torch::Tensor s;
  if (skip) {
    FRACTURE_CHECK(skip->sizes() == y.sizes(), "WinogradConv: residual has shape ", skip->sizes(), ", the output ",
                   y.sizes());
    s = skip->to(torch::kFloat32).contiguous(torch::MemoryFormat::ChannelsLast);  // no-op when so
  }
  const bool skip_after = s.defined() && add_after_act_ && act_ != OnednnAct::none;
  // The tiles go through in chunks whose V (36, chunk, I) and M (36, chunk, O) take about 16 MiB
  // together, so they stay in this machine's 32 MiB L3 between the transforms and the products,
  // and a large batch does not need its whole transformed input at once (4 MiB and 1 MiB budgets
  // measured 7 % and 14 % slower over YOLOv8's layer shapes).
  const int64_t chunk = std::min(g.tiles, std::max<int64_t>(64, (int64_t{16} << 20) / (kPos * 4 * (in_ + out_))));
  auto v = torch::empty({chunk, kPos, in_}, x.options());
  auto m = torch::empty({chunk, kPos, out_}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* up = u_.data_ptr<float>();
  const float* bp = bias_.data_ptr<float>();
  const float* sp = s.defined() ? s.data_ptr<float>() : nullptr;
  float* vp = v.data_ptr<float>();
  float* mp = m.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const OnednnAct act = act_;
  const int64_t in = in_, out = out_;
  const TileKernels kern = tile_kernels(cpu_isa().simd);
  for (int64_t c0 = 0; c0 < g.tiles; c0 += chunk) {
    const int64_t ct = std::min(chunk, g.tiles - c0);  // this chunk's tiles: V (36, ct, I), M (36, ct, O)
#pragma omp parallel for schedule(static)
    for (int64_t t = c0; t < c0 + ct; ++t) kern.input(xp, vp, c0, ct, g, t, t + 1);
    // M[k] = V[k] @ U[k], (ct, I) x (I, O), for the 36 tile positions, one position per thread at a time (oneDNN's sgemm runs single-threaded inside an
    // OpenMP loop). Not ATen's bmm: that goes to OpenBLAS, whose pthreads keep spinning after each
    // call and take the cores from the next OpenMP loop (measured: the transforms ran 5-10x slower).
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (int64_t k = 0; k < kPos; ++k) {
#if defined(FRACTURE_WITH_ONEDNN)
      bad += dnnl_sgemm('N', 'N', ct, out, in, 1.f, vp + k * ct * in, in, up + k * in * out, out, 0.f, mp + k * ct * out,
                        out) != dnnl_success;
#else
      auto mk = torch::from_blob(mp + k * ct * out, {ct, out});
      torch::mm_out(mk, torch::from_blob(vp + k * ct * in, {ct, in}), u_[k]);
#endif
    }
    FRACTURE_CHECK(bad == 0, "WinogradConv: oneDNN sgemm failed for ", bad, " of the 36 tile positions");
#pragma omp parallel for schedule(static)
    for (int64_t t = c0; t < c0 + ct; ++t) kern.output(mp, c0, ct, bp, sp, skip_after, act, yp, g, t, t + 1);
  }
  return y;
}

}  // namespace fracture::models
