// L2-penalised logistic regression as scikit-learn's LogisticRegression() fits it by default
// (penalty="l2", C=1.0, fit_intercept=True, the intercept not penalised, lbfgs): it minimises
//   0.5 ||w||^2 + C sum_i [ -y_i log p_i - (1 - y_i) log(1 - p_i) ],   p_i = sigmoid(b + w . x_i).
// The study fuses a classifier's and a detector's scores with it (a few features, hundreds of
// cases); the penalty keeps the fit finite on separable validation data.
//
//   fracture::LogisticRegressionFit f = fracture::fit_logistic_regression({{0.2, -1.0}, {1.5, 0.3}, {-0.7, 0.1}}, {0, 1, 0});
//   double p = fracture::stable_sigmoid(fracture::logistic_regression_logit(f, {0.9, 0.2}));
//
// Solver: Newton on (b, w) with a backtracking line search, stopped when the Newton decrement falls
// under rounding (as platt.h); the objective is strictly convex in w and, with both classes, in b.
#pragma once
#include <vector>

#include "fracture/calibrate/logistic.h"

namespace fracture {

struct LogisticRegressionFit {
  std::vector<double> coef;  ///< w, one per feature
  double intercept = 0;      ///< b
  int iterations = 0;
};

/// rows: one feature vector per case, all of one length >= 1; labels 0/1 with both classes; C > 0.
/// Throws fracture::Error naming the row on ragged or non-finite input.
LogisticRegressionFit fit_logistic_regression(const std::vector<std::vector<double>>& rows,
                                              const std::vector<int>& labels, double C = 1.0);
/// b + w . row.
double logistic_regression_logit(const LogisticRegressionFit& fit, const std::vector<double>& row);

}  // namespace fracture
