#include "fracture/calibrate/calibrator.h"

#include <cstdio>

#include "fracture/calibrate/logistic.h"
#include "fracture/calibrate/platt.h"
#include "fracture/calibrate/temperature.h"
#include "fracture/core/error.h"

namespace fracture {

CalibrationMethod parse_calibration_method(const std::string& s) {
  if (s == "temperature") return CalibrationMethod::temperature;
  if (s == "platt") return CalibrationMethod::platt;
  if (s == "none" || s == "false") return CalibrationMethod::none;
  FRACTURE_FAIL("key 'calibration': expected temperature, platt or none, got '", s, "'");
}

const char* to_string(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::temperature: return "temperature";
    case CalibrationMethod::platt: return "platt";
    case CalibrationMethod::none: break;
  }
  return "none";
}

double Calibrator::calibrated_logit(double z) const {
  switch (method) {
    case CalibrationMethod::temperature: return z / temperature;
    case CalibrationMethod::platt: return -(a * z + b);
    case CalibrationMethod::none: break;
  }
  return z;
}

std::vector<double> Calibrator::apply(const std::vector<double>& logits) const {
  std::vector<double> p(logits.size());
  for (size_t i = 0; i < p.size(); ++i) p[i] = stable_sigmoid(calibrated_logit(logits[i]));
  return p;
}

std::string Calibrator::describe() const {
  char buf[96];
  switch (method) {
    case CalibrationMethod::temperature: std::snprintf(buf, sizeof buf, "T = %.4g", temperature); break;
    case CalibrationMethod::platt: std::snprintf(buf, sizeof buf, "Platt A = %.4g, B = %.4g", a, b); break;
    case CalibrationMethod::none: return "none (sigmoid of the logit)";
  }
  return buf;
}

namespace {
// Mean -log P(label) with P(1) = sigmoid(u_i), in the softplus form.
double mean_nll(const std::vector<double>& u, const std::vector<int>& y) {
  double s = 0;
  for (size_t i = 0; i < u.size(); ++i) s += y[i] ? softplus(-u[i]) : softplus(u[i]);
  return u.empty() ? 0.0 : s / double(u.size());
}
}  // namespace

Calibrator fit_calibrator(CalibrationMethod method, const std::vector<double>& z, const std::vector<int>& y) {
  FRACTURE_CHECK(z.size() == y.size() && !z.empty(), "calibration: ", z.size(), " logits vs ", y.size(), " labels");
  Calibrator c;
  c.method = method;
  if (method == CalibrationMethod::temperature) {
    const TemperatureFit t = fit_temperature_binary(z, y);
    c.temperature = t.temperature;
    c.at_bound = t.at_bound;
  } else if (method == CalibrationMethod::platt) {
    const PlattFit p = fit_platt(z, y);
    c.a = p.a;
    c.b = p.b;
  }
  std::vector<double> u(z.size());
  for (size_t i = 0; i < z.size(); ++i) u[i] = c.calibrated_logit(z[i]);
  c.nll_before = mean_nll(z, y);
  c.nll_after = mean_nll(u, y);
  return c;
}

}  // namespace fracture
