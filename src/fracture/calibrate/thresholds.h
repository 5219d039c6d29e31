// Choosing a decision threshold on (labels, scores), e.g. on inner held-out predictions of nested
// cross-validation, to be applied unchanged to the outer test fold.
//
//   fracture::ThresholdChoice c = fracture::choose_threshold(labels, probs, fracture::ThresholdCriterion::sensitivity, 0.90);
//   double t = c.metrics.threshold;                  // predict fractured when p >= t
//   fracture::ThresholdMetrics outer = fracture::metrics_at_threshold(test_y, test_p, t);
//
// Candidates: every distinct score (predict 1 when score >= t) plus one value just above the
// largest score (std::nextafter, "predict nothing positive"). Criteria and tie-breaking:
//   youden       max TPR - FPR (Youden's J); ties -> the highest threshold
//   max_f1       max F1; ties -> the highest threshold
//   sensitivity  the highest threshold with recall >= target (most specific one meeting it)
//   specificity  the lowest threshold with specificity >= target (most sensitive one meeting it)
//   precision    the lowest threshold with precision >= target (most sensitive one meeting it);
//                fracture::Error when no threshold reaches the target
//   fixed        the given threshold (target = t), no search
// Youden and F1 are compared in exact integer arithmetic, so ties are exact ties. Sensitivity,
// specificity and precision are compared as the same double that metrics_at_threshold reports.
#pragma once
#include <string>
#include <vector>

#include "fracture/eval/classification_metrics.h"

namespace fracture {

enum class ThresholdCriterion { youden, max_f1, sensitivity, specificity, precision, fixed };

/// "youden", "max_f1", "sensitivity", "specificity", "precision", "fixed"; fracture::Error otherwise.
ThresholdCriterion threshold_criterion_from_string(const std::string& name);
std::string to_string(ThresholdCriterion c);

struct ThresholdChoice {
  ThresholdCriterion criterion = ThresholdCriterion::youden;
  double target = 0;         ///< the target (sensitivity/specificity/precision) or fixed threshold; 0 otherwise
  ThresholdMetrics metrics;  ///< metrics.threshold is the chosen threshold
};

/// Needs both classes for youden and specificity/sensitivity, a positive for max_f1 and precision;
/// targets in (0, 1]. Throws fracture::Error otherwise.
ThresholdChoice choose_threshold(const std::vector<int>& labels, const std::vector<double>& scores,
                                 ThresholdCriterion criterion, double target = 0);

}  // namespace fracture
