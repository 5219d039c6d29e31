#include "fracture/calibrate/logistic_regression.h"

#include <cmath>

#include "fracture/core/error.h"

namespace fracture {

namespace {

// Solves the symmetric positive-definite system H d = g (small: features + 1) by Gaussian
// elimination with partial pivoting; false when singular.
bool solve(std::vector<std::vector<double>> h, std::vector<double> g, std::vector<double>& d) {
  const size_t n = g.size();
  for (size_t c = 0; c < n; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::fabs(h[r][c]) > std::fabs(h[piv][c])) piv = r;
    if (!(std::fabs(h[piv][c]) > 1e-300)) return false;
    std::swap(h[c], h[piv]);
    std::swap(g[c], g[piv]);
    for (size_t r = c + 1; r < n; ++r) {
      const double f = h[r][c] / h[c][c];
      for (size_t k = c; k < n; ++k) h[r][k] -= f * h[c][k];
      g[r] -= f * g[c];
    }
  }
  d.assign(n, 0.0);
  for (size_t c = n; c-- > 0;) {
    double s = g[c];
    for (size_t k = c + 1; k < n; ++k) s -= h[c][k] * d[k];
    d[c] = s / h[c][c];
  }
  return true;
}

}  // namespace

double logistic_regression_logit(const LogisticRegressionFit& f, const std::vector<double>& row) {
  FRACTURE_CHECK(row.size() == f.coef.size(), "logistic regression: a row of ", row.size(), " features for a fit of ",
                 f.coef.size());
  double u = f.intercept;
  for (size_t k = 0; k < row.size(); ++k) u += f.coef[k] * row[k];
  return u;
}

LogisticRegressionFit fit_logistic_regression(const std::vector<std::vector<double>>& x, const std::vector<int>& y,
                                              double C) {
  FRACTURE_CHECK(!x.empty() && x.size() == y.size(), "logistic regression: ", x.size(), " rows vs ", y.size(),
                 " labels");
  FRACTURE_CHECK(C > 0 && std::isfinite(C), "logistic regression: C must be positive, got ", C);
  const size_t d = x[0].size();
  FRACTURE_CHECK(d >= 1, "logistic regression: rows need at least one feature");
  int pos = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    FRACTURE_CHECK(x[i].size() == d, "logistic regression: row ", i, " has ", x[i].size(), " features, expected ", d);
    for (double v : x[i]) FRACTURE_CHECK(std::isfinite(v), "logistic regression: row ", i, " has a non-finite value");
    FRACTURE_CHECK(y[i] == 0 || y[i] == 1, "logistic regression: label ", i, " is ", y[i], ", expected 0 or 1");
    pos += y[i];
  }
  FRACTURE_CHECK(pos > 0 && pos < int(y.size()), "logistic regression: needs both classes, got ", pos, " positive of ",
                 y.size());
  // parameters theta = (b, w_1..w_d)
  std::vector<double> th(d + 1, 0.0);
  auto objective = [&](const std::vector<double>& t) {
    double s = 0;
    for (size_t k = 1; k <= d; ++k) s += 0.5 * t[k] * t[k];
    double l = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      double u = t[0];
      for (size_t k = 0; k < d; ++k) u += t[k + 1] * x[i][k];
      l += y[i] ? softplus(-u) : softplus(u);
    }
    return s + C * l;
  };
  LogisticRegressionFit fit;
  for (int it = 1; it <= 200; ++it) {
    std::vector<double> g(d + 1, 0.0);
    std::vector<std::vector<double>> h(d + 1, std::vector<double>(d + 1, 0.0));
    for (size_t i = 0; i < x.size(); ++i) {
      double u = th[0];
      for (size_t k = 0; k < d; ++k) u += th[k + 1] * x[i][k];
      const double p = stable_sigmoid(u), r = C * (p - y[i]), v = C * p * (1 - p);
      for (size_t a = 0; a <= d; ++a) {
        const double xa = a ? x[i][a - 1] : 1.0;
        g[a] += r * xa;
        for (size_t b = 0; b <= d; ++b) h[a][b] += v * xa * (b ? x[i][b - 1] : 1.0);
      }
    }
    for (size_t k = 1; k <= d; ++k) {
      g[k] += th[k];
      h[k][k] += 1.0;
    }
    fit.iterations = it;
    std::vector<double> step;
    if (!solve(h, g, step)) break;
    double dec = 0;
    for (size_t k = 0; k <= d; ++k) dec += g[k] * step[k];
    // Scaled like the objective (a sum over cases): stop when the decrement is under its rounding.
    const double f0 = objective(th);
    if (dec < 1e-15 * (1.0 + std::fabs(f0))) {
      for (size_t k = 0; k <= d; ++k) th[k] -= step[k];
      break;
    }
    double t = 1.0;
    std::vector<double> trial(d + 1);
    for (; t > 1e-12; t *= 0.5) {
      for (size_t k = 0; k <= d; ++k) trial[k] = th[k] - t * step[k];
      if (objective(trial) < f0) break;
    }
    if (t <= 1e-12) break;
    th = trial;
  }
  fit.intercept = th[0];
  fit.coef.assign(th.begin() + 1, th.end());
  return fit;
}

}  // namespace fracture
