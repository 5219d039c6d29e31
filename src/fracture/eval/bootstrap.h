// Seeded stratified bootstrap confidence intervals for any binary metric, and mean/SD over folds.
//
//   fracture::BootstrapOptions opt;               // 2000 resamples, 95 %, percentile, seed 0
//   opt.seed = 42;
//   fracture::BootstrapResult ci = fracture::bootstrap_ci(labels, scores, fracture::roc_auc_score, opt);
//   // ci.estimate on all cases, [ci.lower, ci.upper], ci.n_valid resamples used, ci.n_skipped
//   fracture::MeanSd auc_folds = fracture::mean_sd({0.71, 0.74, 0.69, 0.73, 0.70});
//
// Stratified: each resample draws n_pos positives from the positives and n_neg negatives from the
// negatives, with replacement, so every resample has the original class balance. A resample where
// the metric is undefined (it throws fracture::Error or returns NaN/inf) is skipped and counted.
// Determinism: the same (inputs, options) give the same result on every platform (a 64-bit
// SplitMix64 generator with rejection sampling, no std:: distributions).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace fracture {

/// A metric of (labels, scores), e.g. fracture::roc_auc_score.
using MetricFn = std::function<double(const std::vector<int>&, const std::vector<double>&)>;

struct BootstrapOptions {
  int n_resamples = 2000;    ///< number of stratified resamples
  double confidence = 0.95;  ///< two-sided level of the interval, in (0, 1)
  uint64_t seed = 0;         ///< generator seed; same seed, same result
  bool bca = false;          ///< false: percentile interval; true: BCa (Efron 1987), jackknife acceleration
};

struct BootstrapResult {
  double estimate = 0;              ///< the metric on all cases
  double lower = 0, upper = 0;      ///< interval ends
  double std_error = 0;             ///< SD (ddof = 1) of the valid resample values
  int n_valid = 0;                  ///< resamples where the metric was defined
  int n_skipped = 0;                ///< resamples skipped because the metric was undefined
  std::string method;               ///< "percentile" or "bca"
  std::vector<double> samples;      ///< the valid resample values, in draw order
};

/// Stratified bootstrap CI. Throws fracture::Error on bad options, when the metric is undefined on
/// the full data, or when fewer than 2 resamples are valid. Percentile ends use linear
/// interpolation between order statistics (numpy.percentile's default).
BootstrapResult bootstrap_ci(const std::vector<int>& labels, const std::vector<double>& scores,
                             const MetricFn& metric, const BootstrapOptions& options = {});

/// Mean and sample standard deviation (ddof = 1; 0 when n = 1) over folds or repeats.
struct MeanSd {
  double mean = 0;
  double sd = 0;
  int n = 0;
};
MeanSd mean_sd(const std::vector<double>& values);

/// Standard normal CDF and its inverse (used by BCa and DeLong).
double normal_cdf(double z);
double normal_quantile(double p);  ///< p in (0, 1)

/// Linear-interpolation percentile of sorted values, q in [0, 1] (numpy.percentile default).
double percentile_sorted(const std::vector<double>& sorted, double q);

}  // namespace fracture
