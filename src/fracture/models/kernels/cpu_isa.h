// Which instruction sets the CPU kernels may use in this process, honouring the caps a user (or the
// test suite) sets to run an AVX-512 machine on the code paths of an older CPU:
//   ONEDNN_MAX_CPU_ISA=AVX2|SSE41|AVX512_CORE|...  oneDNN's dispatch cap: ATen's oneDNN convolutions,
//                                                  our fused OnednnConv primitives and oneDNN's sgemm;
//                                                  our own Winograd transforms follow it too (simd_level)
//   ATEN_CPU_CAPABILITY=avx512|avx2|default        ATen's own vectorised kernels (activations, adds, ...)
// OpenBLAS (ATen's matmul on CPU) has its own dispatch (OPENBLAS_CORETYPE) and is left alone.
//
//   auto isa = fracture::models::cpu_isa();   // once per process; cheap afterwards
//   std::printf("%s\n", isa.summary().c_str());  // "onednn avx2, aten AVX2, kernels avx2, bf16 none"
//   if (isa.bf16 == fracture::models::Bf16Support::native) ...
#pragma once
#include <string>

namespace fracture::models {

/// Width of our own vectorised loops (winograd.cpp): the highest level both the CPU and oneDNN's
/// effective ISA (after ONEDNN_MAX_CPU_ISA) allow.
enum class SimdLevel { baseline, avx2, avx512 };

/// bf16 convolutions in oneDNN 2.6 on this CPU under the current cap: native (AVX512_BF16 or AMX),
/// emulated (AVX-512 core without bf16 instructions: oneDNN converts in software), or none
/// (AVX2 and older: no bf16 convolution at all).
enum class Bf16Support { none, emulated, native };

struct CpuIsa {
  std::string onednn;  ///< oneDNN's effective ISA, e.g. "avx512_core_bf16", "avx2", "sse41"; "none" without oneDNN
  std::string aten;    ///< ATen's CPU capability as libtorch reports it: "AVX512", "AVX2" or "NO AVX"
  SimdLevel simd = SimdLevel::baseline;
  Bf16Support bf16 = Bf16Support::none;
  /// One line for logs and benchmarks: "onednn avx2, aten AVX2, kernels avx2, bf16 none".
  std::string summary() const;
};

/// Read once (the first call) and cached: oneDNN fixes its cap at its first use too.
const CpuIsa& cpu_isa();

const char* to_string(SimdLevel s);
const char* to_string(Bf16Support b);

}  // namespace fracture::models
