// Detector against classifier (report/compare.h): the protocol's leakage rule (everything fitted on
// val, judged on test), the choice of the fused pair, the fusion model, and the tests run. Each
// piece is checked against the function it must equal (those are tested against scikit-learn and
// an O(n^2) DeLong in their own tests).
#include <gtest/gtest.h>

#include <cmath>

#include "fracture/calibrate/calibration.h"
#include "fracture/calibrate/logistic_regression.h"
#include "fracture/calibrate/platt.h"
#include "fracture/calibrate/thresholds.h"
#include "fracture/core/error.h"
#include "fracture/core/rng.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/eval/delong.h"
#include "fracture/report/compare.h"

using namespace fracture;

namespace {

// Scores of informativeness `sep` squashed to [0, 1]; `zeros` of the negatives at exactly 0 (a
// detector without a box).
std::vector<double> scores(SplitMix64& r, const std::vector<int>& y, double sep, double zeros = 0) {
  std::vector<double> s;
  for (int v : y) {
    const double n = std::sqrt(-2 * std::log(r.uniform())) * std::cos(2 * M_PI * r.uniform());
    s.push_back(!v && r.uniform() < zeros ? 0.0 : 1 / (1 + std::exp(-(n + sep * v - 0.5))));
  }
  return s;
}

CompareInput make_input(uint64_t seed) {
  SplitMix64 r{seed};
  CompareInput in;
  for (int i = 0; i < 120; ++i) in.val_labels.push_back(i % 3 == 0);
  for (int i = 0; i < 150; ++i) in.test_labels.push_back(i % 4 == 0);
  const double sep[4] = {0.8, 1.6, 1.2, 2.0};
  const char* names[4] = {"resnet18", "efficientnet_b0", "yolov8n", "yolov8s"};
  for (int k = 0; k < 4; ++k) {
    ScoreColumn c{names[k], k < 2 ? "classifier" : "detector", "score", {}, {}};
    c.val = scores(r, in.val_labels, sep[k], k >= 2 ? 0.4 : 0);
    c.test = scores(r, in.test_labels, sep[k], k >= 2 ? 0.4 : 0);
    in.columns.push_back(c);
  }
  return in;
}

double clipped_logit(double p) {
  p = std::min(std::max(p, 1e-6), 1 - 1e-6);
  return std::log(p / (1 - p));
}

}  // namespace

TEST(Compare, FitsOnValJudgesOnTest) {
  CompareInput in = make_input(3);
  CompareOptions opt;
  opt.n_bootstrap = 200;
  const CompareResult r = compare_scores(in, opt);
  ASSERT_EQ(r.scores.size(), 5u);
  EXPECT_EQ(r.scores.back().name, "fused");
  // the fused pair: the classifier and the detector with the highest val AUROC
  size_t bc = 0, bd = 2;
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_DOUBLE_EQ(r.scores[k].val_auroc, roc_auc_score(in.val_labels, in.columns[k].val));
    if (k < 2 && r.scores[k].val_auroc > r.scores[bc].val_auroc) bc = k;
    if (k >= 2 && r.scores[k].val_auroc > r.scores[bd].val_auroc) bd = k;
    EXPECT_DOUBLE_EQ(r.scores[k].threshold,
                     choose_threshold(in.val_labels, in.columns[k].val, ThresholdCriterion::youden, 0).metrics.threshold);
    EXPECT_DOUBLE_EQ(score_metric(r.scores[k], "auroc").estimate, roc_auc_score(in.test_labels, in.columns[k].test));
    EXPECT_DOUBLE_EQ(score_metric(r.scores[k], "recall").estimate,
                     metrics_at_threshold(in.test_labels, in.columns[k].test, r.scores[k].threshold).recall);
  }
  EXPECT_EQ(r.fused_classifier, in.columns[bc].name);
  EXPECT_EQ(r.fused_detector, in.columns[bd].name);
  std::vector<std::vector<double>> x;
  for (size_t i = 0; i < in.val_labels.size(); ++i)
    x.push_back({clipped_logit(in.columns[bc].val[i]), clipped_logit(in.columns[bd].val[i])});
  const LogisticRegressionFit f = fit_logistic_regression(x, in.val_labels);
  EXPECT_DOUBLE_EQ(r.fusion.intercept, f.intercept);
  EXPECT_DOUBLE_EQ(r.fusion.coef[0], f.coef[0]);
  // tests: every detector against every classifier, then fused against its two inputs
  ASSERT_EQ(r.tests.size(), 6u);
  const DelongTest d = delong_test(in.test_labels, in.columns[2].test, in.columns[0].test);
  EXPECT_EQ(r.tests[0].model_a, "yolov8n");
  EXPECT_EQ(r.tests[0].model_b, "resnet18");
  EXPECT_DOUBLE_EQ(r.tests[0].p_value, d.p_value);
  EXPECT_EQ(r.tests[4].model_a, "fused");
  EXPECT_EQ(r.tests[4].model_b, r.fused_classifier);
  EXPECT_EQ(r.tests[5].model_b, r.fused_detector);

  // leakage: changing the test scores changes no fitted value
  CompareInput moved = in;
  for (ScoreColumn& c : moved.columns)
    for (double& v : c.test) v = 1 - v;
  const CompareResult m = compare_scores(moved, opt);
  for (size_t k = 0; k < r.scores.size(); ++k) EXPECT_DOUBLE_EQ(m.scores[k].threshold, r.scores[k].threshold);
  EXPECT_EQ(m.fusion.coef, r.fusion.coef);
  EXPECT_NE(score_metric(m.scores[0], "auroc").estimate, score_metric(r.scores[0], "auroc").estimate);
}

TEST(Compare, ErrorsNameTheProblem) {
  CompareInput in = make_input(4);
  CompareInput one_class = in;
  for (int& y : one_class.test_labels) y = 0;
  EXPECT_THROW(compare_scores(one_class, {}), Error);
  CompareInput short_col = in;
  short_col.columns[1].test.pop_back();
  try {
    compare_scores(short_col, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("efficientnet_b0"), std::string::npos) << e.what();
  }
  CompareInput out_of_range = in;
  out_of_range.columns[2].val[0] = 1.5;
  EXPECT_THROW(compare_scores(out_of_range, {}), Error);
  CompareInput only_cls = in;
  only_cls.columns.resize(2);
  const CompareResult r = compare_scores(only_cls, {});
  EXPECT_FALSE(r.fused);
  EXPECT_FALSE(r.fusion_note.empty());
  EXPECT_TRUE(r.tests.empty());
}

// External validation's figures: the same functions at the given (development) threshold, plus the
// calibration figures of the probabilities as they are.
TEST(Compare, ScoreFiguresAtAFixedThreshold) {
  const CompareInput in = make_input(9);
  const std::vector<double>& p = in.columns[0].test;
  CompareOptions opt;
  opt.n_bootstrap = 100;
  const auto figs = score_figures(in.test_labels, p, 0.37, opt, /*calibration=*/true);
  ASSERT_EQ(figs.size(), 11u);
  auto get = [&](const std::string& k) {
    for (const auto& [name, v] : figs)
      if (name == k) return v.estimate;
    ADD_FAILURE() << "no " << k;
    return 0.0;
  };
  EXPECT_DOUBLE_EQ(get("recall"), metrics_at_threshold(in.test_labels, p, 0.37).recall);
  EXPECT_DOUBLE_EQ(get("specificity"), metrics_at_threshold(in.test_labels, p, 0.37).specificity);
  EXPECT_DOUBLE_EQ(get("citl"), calibration_line(in.test_labels, p).intercept_in_the_large);
  EXPECT_DOUBLE_EQ(get("slope"), calibration_line(in.test_labels, p).slope);
  EXPECT_DOUBLE_EQ(get("ece"), expected_calibration_error(in.test_labels, p));
  EXPECT_EQ(score_figures(in.test_labels, p, 0.37, opt, false).size(), 8u);
}
