#include "fracture/calibrate/temperature.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "fracture/calibrate/logistic.h"
#include "fracture/core/error.h"
#include "fracture/eval/classification_metrics.h"

namespace fracture {

namespace {

// Gradient and second derivative of the mean NLL with respect to beta = 1/T.
using GradHess = std::function<void(double beta, double& g, double& h)>;

void check_options(const TemperatureOptions& o) {
  FRACTURE_CHECK(o.min_temperature > 0 && o.min_temperature < o.max_temperature,
                 "temperature scaling: need 0 < min_temperature < max_temperature, got ", o.min_temperature, " and ",
                 o.max_temperature);
  FRACTURE_CHECK(o.init > 0, "temperature scaling: init must be > 0, got ", o.init);
  FRACTURE_CHECK(o.max_iterations > 0, "temperature scaling: max_iterations must be > 0");
}

// Root of the (increasing) gradient in beta on [1/max_T, 1/min_T]: safeguarded Newton.
void solve_beta(const GradHess& grad_hess, const TemperatureOptions& o, TemperatureFit& fit) {
  double lo = 1.0 / o.max_temperature, hi = 1.0 / o.min_temperature;
  double g, h;
  grad_hess(lo, g, h);
  if (g >= 0) {  // NLL still falling as T grows past max_T
    fit.temperature = o.max_temperature;
    fit.at_bound = true;
    return;
  }
  grad_hess(hi, g, h);
  if (g <= 0) {  // NLL still falling as T shrinks below min_T (separable data)
    fit.temperature = o.min_temperature;
    fit.at_bound = true;
    return;
  }
  double beta = std::min(std::max(1.0 / o.init, lo), hi);
  for (fit.iterations = 1; fit.iterations <= o.max_iterations; ++fit.iterations) {
    grad_hess(beta, g, h);
    if (std::fabs(g) < o.tolerance) break;
    if (g < 0) lo = beta; else hi = beta;
    if (hi - lo <= 1e-15 * hi) break;
    const double newton = beta - g / h;
    beta = (h > 0 && newton > lo && newton < hi) ? newton : 0.5 * (lo + hi);
  }
  fit.temperature = 1.0 / beta;
}

void check_multiclass(const std::vector<double>& logits, int num_classes, const std::vector<int>& labels,
                      const char* what) {
  FRACTURE_CHECK(num_classes >= 2, what, ": num_classes must be >= 2, got ", num_classes);
  FRACTURE_CHECK(logits.size() == labels.size() * static_cast<size_t>(num_classes), what, ": ", logits.size(),
                 " logits for ", labels.size(), " labels and ", num_classes, " classes (expected N * C)");
  FRACTURE_CHECK(!labels.empty(), what, ": no cases");
  for (size_t i = 0; i < labels.size(); ++i)
    FRACTURE_CHECK(labels[i] >= 0 && labels[i] < num_classes, what, ": label at index ", i, " is ", labels[i],
                   ", expected 0..", num_classes - 1);
  for (size_t i = 0; i < logits.size(); ++i)
    FRACTURE_CHECK(std::isfinite(logits[i]), what, ": logit at flat index ", i, " is not finite");
}

// softmax of beta * row into p; returns log-sum-exp of beta * row
double softmax_row(const double* row, int c, double beta, std::vector<double>& p) {
  double mx = row[0] * beta;
  for (int k = 1; k < c; ++k) mx = std::max(mx, row[k] * beta);
  double s = 0;
  for (int k = 0; k < c; ++k) {
    p[k] = std::exp(row[k] * beta - mx);
    s += p[k];
  }
  for (int k = 0; k < c; ++k) p[k] /= s;
  return mx + std::log(s);
}

}  // namespace

double binary_nll(const std::vector<double>& logits, const std::vector<int>& labels, double temperature) {
  check_binary_inputs(labels, logits, "binary_nll");
  FRACTURE_CHECK(temperature > 0, "binary_nll: temperature must be > 0, got ", temperature);
  double s = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double a = logits[i] / temperature;
    s += softplus(a) - labels[i] * a;  // -y log sigmoid(a) - (1 - y) log(1 - sigmoid(a))
  }
  return s / static_cast<double>(logits.size());
}

std::vector<double> apply_temperature_binary(const std::vector<double>& logits, double temperature) {
  FRACTURE_CHECK(temperature > 0, "apply_temperature_binary: temperature must be > 0, got ", temperature);
  std::vector<double> p(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) p[i] = stable_sigmoid(logits[i] / temperature);
  return p;
}

TemperatureFit fit_temperature_binary(const std::vector<double>& logits, const std::vector<int>& labels,
                                      const TemperatureOptions& options) {
  check_binary_inputs(labels, logits, "fit_temperature_binary");
  check_options(options);
  TemperatureFit fit;
  const double n = static_cast<double>(logits.size());
  auto grad_hess = [&](double beta, double& g, double& h) {
    g = 0;
    h = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      const double z = logits[i], s = stable_sigmoid(beta * z);
      g += (s - labels[i]) * z;
      h += s * (1 - s) * z * z;
    }
    g /= n;
    h /= n;
  };
  solve_beta(grad_hess, options, fit);
  fit.nll_before = binary_nll(logits, labels, 1.0);
  fit.nll_after = binary_nll(logits, labels, fit.temperature);
  return fit;
}

double multiclass_nll(const std::vector<double>& logits, int num_classes, const std::vector<int>& labels,
                      double temperature) {
  check_multiclass(logits, num_classes, labels, "multiclass_nll");
  FRACTURE_CHECK(temperature > 0, "multiclass_nll: temperature must be > 0, got ", temperature);
  std::vector<double> p(num_classes);
  double s = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const double* row = &logits[i * num_classes];
    s += softmax_row(row, num_classes, 1.0 / temperature, p) - row[labels[i]] / temperature;
  }
  return s / static_cast<double>(labels.size());
}

std::vector<double> apply_temperature_multiclass(const std::vector<double>& logits, int num_classes,
                                                 double temperature) {
  FRACTURE_CHECK(num_classes >= 1 && logits.size() % num_classes == 0, "apply_temperature_multiclass: ",
                 logits.size(), " logits do not split into rows of ", num_classes);
  FRACTURE_CHECK(temperature > 0, "apply_temperature_multiclass: temperature must be > 0, got ", temperature);
  std::vector<double> out(logits.size()), p(num_classes);
  for (size_t i = 0; i < logits.size() / num_classes; ++i) {
    softmax_row(&logits[i * num_classes], num_classes, 1.0 / temperature, p);
    for (int k = 0; k < num_classes; ++k) out[i * num_classes + k] = p[k];
  }
  return out;
}

TemperatureFit fit_temperature_multiclass(const std::vector<double>& logits, int num_classes,
                                          const std::vector<int>& labels, const TemperatureOptions& options) {
  check_multiclass(logits, num_classes, labels, "fit_temperature_multiclass");
  check_options(options);
  TemperatureFit fit;
  const double n = static_cast<double>(labels.size());
  std::vector<double> p(num_classes);
  auto grad_hess = [&](double beta, double& g, double& h) {
    g = 0;
    h = 0;
    for (size_t i = 0; i < labels.size(); ++i) {
      const double* row = &logits[i * num_classes];
      softmax_row(row, num_classes, beta, p);
      double mean_z = 0, mean_z2 = 0;  // E_p[z], E_p[z^2]
      for (int k = 0; k < num_classes; ++k) {
        mean_z += p[k] * row[k];
        mean_z2 += p[k] * row[k] * row[k];
      }
      g += mean_z - row[labels[i]];
      h += mean_z2 - mean_z * mean_z;
    }
    g /= n;
    h /= n;
  };
  solve_beta(grad_hess, options, fit);
  fit.nll_before = multiclass_nll(logits, num_classes, labels, 1.0);
  fit.nll_after = multiclass_nll(logits, num_classes, labels, fit.temperature);
  return fit;
}

}  // namespace fracture
