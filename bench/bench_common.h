// Helpers shared by the side-by-side benchmarks (classifier_bench, yolov8_bench): key=value
// arguments, peak RSS, the matmul ceiling, and running a child process that prints RESULT lines.
//
//   long n = std::atol(bench::arg(argc, argv, "iters", "3").c_str());
//   double peak = bench::matmul_peak_gflops();        // fp32 1024^2 matmul, this process's threads
//   auto rows = bench::run_child("/usr/bin/python3 bench/x.py model=a");  // {"a": {1.0, 2.0, ...}}
//   auto sides = bench::run_alternating({cmd_cpp, cmd_py, cmd_ort}, 3);     // medians of 3 alternated runs
//   auto peer = bench::OrtPeer::setup(true, "build/onnx");           // ONNX Runtime: install, export, run
//   bench::print_isa();                                // "isa: onednn avx2, aten AVX2, ... (ONEDNN_MAX_CPU_ISA=AVX2, ...)"
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cctype>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fracture/models/kernels/cpu_isa.h"

namespace bench {

/// The instruction sets this run used, for the header of a bench table: our kernels' view
/// (fracture::models::cpu_isa) and the caps in the environment, which the Python child inherits.
inline void print_isa() {
  const char* onednn = std::getenv("ONEDNN_MAX_CPU_ISA");
  const char* aten = std::getenv("ATEN_CPU_CAPABILITY");
  std::printf("isa: %s (ONEDNN_MAX_CPU_ISA=%s, ATEN_CPU_CAPABILITY=%s; the Python side inherits both)\n",
              fracture::models::cpu_isa().summary().c_str(), onednn ? onednn : "unset", aten ? aten : "unset");
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// The value of `key=...` among the arguments, or `def`.
inline std::string arg(int argc, char** argv, const std::string& key, const std::string& def) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind(key + "=", 0) == 0) return a.substr(key.size() + 1);
  }
  return def;
}

/// The fastest of `blocks` blocks of `calls` calls of fn(), in seconds (the Python sides time the
/// same way, bench_common.best_block_seconds): a moment of contention does not decide the figure.
template <class Fn>
double best_block_seconds(Fn&& fn, long calls, int blocks = 3) {
  double best = 1e30;
  for (int r = 0; r < blocks; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < calls; ++i) fn();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

/// The median of `v` (upper median for an even count; NaN when v is empty).
inline double median_of(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Peak resident set size of this process in MiB (VmHWM from /proc/self/status).
inline double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return -1;
}

/// fp32 GFLOP/s of a 1024x1024 matmul (best of 5 batches of 10) with this process's threads: the
/// practical ceiling the models' achieved GFLOP/s are compared with.
inline double matmul_peak_gflops() {
  auto a = torch::randn({1024, 1024}), b = torch::randn({1024, 1024});
  torch::InferenceMode guard;
  auto c = torch::mm(a, b);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 10; ++i) c = torch::mm(a, b);
    best = std::min(best, seconds_since(t0) / 10);
  }
  return 2.0 * 1024 * 1024 * 1024 / best / 1e9;
}

/// Runs `cmd` and collects its "RESULT name v1 v2 ..." lines by name.
inline std::map<std::string, std::vector<double>> run_child(const std::string& cmd) {
  std::map<std::string, std::vector<double>> out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) {
    std::istringstream in(buf);
    std::string tag, name;
    in >> tag >> name;
    if (tag != "RESULT") continue;
    double v;
    while (in >> v) out[name].push_back(v);
  }
  pclose(p);
  return out;
}

using Rows = std::map<std::string, std::vector<double>>;

/// Element-wise median of each name's values over several runs (names missing from a run are skipped).
inline Rows median_rows(const std::vector<Rows>& runs) {
  Rows out;
  std::map<std::string, std::vector<std::vector<double>>> all;
  for (const auto& r : runs)
    for (const auto& [name, v] : r) all[name].push_back(v);
  for (auto& [name, vs] : all) {
    size_t n = vs.front().size();
    for (const auto& v : vs) n = std::min(n, v.size());
    std::vector<double> med(n);
    for (size_t k = 0; k < n; ++k) {
      std::vector<double> col;
      for (const auto& v : vs) col.push_back(v[k]);
      std::sort(col.begin(), col.end());
      med[k] = col.size() % 2 ? col[col.size() / 2] : 0.5 * (col[col.size() / 2 - 1] + col[col.size() / 2]);
    }
    out[name] = med;
  }
  return out;
}

/// Runs each command `repeats` times, alternating (a, b, c, a, b, c, ...) so that a slow phase of a
/// shared machine falls on every side, and returns each side's element-wise medians, in the order
/// of `cmds`. Empty commands are skipped (their side gets no rows).
inline std::vector<Rows> run_alternating(const std::vector<std::string>& cmds, int repeats) {
  std::vector<std::vector<Rows>> runs(cmds.size());
  for (int i = 0; i < std::max(1, repeats); ++i)
    for (size_t k = 0; k < cmds.size(); ++k)
      if (!cmds[k].empty()) runs[k].push_back(run_child(cmds[k]));
  std::vector<Rows> out;
  for (const auto& r : runs) out.push_back(median_rows(r));
  return out;
}

/// A float32 file (raw little-endian, as bench/onnx_export.py and bench/ort_peer.js write them).
inline std::vector<float> read_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

/// Writes a float32 CPU tensor's values as a raw file (the layout of read_f32), in logical order.
inline void write_f32(const std::string& path, const torch::Tensor& t) {
  auto c = t.to(torch::kFloat32).contiguous();
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * 4);
}

/// How far `got` is from `ref` (two float32 files of one tensor) over the elements whose index
/// modulo `period` lies in [lo, hi) (period 0: all): max |got - ref| and max |ref|; both -1 when a
/// file is missing or their lengths differ.
inline std::pair<double, double> compare_f32(const std::string& got, const std::string& ref, size_t period = 0,
                                             size_t lo = 0, size_t hi = 0) {
  const std::vector<float> a = read_f32(got), b = read_f32(ref);
  if (a.empty() || a.size() != b.size()) return {-1, -1};
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (period && (i % period < lo || i % period >= hi)) continue;
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    scale = std::max(scale, double(std::fabs(b[i])));
  }
  return {diff, scale};
}

/// The ONNX Runtime peer: scripts/ort_peer.sh installs onnxruntime-node (pinned, npm registry),
/// bench/onnx_export.py exports a model with Debian's python3-torch into `dir` with its weights and
/// inputs, bench/ort_peer.js runs it and prints "RESULT model ms_b... peak_rss_mib".
struct OrtPeer {
  std::string ort_dir;  ///< where onnxruntime-node is installed; empty when there is no peer
  std::string dir;      ///< exported models, weights, inputs and every side's outputs
  std::string why;      ///< why there is no peer
  /// The ISA cap the peer runs under ("avx2", "sse41"; "" for none): ONNX Runtime has no
  /// ONEDNN_MAX_CPU_ISA, so with that variable at AVX2 or SSE41 the peer runs with
  /// bench/cpuid_cap.c preloaded (CPUID answered without the features above the cap).
  std::string cap;
  std::string cap_note;  ///< for the header: how the peer's ISA was set

  /// Installs (or finds) the peer. `want` false, or a failed install, leaves ort_dir empty with why.
  /// `bench_exe` (argv[0]) locates libcpuid_cap.so, built beside the benchmarks.
  static OrtPeer setup(bool want, const std::string& dir, const std::string& bench_exe) {
    OrtPeer p;
    p.dir = dir;
    if (!want) {
      p.why = "ort=0";
      return p;
    }
    std::string isa = std::getenv("ONEDNN_MAX_CPU_ISA") ? std::getenv("ONEDNN_MAX_CPU_ISA") : "";
    for (auto& ch : isa) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const std::string lib = std::filesystem::path(bench_exe).parent_path().string() + "/libcpuid_cap.so";
    if (isa == "avx2" || isa == "sse41") {
      if (!std::filesystem::exists(lib)) {
        p.why = lib + " is missing (cmake --build build --target cpuid_cap): cannot cap ONNX Runtime to " + isa;
        return p;
      }
      p.cap = "FRACTURE_CPUID_CAP=" + isa + " LD_PRELOAD=" + std::filesystem::absolute(lib).string() + " ";
      p.cap_note = "capped to " + isa + " by bench/cpuid_cap.c (CPUID faulting), as ONEDNN_MAX_CPU_ISA";
    } else {
      p.cap_note = isa.empty() ? "every ISA of this CPU" : "every ISA of this CPU (no cap matches ONEDNN_MAX_CPU_ISA=" + isa + ")";
    }
    FILE* f = popen("bash scripts/ort_peer.sh", "r");
    char buf[4096] = {0};
    if (f && std::fgets(buf, sizeof buf, f)) p.ort_dir = buf;
    const int rc = f ? pclose(f) : -1;
    while (!p.ort_dir.empty() && (p.ort_dir.back() == '\n' || p.ort_dir.back() == '\r')) p.ort_dir.pop_back();
    if (rc != 0 || p.ort_dir.empty()) {
      p.ort_dir.clear();
      p.why = "scripts/ort_peer.sh failed (npm and the npm registry are needed; run from the repository root)";
    }
    return p;
  }
  bool ok() const { return !ort_dir.empty(); }
  /// The benchmark header's line about this side ("onnx runtime: ..."); `where` says which columns
  /// hold its figures.
  void print_header(long threads, const std::string& where) const {
    if (ok())
      std::printf("onnx runtime: onnxruntime-node (bench/ort/package-lock.json) from %s, CPU provider, graph "
                  "optimisation all, %ld intra-op threads, %s; %s\n", ort_dir.c_str(), threads, cap_note.c_str(),
                  where.c_str());
    else
      std::printf("onnx runtime: %s\n", why.c_str());
  }
  /// Exports `model` (bench/onnx_export.py names) for the batch sizes "1,16" at imgsz; false (with
  /// why) when the export fails.
  bool export_model(const std::string& model, const std::string& batches, long imgsz) {
    const std::string cmd = "/usr/bin/python3 bench/onnx_export.py model=" + model + " out=" + dir +
                            " batches=" + batches + " imgsz=" + std::to_string(imgsz) + " > /dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return true;
    why = "bench/onnx_export.py failed: " + cmd;
    return false;
  }
  /// The ONNX Runtime side's command for run_alternating.
  std::string command(const std::string& model, const std::string& batches, long iters, long threads) const {
    // --disable-wasm-trap-handler: V8's SIGSEGV handler would not pass a CPUID fault on (no wasm here).
    return cap + "node --disable-wasm-trap-handler bench/ort_peer.js ort_dir=" + ort_dir + " dir=" + dir + " model=" + model + " batches=" + batches +
           " iters=" + std::to_string(iters) + " threads=" + std::to_string(threads);
  }
  /// dir/model.SIDE{b}.bin: a side's output for the exported input of batch b.
  std::string output(const std::string& model, const std::string& side, long b) const {
    return dir + "/" + model + "." + side + std::to_string(b) + ".bin";
  }
};

}  // namespace bench
