// Helpers shared by the side-by-side benchmarks (classifier_bench, yolov8_bench): key=value
// arguments, peak RSS, the matmul ceiling, and running a child process that prints RESULT lines.
//
//   long n = std::atol(bench::arg(argc, argv, "iters", "3").c_str());
//   double peak = bench::matmul_peak_gflops();        // fp32 1024^2 matmul, this process's threads
//   auto rows = bench::run_child("/usr/bin/python3 bench/x.py model=a");  // {"a": {1.0, 2.0, ...}}
//   auto [cpp, py] = bench::run_pair_median(cmd_cpp, cmd_py, 3);           // medians of 3 alternated runs
//   bench::print_isa();                                // "isa: onednn avx2, aten AVX2, ... (ONEDNN_MAX_CPU_ISA=AVX2, ...)"
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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

/// The median of `v` (upper median for an even count; v must not be empty).
inline double median_of(std::vector<double> v) {
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

/// Runs `a` and `b` (b may be empty) `repeats` times each, alternating a, b, a, b, ... so that a slow
/// phase of a shared machine falls on both sides, and returns each side's element-wise medians.
inline std::pair<Rows, Rows> run_pair_median(const std::string& a, const std::string& b, int repeats) {
  std::vector<Rows> ra, rb;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    ra.push_back(run_child(a));
    if (!b.empty()) rb.push_back(run_child(b));
  }
  return {median_rows(ra), median_rows(rb)};
}

}  // namespace bench
