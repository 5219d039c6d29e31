// The calibration map of a trained classifier, from its logit z to P(fractured), fitted on held-out
// validation logits by the method of the config key `calibration`:
//   temperature  sigmoid(z / T)            temperature.h (Guo et al. 2017): rescales, keeps the ranking
//                                          and keeps p = 0.5 at z = 0, so it cannot remove a shift
//   platt        1 / (1 + exp(A z + B))    platt.h (Platt 1999, as scikit-learn fits it): the bias B
//                                          also removes a constant shift, such as the log(pos_weight)
//                                          that class-weighted training adds to every logit
//   none         sigmoid(z)
// Never fit on test data.
//
//   fracture::Calibrator c = fracture::fit_calibrator(fracture::CalibrationMethod::platt, val_logits, val_labels);
//   std::vector<double> p = c.apply(test_logits);       // calibrated P(fractured)
//   std::printf("%s\n", c.describe().c_str());          // "Platt A = -0.812, B = 1.23"
#pragma once
#include <string>
#include <vector>

namespace fracture {

enum class CalibrationMethod { temperature, platt, none };

/// "temperature", "platt" or "none"; anything else throws fracture::Error naming key `calibration`.
CalibrationMethod parse_calibration_method(const std::string& text);
const char* to_string(CalibrationMethod method);

struct Calibrator {
  CalibrationMethod method = CalibrationMethod::none;
  double temperature = 1;     ///< method temperature: T (1 otherwise)
  double a = -1, b = 0;       ///< method platt: p = 1 / (1 + exp(a z + b)) (a = -1, b = 0 otherwise)
  bool at_bound = false;      ///< method temperature: T stopped at a bound (temperature.h)
  double nll_before = 0;      ///< mean NLL of sigmoid(z) on the fitting data
  double nll_after = 0;       ///< mean NLL of the calibrated p on the fitting data

  /// The calibrated log-odds: z / T, -(a z + b), or z.
  double calibrated_logit(double logit) const;
  std::vector<double> apply(const std::vector<double>& logits) const;
  /// "T = 1.234", "Platt A = -0.812, B = 1.23" or "none (sigmoid of the logit)".
  std::string describe() const;
};

/// Fits `method` on (logits, labels); method none fits nothing (it records the NLL). Throws
/// fracture::Error on mismatched sizes, labels other than 0/1 or a single class (not for none).
Calibrator fit_calibrator(CalibrationMethod method, const std::vector<double>& logits, const std::vector<int>& labels);

}  // namespace fracture
