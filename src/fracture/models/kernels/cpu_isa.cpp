#include "fracture/models/kernels/cpu_isa.h"

#include <ATen/Version.h>

#include <sstream>

#if defined(FRACTURE_WITH_ONEDNN)
#include <oneapi/dnnl/dnnl.h>
#endif

namespace fracture::models {

namespace {

#if defined(FRACTURE_WITH_ONEDNN)
// dnnl_cpu_isa_t values are bit masks of features; each name below contains the ones before it.
std::string onednn_name(unsigned isa) {
  struct Named { unsigned bits; const char* name; };
  static const Named names[] = {{dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
                                {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
                                {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
                                {dnnl_cpu_isa_avx512_core, "avx512_core"},
                                {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
                                {dnnl_cpu_isa_avx2, "avx2"},
                                {dnnl_cpu_isa_avx, "avx"},
                                {dnnl_cpu_isa_sse41, "sse41"}};
  for (const auto& n : names)
    if ((isa & n.bits) == n.bits) return n.name;
  return "baseline";
}
#endif

// "CPU capability usage: AVX2" from at::show_config(): libtorch 1.13 exports no other accessor
// (at::native::get_cpu_capability is not in libtorch_cpu's dynamic symbols).
std::string aten_capability() {
  const std::string cfg = at::show_config();
  const std::string key = "CPU capability usage: ";
  const auto at = cfg.find(key);
  if (at == std::string::npos) return "unknown";
  const auto end = cfg.find('\n', at);
  return cfg.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
}

CpuIsa detect() {
  CpuIsa r;
  r.aten = aten_capability();
#if defined(FRACTURE_WITH_ONEDNN)
  // The effective ISA is the CPU's, lowered by ONEDNN_MAX_CPU_ISA when set.
  const unsigned isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
  r.onednn = onednn_name(isa);
  const auto has = [&](unsigned bits) { return (isa & bits) == bits; };
  if (has(dnnl_cpu_isa_avx512_core) && __builtin_cpu_supports("avx512f"))
    r.simd = SimdLevel::avx512;
  else if (has(dnnl_cpu_isa_avx2) && __builtin_cpu_supports("avx2"))
    r.simd = SimdLevel::avx2;
  r.bf16 = has(dnnl_cpu_isa_avx512_core_bf16) ? Bf16Support::native
           : has(dnnl_cpu_isa_avx512_core)    ? Bf16Support::emulated
                                              : Bf16Support::none;
#else
  r.onednn = "none";
  r.simd = __builtin_cpu_supports("avx512f") ? SimdLevel::avx512
           : __builtin_cpu_supports("avx2")  ? SimdLevel::avx2
                                             : SimdLevel::baseline;
#endif
  return r;
}

}  // namespace

const CpuIsa& cpu_isa() {
  static const CpuIsa isa = detect();
  return isa;
}

const char* to_string(SimdLevel s) {
  switch (s) {
    case SimdLevel::avx512: return "avx512";
    case SimdLevel::avx2: return "avx2";
    case SimdLevel::baseline: break;
  }
  return "baseline";
}

const char* to_string(Bf16Support b) {
  switch (b) {
    case Bf16Support::native: return "native";
    case Bf16Support::emulated: return "emulated";
    case Bf16Support::none: break;
  }
  return "none";
}

std::string CpuIsa::summary() const {
  std::ostringstream s;
  s << "onednn " << onednn << ", aten " << aten << ", kernels " << to_string(simd) << ", bf16 " << to_string(bf16);
  return s.str();
}

}  // namespace fracture::models
