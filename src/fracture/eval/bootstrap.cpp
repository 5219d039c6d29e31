#include "fracture/eval/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "fracture/core/error.h"
#include "fracture/core/rng.h"

namespace fracture {

namespace {


// The metric value, or NaN when it is undefined (throws fracture::Error or returns non-finite).
double metric_or_nan(const MetricFn& metric, const std::vector<int>& y, const std::vector<double>& s) {
  try {
    const double v = metric(y, s);
    return std::isfinite(v) ? v : std::nan("");
  } catch (const Error&) {
    return std::nan("");
  }
}

}  // namespace

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double normal_quantile(double p) {
  FRACTURE_CHECK(p > 0.0 && p < 1.0, "normal_quantile: p must be in (0, 1), got ", p);
  // bisection on the CDF: monotone, no tables, accurate to the last bits within 200 halvings
  double lo = -40.0, hi = 40.0;
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (normal_cdf(mid) < p) lo = mid; else hi = mid;
    if (hi - lo < 1e-15) break;
  }
  return 0.5 * (lo + hi);
}

double percentile_sorted(const std::vector<double>& sorted, double q) {
  FRACTURE_CHECK(!sorted.empty(), "percentile_sorted: no values");
  FRACTURE_CHECK(q >= 0.0 && q <= 1.0, "percentile_sorted: q must be in [0, 1], got ", q);
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  if (i + 1 >= sorted.size()) return sorted.back();
  const double frac = pos - static_cast<double>(i);
  return sorted[i] + frac * (sorted[i + 1] - sorted[i]);
}

MeanSd mean_sd(const std::vector<double>& values) {
  FRACTURE_CHECK(!values.empty(), "mean_sd: no values");
  MeanSd r;
  r.n = static_cast<int>(values.size());
  double s = 0;
  for (double v : values) s += v;
  r.mean = s / r.n;
  if (r.n > 1) {
    double ss = 0;
    for (double v : values) ss += (v - r.mean) * (v - r.mean);
    r.sd = std::sqrt(ss / (r.n - 1));
  }
  return r;
}

StratifiedResampler::StratifiedResampler(const std::vector<int>& labels, uint64_t seed, const char* who)
    : state_(seed) {
  for (size_t i = 0; i < labels.size(); ++i) {
    FRACTURE_CHECK(labels[i] == 0 || labels[i] == 1, who, ": label at index ", i, " is ", labels[i],
                   ", expected 0 or 1");
    (labels[i] == 1 ? pos_ : neg_).push_back(i);
  }
}

void StratifiedResampler::draw(std::vector<size_t>& idx) {
  SplitMix64 rng{state_};
  idx.resize(pos_.size() + neg_.size());
  size_t j = 0;
  for (size_t t = 0; t < pos_.size(); ++t) idx[j++] = pos_[rng.below(pos_.size())];
  for (size_t t = 0; t < neg_.size(); ++t) idx[j++] = neg_[rng.below(neg_.size())];
  state_ = rng.state;
}

IndexBootstrap stratified_bootstrap_indices(const std::vector<int>& labels, int n_resamples, double confidence,
                                            uint64_t seed, const IndexStatistic& statistic) {
  FRACTURE_CHECK(n_resamples >= 2, "stratified_bootstrap_indices: n_resamples must be >= 2, got ", n_resamples);
  FRACTURE_CHECK(confidence > 0.0 && confidence < 1.0,
                 "stratified_bootstrap_indices: confidence must be in (0, 1), got ", confidence);
  FRACTURE_CHECK(!labels.empty(), "stratified_bootstrap_indices: no cases");
  StratifiedResampler resample(labels, seed, "stratified_bootstrap_indices");
  std::vector<size_t> idx(labels.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  IndexBootstrap r;
  r.estimate = statistic(idx);
  const size_t k = r.estimate.size();
  std::vector<std::vector<double>> samples(k);
  for (int b = 0; b < n_resamples; ++b) {
    resample.draw(idx);
    const std::vector<double> v = statistic(idx);
    FRACTURE_CHECK(v.size() == k, "stratified_bootstrap_indices: the statistic returned ", v.size(),
                   " values on a resample but ", k, " on the full data");
    for (size_t c = 0; c < k; ++c)
      if (std::isfinite(v[c])) samples[c].push_back(v[c]);
  }
  const double alpha = 1.0 - confidence;
  for (size_t c = 0; c < k; ++c) {
    r.n_valid.push_back(static_cast<int>(samples[c].size()));
    if (samples[c].size() < 2) {
      r.lower.push_back(std::numeric_limits<double>::quiet_NaN());
      r.upper.push_back(std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    std::sort(samples[c].begin(), samples[c].end());
    r.lower.push_back(percentile_sorted(samples[c], alpha / 2));
    r.upper.push_back(percentile_sorted(samples[c], 1.0 - alpha / 2));
  }
  return r;
}

BootstrapResult bootstrap_ci(const std::vector<int>& labels, const std::vector<double>& scores,
                             const MetricFn& metric, const BootstrapOptions& options) {
  FRACTURE_CHECK(options.n_resamples >= 2, "bootstrap_ci: n_resamples must be >= 2, got ", options.n_resamples);
  FRACTURE_CHECK(options.confidence > 0.0 && options.confidence < 1.0,
                 "bootstrap_ci: confidence must be in (0, 1), got ", options.confidence);
  FRACTURE_CHECK(labels.size() == scores.size(), "bootstrap_ci: labels and scores differ in length (",
                 labels.size(), " vs ", scores.size(), ")");
  StratifiedResampler resample(labels, options.seed, "bootstrap_ci");
  BootstrapResult r;
  r.method = options.bca ? "bca" : "percentile";
  r.estimate = metric(labels, scores);  // errors on the full data propagate to the caller
  FRACTURE_CHECK(std::isfinite(r.estimate), "bootstrap_ci: the metric is not finite on the full data");

  const size_t n = labels.size();
  std::vector<size_t> idx(n);
  std::vector<int> y(n);
  std::vector<double> s(n);
  for (int b = 0; b < options.n_resamples; ++b) {
    resample.draw(idx);
    for (size_t k = 0; k < n; ++k) {
      y[k] = labels[idx[k]];
      s[k] = scores[idx[k]];
    }
    const double v = metric_or_nan(metric, y, s);
    if (std::isnan(v)) {
      ++r.n_skipped;
    } else {
      r.samples.push_back(v);
    }
  }
  r.n_valid = static_cast<int>(r.samples.size());
  FRACTURE_CHECK(r.n_valid >= 2, "bootstrap_ci: the metric was defined on only ", r.n_valid, " of ",
                 options.n_resamples, " resamples");
  r.std_error = mean_sd(r.samples).sd;

  std::vector<double> sorted = r.samples;
  std::sort(sorted.begin(), sorted.end());
  const double alpha = 1.0 - options.confidence;
  double q_lo = alpha / 2, q_hi = 1.0 - alpha / 2;
  if (options.bca) {
    // bias correction z0 from the share of resamples below the estimate (ties count half)
    double below = 0;
    for (double v : sorted) below += v < r.estimate ? 1.0 : (v == r.estimate ? 0.5 : 0.0);
    double share = below / r.n_valid;
    share = std::min(std::max(share, 0.5 / r.n_valid), 1.0 - 0.5 / r.n_valid);
    const double z0 = normal_quantile(share);
    // acceleration from the leave-one-case-out jackknife
    std::vector<double> jack;
    std::vector<int> yj;
    std::vector<double> sj;
    for (size_t leave = 0; leave < n; ++leave) {
      yj.clear();
      sj.clear();
      for (size_t i = 0; i < n; ++i)
        if (i != leave) {
          yj.push_back(labels[i]);
          sj.push_back(scores[i]);
        }
      const double v = metric_or_nan(metric, yj, sj);
      if (!std::isnan(v)) jack.push_back(v);
    }
    double a = 0;
    if (jack.size() >= 2) {
      const double jm = mean_sd(jack).mean;
      double num = 0, den = 0;
      for (double v : jack) {
        const double d = jm - v;
        num += d * d * d;
        den += d * d;
      }
      if (den > 0) a = num / (6.0 * std::pow(den, 1.5));
    }
    auto adjust = [&](double q) {
      const double zq = normal_quantile(q);
      return normal_cdf(z0 + (z0 + zq) / (1.0 - a * (z0 + zq)));
    };
    q_lo = adjust(q_lo);
    q_hi = adjust(q_hi);
  }
  r.lower = percentile_sorted(sorted, q_lo);
  r.upper = percentile_sorted(sorted, q_hi);
  return r;
}

}  // namespace fracture
