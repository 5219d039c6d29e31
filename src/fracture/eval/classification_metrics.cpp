#include "fracture/eval/classification_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fracture/core/error.h"

namespace fracture {

namespace {

// Counts at each distinct score, scores taken in decreasing order (sklearn's _binary_clf_curve):
// fps[k], tps[k] = negatives / positives with score >= thresholds[k].
struct ClfCurve {
  std::vector<double> fps, tps, thresholds;
};

ClfCurve binary_clf_curve(const std::vector<int>& labels, const std::vector<double>& scores) {
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  ClfCurve c;
  double tp = 0, fp = 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = order[k];
    if (labels[i] == 1) tp += 1; else fp += 1;
    // emit a point at the last case of each group of tied scores
    if (k + 1 == n || scores[order[k + 1]] != scores[i]) {
      c.fps.push_back(fp);
      c.tps.push_back(tp);
      c.thresholds.push_back(scores[i]);
    }
  }
  return c;
}

void count_classes(const std::vector<int>& labels, int64_t& pos, int64_t& neg) {
  pos = 0;
  for (int y : labels) pos += y;
  neg = static_cast<int64_t>(labels.size()) - pos;
}

}  // namespace

void check_binary_inputs(const std::vector<int>& labels, const std::vector<double>& scores, const char* what) {
  FRACTURE_CHECK(labels.size() == scores.size(), what, ": labels and scores differ in length (", labels.size(),
                 " labels, ", scores.size(), " scores)");
  FRACTURE_CHECK(!labels.empty(), what, ": no cases (empty labels and scores)");
  for (size_t i = 0; i < labels.size(); ++i) {
    FRACTURE_CHECK(labels[i] == 0 || labels[i] == 1, what, ": label at index ", i, " is ", labels[i],
                   ", expected 0 or 1");
    FRACTURE_CHECK(std::isfinite(scores[i]), what, ": score at index ", i, " is ", scores[i],
                   ", expected a finite number (NaN and infinity are rejected)");
  }
}

RocCurve roc_curve(const std::vector<int>& labels, const std::vector<double>& scores) {
  check_binary_inputs(labels, scores, "roc_curve");
  int64_t pos, neg;
  count_classes(labels, pos, neg);
  FRACTURE_CHECK(pos > 0 && neg > 0, "roc_curve: only one class present in labels (", pos, " positive, ", neg,
                 " negative); the ROC curve needs both");
  ClfCurve c = binary_clf_curve(labels, scores);
  // drop_intermediate: keep the ends and every point where the second difference of fps or tps
  // is non-zero (points in the middle of a straight horizontal or vertical run are dropped).
  std::vector<size_t> keep;
  const size_t m = c.fps.size();
  if (m > 2) {
    keep.push_back(0);
    for (size_t k = 1; k + 1 < m; ++k) {
      const double dfps = c.fps[k + 1] - 2 * c.fps[k] + c.fps[k - 1];
      const double dtps = c.tps[k + 1] - 2 * c.tps[k] + c.tps[k - 1];
      if (dfps != 0 || dtps != 0) keep.push_back(k);
    }
    keep.push_back(m - 1);
  } else {
    for (size_t k = 0; k < m; ++k) keep.push_back(k);
  }
  RocCurve r;
  const double fps_total = c.fps.back(), tps_total = c.tps.back();
  r.fpr.push_back(0.0);
  r.tpr.push_back(0.0);
  r.thresholds.push_back(c.thresholds[keep[0]] + 1.0);  // sklearn 1.2.1; >= 1.3 writes +inf
  for (size_t k : keep) {
    r.fpr.push_back(c.fps[k] / fps_total);
    r.tpr.push_back(c.tps[k] / tps_total);
    r.thresholds.push_back(c.thresholds[k]);
  }
  return r;
}

double roc_auc_score(const std::vector<int>& labels, const std::vector<double>& scores) {
  check_binary_inputs(labels, scores, "roc_auc_score");
  int64_t pos, neg;
  count_classes(labels, pos, neg);
  FRACTURE_CHECK(pos > 0 && neg > 0, "roc_auc_score: only one class present in labels (", pos, " positive, ", neg,
                 " negative); AUROC is not defined in that case");
  RocCurve r = roc_curve(labels, scores);
  double area = 0;
  for (size_t k = 1; k < r.fpr.size(); ++k) area += (r.fpr[k] - r.fpr[k - 1]) * (r.tpr[k] + r.tpr[k - 1]) / 2.0;
  return area;
}

PrCurve precision_recall_curve(const std::vector<int>& labels, const std::vector<double>& scores) {
  check_binary_inputs(labels, scores, "precision_recall_curve");
  int64_t pos, neg;
  count_classes(labels, pos, neg);
  FRACTURE_CHECK(pos > 0, "precision_recall_curve: no positive case in labels (", neg,
                 " negatives); recall is not defined");
  ClfCurve c = binary_clf_curve(labels, scores);
  PrCurve p;
  const double tps_total = c.tps.back();
  // reversed: increasing thresholds, decreasing recall
  for (size_t k = c.tps.size(); k-- > 0;) {
    const double predicted = c.tps[k] + c.fps[k];  // >= 1 always: every threshold is an observed score
    p.precision.push_back(c.tps[k] / predicted);
    p.recall.push_back(c.tps[k] / tps_total);
    p.thresholds.push_back(c.thresholds[k]);
  }
  p.precision.push_back(1.0);
  p.recall.push_back(0.0);
  return p;
}

double average_precision_score(const std::vector<int>& labels, const std::vector<double>& scores) {
  check_binary_inputs(labels, scores, "average_precision_score");
  int64_t pos, neg;
  count_classes(labels, pos, neg);
  FRACTURE_CHECK(pos > 0, "average_precision_score: no positive case in labels (", neg,
                 " negatives); average precision is not defined");
  PrCurve p = precision_recall_curve(labels, scores);
  // step sum: sum over points of (recall drop) * precision at the higher-recall point
  double ap = 0;
  for (size_t k = 0; k + 1 < p.recall.size(); ++k) ap += (p.recall[k] - p.recall[k + 1]) * p.precision[k];
  return ap;
}

double brier_score_loss(const std::vector<int>& labels, const std::vector<double>& probs) {
  check_binary_inputs(labels, probs, "brier_score_loss");
  double s = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    FRACTURE_CHECK(probs[i] >= 0.0 && probs[i] <= 1.0, "brier_score_loss: probability at index ", i, " is ",
                   probs[i], ", expected a value in [0, 1]");
    const double d = probs[i] - labels[i];
    s += d * d;
  }
  return s / static_cast<double>(probs.size());
}

Confusion confusion_at(const std::vector<int>& labels, const std::vector<double>& scores, double threshold) {
  check_binary_inputs(labels, scores, "confusion_at");
  FRACTURE_CHECK(!std::isnan(threshold), "confusion_at: threshold is NaN");
  Confusion c;
  for (size_t i = 0; i < labels.size(); ++i) {
    const bool predicted = scores[i] >= threshold;
    if (labels[i] == 1) {
      if (predicted) ++c.tp; else ++c.fn;
    } else {
      if (predicted) ++c.fp; else ++c.tn;
    }
  }
  return c;
}

ThresholdMetrics metrics_from_counts(const Confusion& c, double threshold) {
  ThresholdMetrics m;
  m.threshold = threshold;
  m.counts = c;
  const double tp = static_cast<double>(c.tp), fp = static_cast<double>(c.fp);
  const double tn = static_cast<double>(c.tn), fn = static_cast<double>(c.fn);
  const double n = tp + fp + tn + fn;
  m.accuracy = n > 0 ? (tp + tn) / n : 0.0;
  m.precision = tp + fp > 0 ? tp / (tp + fp) : 0.0;      // no predicted positive: 0
  m.recall = tp + fn > 0 ? tp / (tp + fn) : 0.0;         // no positive case: 0
  m.specificity = tn + fp > 0 ? tn / (tn + fp) : 0.0;    // no negative case: 0
  m.f1 = 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0.0;
  return m;
}

ThresholdMetrics metrics_at_threshold(const std::vector<int>& labels, const std::vector<double>& scores,
                                      double threshold) {
  return metrics_from_counts(confusion_at(labels, scores, threshold), threshold);
}

}  // namespace fracture
