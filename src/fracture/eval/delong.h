// DeLong's test for correlated AUROCs (DeLong, DeLong & Clarke-Pearson 1988), computed with the
// fast midrank algorithm of Sun & Xu (2014): O(n log n) per model instead of all pairs.
//
//   fracture::DelongTest t = fracture::delong_test(labels, scores_resnet, scores_mobilenet);
//   // t.auc_a, t.auc_b, t.diff = auc_a - auc_b, t.var_diff, [t.diff_lower, t.diff_upper], t.z, t.p_value
//   fracture::DelongAuc one = fracture::delong_auc(labels, scores);   // one.auc, one.variance, CI
//
// Both models must score the same cases in the same order. Structural components use ties = 1/2
// (the Mann-Whitney kernel); covariances use the unbiased (n - 1) denominators, as DeLong 1988 and
// pROC / numpy.cov do.
#pragma once
#include <string>
#include <vector>

namespace fracture {

/// One AUROC with its DeLong variance and a normal-approximation CI.
struct DelongAuc {
  double auc = 0;
  double variance = 0;
  double lower = 0, upper = 0;  ///< auc -/+ z_{1-alpha/2} sqrt(variance), clipped to [0, 1]
};

/// Two correlated AUROCs on the same cases: the test of H0: AUC_a = AUC_b.
struct DelongTest {
  double auc_a = 0, auc_b = 0;
  double var_a = 0, var_b = 0, cov_ab = 0;
  double diff = 0;                        ///< auc_a - auc_b
  double var_diff = 0;                    ///< var_a + var_b - 2 cov_ab
  double diff_lower = 0, diff_upper = 0;  ///< diff -/+ z_{1-alpha/2} sqrt(var_diff) (not clipped)
  double z = 0;                           ///< diff / sqrt(var_diff); 0 when diff = var_diff = 0
  double p_value = 1;                     ///< two-sided, 2 (1 - Phi(|z|))
};

/// Throws fracture::Error unless both classes have at least one case (and sizes/labels are valid).
DelongAuc delong_auc(const std::vector<int>& labels, const std::vector<double>& scores, double confidence = 0.95);

/// Throws fracture::Error on bad input or when var_diff = 0 while diff != 0 (degenerate: e.g. one
/// model perfect on every case and the other not varying), where no z exists.
DelongTest delong_test(const std::vector<int>& labels, const std::vector<double>& scores_a,
                       const std::vector<double>& scores_b, double confidence = 0.95);

/// delong_test where it is defined; where it throws on a degenerate pair (as above), the two
/// AUROCs and their difference with NaN interval ends, z and p, and the reason in *note ("" when
/// defined). Bad input still throws.
DelongTest delong_test_or_nan(const std::vector<int>& labels, const std::vector<double>& scores_a,
                              const std::vector<double>& scores_b, double confidence, std::string* note);

/// Midranks (1-based, ties get the mean of their ranks) of values, as scipy.stats.rankdata.
std::vector<double> midranks(const std::vector<double>& values);

}  // namespace fracture
