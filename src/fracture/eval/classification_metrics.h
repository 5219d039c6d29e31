// Binary classification metrics with scikit-learn 1.2.1 semantics (the version Debian ships and the
// oracle tests run against). Labels are 0/1 (1 = fractured), scores are any finite reals (higher =
// more likely positive; probabilities for the Brier score).
//
//   std::vector<int> y = {0, 0, 1, 1};
//   std::vector<double> p = {0.1, 0.4, 0.35, 0.8};
//   double auc = fracture::roc_auc_score(y, p);                        // 0.75
//   double ap  = fracture::average_precision_score(y, p);              // 0.8333...
//   fracture::ThresholdMetrics m = fracture::metrics_at_threshold(y, p, 0.5);  // predict 1 when p >= 0.5
//   m.recall, m.specificity, m.f1 ...
//
// Every function checks its input: equal sizes, at least one case, labels in {0, 1}, no NaN or
// infinite score; a violation throws fracture::Error naming the argument and the offending index.
#pragma once
#include <cstdint>
#include <vector>

namespace fracture {

/// ROC curve as sklearn.metrics.roc_curve(drop_intermediate=True) in sklearn 1.2.1:
/// thresholds decreasing, thresholds[0] = max score + 1 (sklearn >= 1.3 uses +inf instead), the
/// point (0, 0) first, collinear interior points dropped.
struct RocCurve {
  std::vector<double> fpr;
  std::vector<double> tpr;
  std::vector<double> thresholds;
};

/// Precision-recall curve as sklearn.metrics.precision_recall_curve in sklearn 1.2.1: one entry per
/// distinct score in increasing threshold order, then the final point (precision 1, recall 0) that
/// has no threshold (so thresholds.size() == precision.size() - 1).
struct PrCurve {
  std::vector<double> precision;
  std::vector<double> recall;
  std::vector<double> thresholds;
};

/// Confusion counts at one threshold (predict positive when score >= threshold).
struct Confusion {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
};

/// Metrics at one threshold. 0/0 conventions (sklearn's zero_division default, which warns and
/// returns 0): precision = 0 with no predicted positive, recall = 0 with no positive case,
/// specificity = 0 with no negative case, F1 = 2tp / (2tp + fp + fn) = 0 when tp = fp = fn = 0.
struct ThresholdMetrics {
  double threshold = 0.5;
  Confusion counts;
  double accuracy = 0;     ///< (tp + tn) / n
  double precision = 0;    ///< tp / (tp + fp)   (positive predictive value)
  double recall = 0;       ///< tp / (tp + fn)   (sensitivity)
  double specificity = 0;  ///< tn / (tn + fp)
  double f1 = 0;           ///< 2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall
};

/// Checks sizes, labels in {0, 1} and finite scores; throws fracture::Error naming `what` otherwise.
void check_binary_inputs(const std::vector<int>& labels, const std::vector<double>& scores, const char* what);

/// Area under the ROC curve: trapezoid rule on roc_curve (tied scores form one threshold), equal to
/// the Mann-Whitney U statistic with midranks / (n_pos * n_neg). Throws fracture::Error when only
/// one class is present (sklearn raises ValueError there).
double roc_auc_score(const std::vector<int>& labels, const std::vector<double>& scores);

/// ROC curve (see RocCurve). Throws fracture::Error when only one class is present (sklearn warns
/// and returns NaN rates there).
RocCurve roc_curve(const std::vector<int>& labels, const std::vector<double>& scores);

/// Average precision, the step sum  sum_n (R_n - R_{n-1}) P_n  over distinct thresholds (no
/// interpolation, no trapezoid). Throws fracture::Error when there is no positive case (sklearn
/// warns, sets recall to 1 and returns 0 there: we refuse instead of reporting a made-up value).
double average_precision_score(const std::vector<int>& labels, const std::vector<double>& scores);

/// Precision-recall curve (see PrCurve). Throws fracture::Error when there is no positive case.
PrCurve precision_recall_curve(const std::vector<int>& labels, const std::vector<double>& scores);

/// Brier score: mean (p - y)^2. Probabilities must lie in [0, 1] (sklearn 1.2.1 raises otherwise).
double brier_score_loss(const std::vector<int>& labels, const std::vector<double>& probs);

/// Confusion counts when predicting 1 for score >= threshold.
Confusion confusion_at(const std::vector<int>& labels, const std::vector<double>& scores, double threshold);

/// Derived metrics from counts with the 0/0 conventions of ThresholdMetrics.
ThresholdMetrics metrics_from_counts(const Confusion& c, double threshold);

/// confusion_at + metrics_from_counts.
ThresholdMetrics metrics_at_threshold(const std::vector<int>& labels, const std::vector<double>& scores,
                                      double threshold);

}  // namespace fracture
