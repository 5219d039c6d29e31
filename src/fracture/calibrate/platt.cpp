#include "fracture/calibrate/platt.h"

#include <algorithm>
#include <cmath>

#include "fracture/calibrate/logistic.h"
#include "fracture/core/error.h"

namespace fracture {

namespace {

void check_inputs(const std::vector<double>& x, const std::vector<int>& y, const char* who, int& pos, int& neg) {
  FRACTURE_CHECK(x.size() == y.size() && !x.empty(), who, ": ", x.size(), " scores vs ", y.size(), " labels");
  pos = neg = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    FRACTURE_CHECK(y[i] == 0 || y[i] == 1, who, ": label at index ", i, " is ", y[i], ", expected 0 or 1");
    FRACTURE_CHECK(std::isfinite(x[i]), who, ": score at index ", i, " is not finite");
    (y[i] ? pos : neg)++;
  }
  FRACTURE_CHECK(pos > 0 && neg > 0, who, ": needs both classes, got ", pos, " positive and ", neg, " negative");
}

// Mean cross-entropy of sigmoid(w0 + w1 x) against targets t, with its gradient and Hessian in
// (w0, w1) (w1 held fixed when !fit_slope): a two-parameter logistic regression.
struct Logistic {
  const std::vector<double>& x;
  const std::vector<double>& t;
  double value(double w0, double w1) const {
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double u = w0 + w1 * x[i];
      s += t[i] * softplus(-u) + (1 - t[i]) * softplus(u);
    }
    return s / double(x.size());
  }
  // Newton to |gradient| < tol with backtracking; returns iterations.
  int minimise(double& w0, double& w1, bool fit_slope, double tol = 1e-12, int max_iter = 200) const {
    const double n = double(x.size());
    for (int it = 1; it <= max_iter; ++it) {
      double g0 = 0, g1 = 0, h00 = 0, h01 = 0, h11 = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        const double u = w0 + w1 * x[i], p = stable_sigmoid(u), r = p - t[i],
                     v = std::max(p * (1 - p), 1e-300);
        g0 += r, g1 += r * x[i];
        h00 += v, h01 += v * x[i], h11 += v * x[i] * x[i];
      }
      g0 /= n, g1 /= n, h00 /= n, h01 /= n, h11 /= n;
      if (std::fabs(g0) < tol && (!fit_slope || std::fabs(g1) < tol)) return it;
      double d0, d1 = 0;
      if (fit_slope) {
        const double det = h00 * h11 - h01 * h01;
        if (!(det > 1e-300)) return it;  // separable or degenerate: keep the last finite point
        d0 = (h11 * g0 - h01 * g1) / det;
        d1 = (h00 * g1 - h01 * g0) / det;
      } else {
        d0 = g0 / h00;
      }
      // Newton decrement g'H^-1 g: twice the objective's distance to its quadratic model's minimum.
      // Below 1e-16 that distance is under the rounding of the objective (~1e-16 for values near 1),
      // where the line search can no longer see a decrease and would crawl by rounding noise: take the
      // full Newton step (quadratic convergence from here) and stop.
      if (g0 * d0 + g1 * d1 < 1e-16) {
        w0 -= d0, w1 -= d1;
        return it;
      }
      const double f0 = value(w0, w1);
      double step = 1.0;
      while (step > 1e-12 && !(value(w0 - step * d0, w1 - step * d1) < f0)) step *= 0.5;
      if (step <= 1e-12) return it;
      w0 -= step * d0, w1 -= step * d1;
    }
    return max_iter;
  }
};

}  // namespace

PlattFit fit_platt(const std::vector<double>& logits, const std::vector<int>& labels) {
  int pos = 0, neg = 0;
  check_inputs(logits, labels, "fit_platt", pos, neg);
  const double hi = (pos + 1.0) / (pos + 2.0), lo = 1.0 / (neg + 2.0);
  std::vector<double> t(labels.size());
  for (size_t i = 0; i < t.size(); ++i) t[i] = labels[i] ? hi : lo;
  // sklearn's parameters: p = 1 / (1 + exp(A z + B)) = sigmoid(-B - A z), so w0 = -B, w1 = -A.
  double w0 = -std::log((neg + 1.0) / (pos + 1.0)), w1 = 0;
  const Logistic lr{logits, t};
  PlattFit f;
  f.iterations = lr.minimise(w0, w1, /*fit_slope=*/true);
  f.a = -w1;
  f.b = -w0;
  f.loss = lr.value(w0, w1);
  return f;
}

std::vector<double> apply_platt(const std::vector<double>& logits, const PlattFit& fit) {
  std::vector<double> p(logits.size());
  for (size_t i = 0; i < p.size(); ++i) p[i] = stable_sigmoid(-(fit.a * logits[i] + fit.b));
  return p;
}

CalibrationLine calibration_line(const std::vector<int>& labels, const std::vector<double>& probs) {
  int pos = 0, neg = 0;
  check_inputs(probs, labels, "calibration_line", pos, neg);
  std::vector<double> lp(probs.size()), t(labels.begin(), labels.end());
  for (size_t i = 0; i < lp.size(); ++i) {
    FRACTURE_CHECK(probs[i] >= 0 && probs[i] <= 1, "calibration_line: probability at index ", i, " is ", probs[i],
                   ", expected [0, 1]");
    const double p = std::min(std::max(probs[i], 1e-12), 1 - 1e-12);
    lp[i] = std::log(p / (1 - p));
  }
  CalibrationLine c;
  double a = 0, b = 1;
  const Logistic lr{lp, t};
  lr.minimise(a, b, /*fit_slope=*/true);
  c.slope_intercept = a;
  c.slope = b;
  double a1 = 0, one = 1;  // the same regression with the slope held at 1: logit(p) as an offset
  lr.minimise(a1, one, /*fit_slope=*/false);
  c.intercept_in_the_large = a1;
  return c;
}

}  // namespace fracture
