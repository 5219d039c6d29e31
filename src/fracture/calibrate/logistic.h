// The logistic function and softplus in their overflow-free forms, shared by temperature scaling
// and Platt scaling.
//
//   double p = fracture::stable_sigmoid(z);      // 1 / (1 + exp(-z))
//   double nll = fracture::softplus(-z);         // log(1 + exp(-z)) = -log p
#pragma once
#include <cmath>

namespace fracture {

inline double stable_sigmoid(double a) {
  if (a >= 0) return 1.0 / (1.0 + std::exp(-a));
  const double e = std::exp(a);
  return e / (1.0 + e);
}

/// log(1 + exp(a)) without overflow.
inline double softplus(double a) { return a > 0 ? a + std::log1p(std::exp(-a)) : std::log1p(std::exp(a)); }

}  // namespace fracture
