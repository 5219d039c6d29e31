// Speed of the classification statistics on synthetic binormal scores (never a pass/fail test).
//   build-NAME/bench/metrics_bench [n_cases]      (default 1000; half positive)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "fracture/calibrate/temperature.h"
#include "fracture/core/rng.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/eval/delong.h"

using namespace fracture;

namespace {
struct Rng : fracture::SplitMix64 {
  double normal() { return std::sqrt(-2 * std::log(uniform())) * std::cos(2 * M_PI * uniform()); }
};

template <class F>
double seconds(F f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  Rng rng{1};
  std::vector<int> y(n);
  std::vector<double> a(n), b(n);
  for (int i = 0; i < n; ++i) {
    y[i] = i % 2;
    a[i] = rng.normal() + 1.0 * y[i];
    b[i] = 0.5 * a[i] + rng.normal() + 0.3 * y[i];
  }
  double sink = 0;
  const double t_auc = seconds([&] { for (int r = 0; r < 100; ++r) sink += roc_auc_score(y, a); }) / 100;
  const double t_ap = seconds([&] { for (int r = 0; r < 100; ++r) sink += average_precision_score(y, a); }) / 100;
  const double t_delong = seconds([&] { for (int r = 0; r < 100; ++r) sink += delong_test(y, a, b).p_value; }) / 100;
  BootstrapOptions o;  // 2000 resamples, percentile
  BootstrapResult ci;
  const double t_boot = seconds([&] { ci = bootstrap_ci(y, a, roc_auc_score, o); });
  o.bca = true;
  const double t_bca = seconds([&] { ci = bootstrap_ci(y, a, roc_auc_score, o); });
  TemperatureFit fit;
  const double t_temp = seconds([&] { fit = fit_temperature_binary(a, y); });
  std::printf("n = %d cases\n", n);
  std::printf("roc_auc_score            %10.3f ms\n", 1e3 * t_auc);
  std::printf("average_precision_score  %10.3f ms\n", 1e3 * t_ap);
  std::printf("delong_test (2 models)   %10.3f ms\n", 1e3 * t_delong);
  std::printf("bootstrap AUROC 2000     %10.3f ms (percentile)\n", 1e3 * t_boot);
  std::printf("bootstrap AUROC 2000 BCa %10.3f ms (incl. n jackknife fits)\n", 1e3 * t_bca);
  std::printf("fit_temperature_binary   %10.3f ms (%d iterations, T = %.4f)\n", 1e3 * t_temp, fit.iterations,
              fit.temperature);
  std::printf("(checksum %.6f, CI [%.4f, %.4f])\n", sink, ci.lower, ci.upper);
  return 0;
}
