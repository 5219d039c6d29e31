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

/// The resampling both bootstraps share: each draw() fills `idx` with n_pos indices of positives,
/// then n_neg of negatives (positives and negatives each in index order of `labels`), drawn with
/// replacement by SplitMix64{seed}.below(). Throws naming `who` on a label other than 0 or 1.
class StratifiedResampler {
 public:
  StratifiedResampler(const std::vector<int>& labels, uint64_t seed, const char* who);
  void draw(std::vector<size_t>& idx);
  size_t n_pos() const { return pos_.size(); }

 private:
  std::vector<size_t> pos_, neg_;
  uint64_t state_;
};

/// Stratified bootstrap over cases for a vector-valued statistic of a resample of case indices
/// (the generalisation of bootstrap_ci used for the study's repeat-averaged metrics), with the same
/// draws as bootstrap_ci, so a statistic that evaluates a metric on (labels[idx], scores[idx])
/// reproduces bootstrap_ci's percentile interval. A NaN component skips that resample for that
/// component only.
struct IndexBootstrap {
  std::vector<double> estimate;      ///< statistic(0, 1, ..., n-1)
  std::vector<double> lower, upper;  ///< percentile ends; NaN where fewer than 2 resamples were valid
  std::vector<int> n_valid;          ///< per component
};
using IndexStatistic = std::function<std::vector<double>(const std::vector<size_t>& idx)>;
IndexBootstrap stratified_bootstrap_indices(const std::vector<int>& labels, int n_resamples, double confidence,
                                            uint64_t seed, const IndexStatistic& statistic);

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
