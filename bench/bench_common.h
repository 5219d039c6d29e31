// Helpers shared by the side-by-side benchmarks (classifier_bench, yolov8_bench): key=value
// arguments, peak RSS, the matmul ceiling, and running a child process that prints RESULT lines.
//
//   long n = std::atol(bench::arg(argc, argv, "iters", "3").c_str());
//   double peak = bench::matmul_peak_gflops();        // fp32 1024^2 matmul, this process's threads
//   auto rows = bench::run_child("/usr/bin/python3 bench/x.py model=a");  // {"a": {1.0, 2.0, ...}}
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace bench {

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

}  // namespace bench
