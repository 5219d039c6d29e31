// Platt scaling (Platt 1999, "Probabilistic outputs for support vector machines"), as scikit-learn's
// CalibratedClassifierCV(method="sigmoid") fits it (sklearn.calibration._sigmoid_calibration):
// p = 1 / (1 + exp(A z + B)) on held-out logits z, minimising the cross-entropy against Platt's
// smoothed targets (y = 1 -> (N+ + 1) / (N+ + 2), y = 0 -> 1 / (N- + 2)). Unlike a temperature,
// the bias B removes a constant shift of the logits, such as the log(pos_weight) that class-weighted
// training adds. Never fit on test data.
//
//   fracture::PlattFit fit = fracture::fit_platt(val_logits, val_labels);
//   std::vector<double> p = fracture::apply_platt(test_logits, fit);   // calibrated P(fractured)
//
// Solver: the objective is convex in (A, B); Newton steps with a backtracking line search from
// scikit-learn's start (A = 0, B = log((N- + 1) / (N+ + 1))) to |gradient| < 1e-12.
#pragma once
#include <vector>

namespace fracture {

struct PlattFit {
  double a = -1.0, b = 0.0;  ///< p = 1 / (1 + exp(a z + b)); a < 0 when the logits rank correctly
  double loss = 0;           ///< the minimised mean cross-entropy against the smoothed targets
  int iterations = 0;
};

/// Throws fracture::Error on mismatched sizes, labels other than 0/1, or a single class.
PlattFit fit_platt(const std::vector<double>& logits, const std::vector<int>& labels);
std::vector<double> apply_platt(const std::vector<double>& logits, const PlattFit& fit);

/// Calibration intercept and slope of probabilities p against outcomes y (Cox 1958; Van Calster
/// et al. 2019): slope b and its intercept from the logistic regression y ~ a + b logit(p);
/// calibration-in-the-large: a' in y ~ a' + offset(logit(p)) (slope fixed at 1). Perfect
/// calibration: a' = 0, b = 1; b < 1 means predictions too extreme, a' < 0 predictions too high.
/// p is clipped to [1e-12, 1 - 1e-12]. Throws fracture::Error on bad input or a single class.
struct CalibrationLine {
  double intercept_in_the_large = 0;  ///< a' (slope 1)
  double slope = 1;                   ///< b
  double slope_intercept = 0;         ///< a, fitted with b
};
CalibrationLine calibration_line(const std::vector<int>& labels, const std::vector<double>& probs);

}  // namespace fracture
