// Temperature scaling (Guo, Pleiss, Sun & Weinberger 2017, "On Calibration of Modern Neural
// Networks"): one scalar T > 0 fitted on held-out validation logits by minimising the mean
// negative log-likelihood of sigmoid(z / T) (binary) or softmax(z / T) (multi-class). Dividing by T
// never changes the ranking, so AUROC, AP and accuracy at 0.5 are unchanged. Never fit T on test data.
//
//   fracture::TemperatureFit fit = fracture::fit_temperature_binary(val_logits, val_labels);
//   std::vector<double> p = fracture::apply_temperature_binary(test_logits, fit.temperature);
//
// Solver: the NLL is convex in beta = 1/T (logistic regression through the origin with one weight),
// so the optimum is the root of its derivative. We run Newton on beta from T = 1.5 (the paper's
// init), safeguarded by bisection on a bracket, to |gradient| < 1e-12. T is bounded to
// [0.05, 100]: on separable data the NLL keeps falling as T -> 0, so the fit stops at T = 0.05 and
// reports `at_bound`; likewise T = 100 when the logits carry no information (or the wrong sign).
#pragma once
#include <vector>

namespace fracture {

struct TemperatureFit {
  double temperature = 1.0;  ///< fitted T in [min_temperature, max_temperature]
  double nll_before = 0;     ///< mean NLL at T = 1
  double nll_after = 0;      ///< mean NLL at the fitted T
  int iterations = 0;        ///< Newton/bisection steps taken
  bool at_bound = false;     ///< the optimum lies at (or beyond) a bound
};

struct TemperatureOptions {
  double init = 1.5;              ///< starting T (Guo et al. 2017)
  double min_temperature = 0.05;  ///< lower bound on T (separable data)
  double max_temperature = 100;   ///< upper bound on T
  int max_iterations = 200;
  double tolerance = 1e-12;       ///< stop when |d NLL / d beta| falls below this
};

/// Binary: logits z (one per case, log-odds of the positive class), labels 0/1.
TemperatureFit fit_temperature_binary(const std::vector<double>& logits, const std::vector<int>& labels,
                                      const TemperatureOptions& options = {});
/// sigmoid(z / T) per case.
std::vector<double> apply_temperature_binary(const std::vector<double>& logits, double temperature);
/// Mean NLL of sigmoid(z / T) (numerically stable softplus form).
double binary_nll(const std::vector<double>& logits, const std::vector<int>& labels, double temperature);

/// Multi-class: logits row-major (N, C), labels in [0, C).
TemperatureFit fit_temperature_multiclass(const std::vector<double>& logits, int num_classes,
                                          const std::vector<int>& labels, const TemperatureOptions& options = {});
/// softmax(z / T) per row, row-major (N, C).
std::vector<double> apply_temperature_multiclass(const std::vector<double>& logits, int num_classes,
                                                 double temperature);
/// Mean cross-entropy of softmax(z / T).
double multiclass_nll(const std::vector<double>& logits, int num_classes, const std::vector<int>& labels,
                      double temperature);

}  // namespace fracture
