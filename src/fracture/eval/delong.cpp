#include "fracture/eval/delong.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fracture/core/error.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"

namespace fracture {

std::vector<double> midranks(const std::vector<double>& values) {
  const size_t n = values.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> rank(n);
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j + 1 < n && values[order[j + 1]] == values[order[i]]) ++j;
    const double mid = 0.5 * static_cast<double>(i + j) + 1.0;  // mean of 1-based ranks i+1 .. j+1
    for (size_t k = i; k <= j; ++k) rank[order[k]] = mid;
    i = j + 1;
  }
  return rank;
}

namespace {

// Sun & Xu 2014: AUC and the structural components V10 (one per positive) and V01 (one per
// negative) of one model from three midrank passes.
struct Components {
  double auc = 0;
  std::vector<double> v10, v01;
};

Components components(const std::vector<int>& labels, const std::vector<double>& scores) {
  std::vector<double> x, y;  // positive scores, negative scores
  for (size_t i = 0; i < labels.size(); ++i) (labels[i] == 1 ? x : y).push_back(scores[i]);
  const double m = static_cast<double>(x.size()), n = static_cast<double>(y.size());
  std::vector<double> z = x;
  z.insert(z.end(), y.begin(), y.end());
  const std::vector<double> tx = midranks(x), ty = midranks(y), tz = midranks(z);
  Components c;
  double sum_pos_rank = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sum_pos_rank += tz[i];
    c.v10.push_back((tz[i] - tx[i]) / n);  // share of negatives below positive i (ties 1/2)
  }
  for (size_t j = 0; j < y.size(); ++j)
    c.v01.push_back(1.0 - (tz[x.size() + j] - ty[j]) / m);  // share of positives above negative j
  c.auc = (sum_pos_rank - m * (m + 1) / 2.0) / (m * n);
  return c;
}

double covariance(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t k = a.size();
  if (k < 2) return 0.0;  // a single case in a class contributes no variance term
  double ma = 0, mb = 0;
  for (size_t i = 0; i < k; ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= k;
  mb /= k;
  double s = 0;
  for (size_t i = 0; i < k; ++i) s += (a[i] - ma) * (b[i] - mb);
  return s / static_cast<double>(k - 1);
}

void check_two_classes(const std::vector<int>& labels, const char* what) {
  int64_t pos = 0;
  for (int y : labels) pos += y;
  const int64_t neg = static_cast<int64_t>(labels.size()) - pos;
  FRACTURE_CHECK(pos > 0 && neg > 0, what, ": only one class present in labels (", pos, " positive, ", neg,
                 " negative); AUROC is not defined in that case");
}

}  // namespace

DelongAuc delong_auc(const std::vector<int>& labels, const std::vector<double>& scores, double confidence) {
  check_binary_inputs(labels, scores, "delong_auc");
  check_two_classes(labels, "delong_auc");
  FRACTURE_CHECK(confidence > 0 && confidence < 1, "delong_auc: confidence must be in (0, 1), got ", confidence);
  const Components c = components(labels, scores);
  const double m = static_cast<double>(c.v10.size()), n = static_cast<double>(c.v01.size());
  DelongAuc r;
  r.auc = c.auc;
  r.variance = covariance(c.v10, c.v10) / m + covariance(c.v01, c.v01) / n;
  const double half = normal_quantile(0.5 + confidence / 2) * std::sqrt(r.variance);
  r.lower = std::max(0.0, r.auc - half);
  r.upper = std::min(1.0, r.auc + half);
  return r;
}

DelongTest delong_test(const std::vector<int>& labels, const std::vector<double>& scores_a,
                       const std::vector<double>& scores_b, double confidence) {
  check_binary_inputs(labels, scores_a, "delong_test (model a)");
  check_binary_inputs(labels, scores_b, "delong_test (model b)");
  check_two_classes(labels, "delong_test");
  FRACTURE_CHECK(confidence > 0 && confidence < 1, "delong_test: confidence must be in (0, 1), got ", confidence);
  const Components a = components(labels, scores_a), b = components(labels, scores_b);
  const double m = static_cast<double>(a.v10.size()), n = static_cast<double>(a.v01.size());
  DelongTest t;
  t.auc_a = a.auc;
  t.auc_b = b.auc;
  t.var_a = covariance(a.v10, a.v10) / m + covariance(a.v01, a.v01) / n;
  t.var_b = covariance(b.v10, b.v10) / m + covariance(b.v01, b.v01) / n;
  t.cov_ab = covariance(a.v10, b.v10) / m + covariance(a.v01, b.v01) / n;
  t.diff = t.auc_a - t.auc_b;
  t.var_diff = std::max(0.0, t.var_a + t.var_b - 2 * t.cov_ab);  // clamp rounding below zero
  const double se = std::sqrt(t.var_diff);
  const double half = normal_quantile(0.5 + confidence / 2) * se;
  t.diff_lower = t.diff - half;
  t.diff_upper = t.diff + half;
  if (se > 0) {
    t.z = t.diff / se;
    t.p_value = std::erfc(std::fabs(t.z) / std::sqrt(2.0));  // = 2 (1 - Phi(|z|)), exact in the tail
  } else {
    FRACTURE_CHECK(t.diff == 0, "delong_test: the variance of the AUROC difference is 0 while the difference is ",
                   t.diff, "; the test is not defined for these scores");
    t.z = 0;
    t.p_value = 1;
  }
  return t;
}

DelongTest delong_test_or_nan(const std::vector<int>& labels, const std::vector<double>& a,
                              const std::vector<double>& b, double confidence, std::string* note) {
  if (note) note->clear();
  try {
    return delong_test(labels, a, b, confidence);
  } catch (const Error& e) {
    DelongTest t;
    t.auc_a = roc_auc_score(labels, a);  // throws on bad input, as delong_test would have
    t.auc_b = roc_auc_score(labels, b);
    t.diff = t.auc_a - t.auc_b;
    const double nan = std::nan("");
    t.var_a = t.var_b = t.cov_ab = t.var_diff = t.diff_lower = t.diff_upper = t.z = t.p_value = nan;
    if (note) *note = e.what();
    return t;
  }
}

}  // namespace fracture
