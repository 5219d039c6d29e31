// Classification metrics, bootstrap and DeLong, against scikit-learn 1.2.1 and an O(n^2) DeLong
// reference (tests/oracle/metrics_oracle.py, run at test time with /usr/bin/python3).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/rng.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/eval/delong.h"
#include "expect_error.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace fracture;

namespace {

constexpr double kExact = 1e-9;  // sklearn and the pairwise DeLong agree to rounding

// Runs the oracle script into a fresh temp dir and parses its JSON (once per executable).
const json& oracle_cases() {
  static json cases = [] {
    char tmpl[] = "/tmp/fracture_metrics_oracle_XXXXXX";
    const char* dir = mkdtemp(tmpl);
    if (!dir) throw std::runtime_error("mkdtemp failed");
    const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/metrics_oracle.py " + dir;
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("oracle failed: " + cmd);
    json j = json::parse(read_file(fs::path(dir) / "metrics_cases.json"));
    fs::remove_all(dir);
    return j;
  }();
  return cases;
}

void expect_vec_near(const std::vector<double>& got, const json& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i].get<double>(), kExact) << what << "[" << i << "]";
}

using fracture::test::expect_error;

// Seeded normals for simulations (SplitMix64 + Box-Muller, platform independent).
struct Rng : fracture::SplitMix64 {
  double normal() { return std::sqrt(-2 * std::log(uniform())) * std::cos(2 * M_PI * uniform()); }
};

// Binormal sample: negatives N(0, 1), positives N(d, 1); the true AUROC is Phi(d / sqrt(2)).
void binormal(Rng& rng, int n_pos, int n_neg, double d, std::vector<int>& y, std::vector<double>& s) {
  y.clear();
  s.clear();
  for (int i = 0; i < n_pos; ++i) {
    y.push_back(1);
    s.push_back(d + rng.normal());
  }
  for (int i = 0; i < n_neg; ++i) {
    y.push_back(0);
    s.push_back(rng.normal());
  }
}

}  // namespace

TEST(MetricsOracle, MatchesSklearn) {
  const json& all = oracle_cases();
  EXPECT_EQ(all["sklearn_version"], "1.2.1") << "ROC threshold[0] convention (max+1 vs inf) depends on it";
  int checked = 0;
  for (const json& c : all["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto y = c["labels"].get<std::vector<int>>();
    const auto s = c["scores"].get<std::vector<double>>();
    const json& e = c["expected"];
    if (e["roc_auc"].is_string()) {
      expect_error([&] { roc_auc_score(y, s); }, "only one class");
    } else {
      EXPECT_NEAR(roc_auc_score(y, s), e["roc_auc"].get<double>(), kExact);
      ++checked;
    }
    if (e["roc_curve"].is_string()) {
      expect_error([&] { roc_curve(y, s); }, "only one class");
    } else {
      RocCurve r = roc_curve(y, s);
      expect_vec_near(r.fpr, e["roc_curve"]["fpr"], "fpr");
      expect_vec_near(r.tpr, e["roc_curve"]["tpr"], "tpr");
      expect_vec_near(r.thresholds, e["roc_curve"]["thresholds"], "roc thresholds");
    }
    if (e["ap"].is_string()) {
      expect_error([&] { average_precision_score(y, s); }, "no positive case");
      expect_error([&] { precision_recall_curve(y, s); }, "no positive case");
    } else {
      EXPECT_NEAR(average_precision_score(y, s), e["ap"].get<double>(), kExact);
      PrCurve p = precision_recall_curve(y, s);
      expect_vec_near(p.precision, e["pr_curve"]["precision"], "precision");
      expect_vec_near(p.recall, e["pr_curve"]["recall"], "recall");
      expect_vec_near(p.thresholds, e["pr_curve"]["thresholds"], "pr thresholds");
    }
    if (e.contains("brier")) {
      EXPECT_NEAR(brier_score_loss(y, s), e["brier"].get<double>(), kExact);
    } else {
      expect_error([&] { brier_score_loss(y, s); }, "expected a value in [0, 1]");
    }
    const json& t = e["at_0.5"];
    ThresholdMetrics m = metrics_at_threshold(y, s, 0.5);
    EXPECT_EQ(m.counts.tp, t["tp"].get<int64_t>());
    EXPECT_EQ(m.counts.fp, t["fp"].get<int64_t>());
    EXPECT_EQ(m.counts.tn, t["tn"].get<int64_t>());
    EXPECT_EQ(m.counts.fn, t["fn"].get<int64_t>());
    EXPECT_NEAR(m.accuracy, t["accuracy"].get<double>(), kExact);
    EXPECT_NEAR(m.precision, t["precision"].get<double>(), kExact);
    EXPECT_NEAR(m.recall, t["recall"].get<double>(), kExact);
    EXPECT_NEAR(m.specificity, t["specificity"].get<double>(), kExact);
    EXPECT_NEAR(m.f1, t["f1"].get<double>(), kExact);
  }
  EXPECT_GE(checked, 10);
}

TEST(MetricsOracle, DelongMatchesPairwiseReference) {
  int tested = 0, degenerate = 0;
  for (const json& c : oracle_cases()["cases"]) {
    const json& e = c["expected"];
    if (!e.contains("delong")) continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto y = c["labels"].get<std::vector<int>>();
    const auto a = c["scores"].get<std::vector<double>>();
    const auto b = c["scores_b"].get<std::vector<double>>();
    const json& d = e["delong"];
    if (d["p_value"].is_string()) {
      expect_error([&] { delong_test(y, a, b); }, "variance of the AUROC difference is 0");
      ++degenerate;
      continue;
    }
    DelongTest t = delong_test(y, a, b);
    EXPECT_NEAR(t.auc_a, d["auc_a"].get<double>(), kExact);
    EXPECT_NEAR(t.auc_a, e["roc_auc"].get<double>(), kExact);  // midrank AUC = sklearn's trapezoid
    EXPECT_NEAR(t.auc_b, d["auc_b"].get<double>(), kExact);
    EXPECT_NEAR(t.var_a, d["var_a"].get<double>(), kExact);
    EXPECT_NEAR(t.var_b, d["var_b"].get<double>(), kExact);
    EXPECT_NEAR(t.cov_ab, d["cov_ab"].get<double>(), kExact);
    EXPECT_NEAR(t.var_diff, d["var_diff"].get<double>(), kExact);
    EXPECT_NEAR(t.z, d["z"].get<double>(), 1e-7 * std::max(1.0, std::fabs(t.z)));
    EXPECT_NEAR(t.p_value, d["p_value"].get<double>(), kExact);
    EXPECT_NEAR(t.diff_lower, d["diff_lower"].get<double>(), kExact);
    EXPECT_NEAR(t.diff_upper, d["diff_upper"].get<double>(), kExact);
    DelongAuc one = delong_auc(y, a);
    EXPECT_NEAR(one.variance, d["var_a"].get<double>(), kExact);
    EXPECT_NEAR(one.lower, d["auc_a_lower"].get<double>(), kExact);
    EXPECT_NEAR(one.upper, d["auc_a_upper"].get<double>(), kExact);
    ++tested;
  }
  EXPECT_GE(tested, 8);
  EXPECT_GE(degenerate, 1);
}

TEST(Metrics, HandWorkedExample) {
  // sklearn's documentation example: pairs (pos, neg) ordered correctly 3 of 4 -> AUROC 0.75
  const std::vector<int> y = {0, 0, 1, 1};
  const std::vector<double> p = {0.1, 0.4, 0.35, 0.8};
  EXPECT_DOUBLE_EQ(roc_auc_score(y, p), 0.75);
  // AP: recall 0.5 at precision 1 (t = 0.8), recall 1 at precision 2/3 (t = 0.35): 0.5 + 0.5 * 2/3
  EXPECT_DOUBLE_EQ(average_precision_score(y, p), 0.5 + 0.5 * 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(brier_score_loss(y, p), (0.01 + 0.16 + 0.65 * 0.65 + 0.04) / 4);
  ThresholdMetrics m = metrics_at_threshold(y, p, 0.4);  // predicted 1: 0.4 (neg), 0.8 (pos)
  EXPECT_EQ(m.counts.tp, 1);
  EXPECT_EQ(m.counts.fp, 1);
  EXPECT_EQ(m.counts.tn, 1);
  EXPECT_EQ(m.counts.fn, 1);
  EXPECT_DOUBLE_EQ(m.f1, 0.5);
}

TEST(Metrics, ZeroDivisionConventions) {
  // nothing predicted positive: precision 0, F1 0; specificity 1
  ThresholdMetrics m = metrics_at_threshold({0, 1, 0}, {0.1, 0.2, 0.3}, 0.9);
  EXPECT_EQ(m.precision, 0.0);
  EXPECT_EQ(m.recall, 0.0);
  EXPECT_EQ(m.f1, 0.0);
  EXPECT_EQ(m.specificity, 1.0);
  // no positive case and nothing predicted positive: recall 0, F1 0, accuracy 1
  m = metrics_at_threshold({0, 0}, {0.1, 0.2}, 0.5);
  EXPECT_EQ(m.recall, 0.0);
  EXPECT_EQ(m.f1, 0.0);
  EXPECT_EQ(m.accuracy, 1.0);
  // no negative case: specificity 0
  m = metrics_at_threshold({1, 1}, {0.1, 0.7}, 0.5);
  EXPECT_EQ(m.specificity, 0.0);
  EXPECT_EQ(m.precision, 1.0);
  EXPECT_EQ(m.recall, 0.5);
  // threshold is inclusive: score == t predicts positive
  EXPECT_EQ(metrics_at_threshold({1}, {0.5}, 0.5).counts.tp, 1);
}

TEST(Metrics, RejectsBadInput) {
  expect_error([] { roc_auc_score({0, 1}, {0.1}); }, "differ in length");
  expect_error([] { roc_auc_score({}, {}); }, "no cases");
  expect_error([] { roc_auc_score({0, 2}, {0.1, 0.2}); }, "label at index 1 is 2");
  expect_error([] { average_precision_score({0, 1}, {0.1, std::nan("")}); }, "score at index 1");
  expect_error([] { metrics_at_threshold({0, 1}, {0.1, INFINITY}, 0.5); }, "finite");
  expect_error([] { brier_score_loss({0, 1}, {0.1, 1.5}); }, "index 1 is 1.5");
  expect_error([] { roc_auc_score({1, 1, 1}, {0.1, 0.2, 0.3}); }, "only one class");
}

TEST(Delong, HandComputedCase) {
  // positives {0.8, 0.4}, negatives {0.1, 0.5}: V10 = {1, 0.5}, V01 = {1, 0.5};
  // var = S10/2 + S01/2 with S = var([1, 0.5]) = 0.125 -> 0.125; AUC = 0.75
  DelongAuc d = delong_auc({1, 0, 1, 0}, {0.8, 0.1, 0.4, 0.5});
  EXPECT_DOUBLE_EQ(d.auc, 0.75);
  EXPECT_NEAR(d.variance, 0.125, 1e-15);
  EXPECT_NEAR(d.lower, 0.75 - 1.959963984540054 * std::sqrt(0.125), 1e-12);
  EXPECT_EQ(d.upper, 1.0);  // clipped
  // a model against itself: difference 0, p = 1
  DelongTest t = delong_test({1, 0, 1, 0}, {0.8, 0.1, 0.4, 0.5}, {0.8, 0.1, 0.4, 0.5});
  EXPECT_EQ(t.diff, 0.0);
  EXPECT_EQ(t.p_value, 1.0);
  expect_error([] { delong_auc({1, 1}, {0.1, 0.2}); }, "only one class");
  expect_error([] { delong_test({1, 0}, {0.1, 0.2}, {0.3}); }, "model b");
}

TEST(Delong, MidranksAsScipy) {
  const std::vector<double> r = midranks({3.0, 1.0, 3.0, 2.0, 3.0});
  EXPECT_EQ(r, (std::vector<double>{4, 1, 4, 2, 4}));
}

TEST(Delong, CiCoverageOnBinormalData) {
  // Known truth: AUC_a = Phi(1.2 / sqrt 2), AUC_b = Phi(0.6 / sqrt 2), independent markers on the
  // same cases. 95 % intervals should cover about 95 % of 300 seeded repetitions.
  const double auc_a = normal_cdf(1.2 / std::sqrt(2.0)), auc_b = normal_cdf(0.6 / std::sqrt(2.0));
  Rng rng{7};
  int cover_single = 0, cover_diff = 0, reject = 0;
  const int reps = 300;
  std::vector<int> y;
  std::vector<double> a, b, tmp;
  for (int r = 0; r < reps; ++r) {
    binormal(rng, 60, 90, 1.2, y, a);
    binormal(rng, 60, 90, 0.6, y, b);
    DelongAuc one = delong_auc(y, a);
    cover_single += one.lower <= auc_a && auc_a <= one.upper;
    DelongTest t = delong_test(y, a, b);
    cover_diff += t.diff_lower <= auc_a - auc_b && auc_a - auc_b <= t.diff_upper;
    reject += t.p_value < 0.05;
  }
  EXPECT_GE(cover_single, 0.90 * reps);
  EXPECT_LE(cover_single, 0.99 * reps);
  EXPECT_GE(cover_diff, 0.90 * reps);
  EXPECT_LE(cover_diff, 0.99 * reps);
  EXPECT_GT(reject, 0.5 * reps);  // a real difference of about 0.14 is usually detected at n = 150
}

TEST(Bootstrap, DeterministicAndSeedDependent) {
  Rng rng{3};
  std::vector<int> y;
  std::vector<double> s;
  binormal(rng, 30, 50, 1.0, y, s);
  BootstrapOptions o;
  o.n_resamples = 300;
  o.seed = 11;
  BootstrapResult r1 = bootstrap_ci(y, s, roc_auc_score, o), r2 = bootstrap_ci(y, s, roc_auc_score, o);
  EXPECT_EQ(r1.samples, r2.samples);
  EXPECT_EQ(r1.lower, r2.lower);
  EXPECT_EQ(r1.upper, r2.upper);
  o.seed = 12;
  BootstrapResult r3 = bootstrap_ci(y, s, roc_auc_score, o);
  EXPECT_NE(r1.samples, r3.samples);
  EXPECT_EQ(r1.n_valid, 300);
  EXPECT_EQ(r1.n_skipped, 0);
  EXPECT_EQ(r1.method, "percentile");
  EXPECT_DOUBLE_EQ(r1.estimate, roc_auc_score(y, s));
  EXPECT_LT(r1.lower, r1.estimate);
  EXPECT_GT(r1.upper, r1.estimate);
  EXPECT_GT(r1.std_error, 0.0);
  // the bootstrap SE of the AUROC agrees with DeLong's asymptotic SE to within a loose factor
  const double se = std::sqrt(delong_auc(y, s).variance);
  EXPECT_NEAR(r1.std_error / se, 1.0, 0.3);
}

TEST(Bootstrap, StratifiedKeepsClassCounts) {
  const std::vector<int> y = {1, 0, 0, 0, 1, 0, 0};
  const std::vector<double> s = {0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
  BootstrapOptions o;
  o.n_resamples = 50;
  MetricFn count_pos = [](const std::vector<int>& yy, const std::vector<double>&) {
    double p = 0;
    for (int v : yy) p += v;
    return p;
  };
  BootstrapResult r = bootstrap_ci(y, s, count_pos, o);
  for (double v : r.samples) EXPECT_EQ(v, 2.0);
}

TEST(Bootstrap, SkipsAndCountsUndefinedResamples) {
  // precision at 0.5 is undefined when nothing is predicted positive: with 2 positives {0.1, 0.9}
  // and one of 20 negatives at 0.9, roughly 1 resample in 11 predicts nothing positive.
  std::vector<int> y = {1, 1};
  std::vector<double> s = {0.1, 0.9};
  for (int i = 0; i < 20; ++i) {
    y.push_back(0);
    s.push_back(i == 0 ? 0.9 : 0.2);
  }
  MetricFn strict_precision = [](const std::vector<int>& yy, const std::vector<double>& ss) {
    Confusion c = confusion_at(yy, ss, 0.5);
    FRACTURE_CHECK(c.tp + c.fp > 0, "no predicted positive");
    return static_cast<double>(c.tp) / (c.tp + c.fp);
  };
  BootstrapOptions o;
  o.n_resamples = 1000;
  BootstrapResult r = bootstrap_ci(y, s, strict_precision, o);
  EXPECT_EQ(r.n_valid + r.n_skipped, 1000);
  EXPECT_GT(r.n_skipped, 40);   // expectation 0.25 * 0.358 * 1000 = 90
  EXPECT_LT(r.n_skipped, 150);
  EXPECT_EQ(r.samples.size(), static_cast<size_t>(r.n_valid));
}

TEST(Bootstrap, PercentileCoverageSanity) {
  // 95 % percentile intervals of the AUROC on binormal data (true AUC known) cover the truth in
  // most of 120 seeded repetitions (percentile intervals run a little narrow at small n).
  const double truth = normal_cdf(1.0 / std::sqrt(2.0));
  Rng rng{99};
  std::vector<int> y;
  std::vector<double> s;
  int cover = 0;
  const int reps = 120;
  BootstrapOptions o;
  o.n_resamples = 400;
  for (int r = 0; r < reps; ++r) {
    binormal(rng, 40, 60, 1.0, y, s);
    o.seed = static_cast<uint64_t>(r);
    BootstrapResult ci = bootstrap_ci(y, s, roc_auc_score, o);
    cover += ci.lower <= truth && truth <= ci.upper;
  }
  EXPECT_GE(cover, 0.85 * reps);
  EXPECT_LE(cover, 0.995 * reps);
}

TEST(Bootstrap, BcaRunsAndBracketsEstimate) {
  Rng rng{5};
  std::vector<int> y;
  std::vector<double> s;
  binormal(rng, 40, 60, 1.5, y, s);
  BootstrapOptions o;
  o.n_resamples = 1000;
  o.bca = true;
  BootstrapResult b = bootstrap_ci(y, s, roc_auc_score, o);
  o.bca = false;
  BootstrapResult p = bootstrap_ci(y, s, roc_auc_score, o);
  EXPECT_EQ(b.method, "bca");
  EXPECT_EQ(b.samples, p.samples);  // same resamples, only the interval ends differ
  EXPECT_LT(b.lower, b.estimate);
  EXPECT_GT(b.upper, b.estimate);
  EXPECT_NE(b.lower, p.lower);
  EXPECT_NEAR(b.upper - b.lower, p.upper - p.lower, 0.5 * (p.upper - p.lower));
}

TEST(Bootstrap, RejectsBadOptions) {
  BootstrapOptions o;
  o.n_resamples = 1;
  expect_error([&] { bootstrap_ci({0, 1}, {0.1, 0.2}, roc_auc_score, o); }, "n_resamples");
  o.n_resamples = 10;
  o.confidence = 1.0;
  expect_error([&] { bootstrap_ci({0, 1}, {0.1, 0.2}, roc_auc_score, o); }, "confidence");
  expect_error([&] { bootstrap_ci({1, 1}, {0.1, 0.2}, roc_auc_score); }, "only one class");
}

TEST(Stats, MeanSdAndNormal) {
  MeanSd m = mean_sd({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_NEAR(m.sd, std::sqrt(5.0 / 3.0), 1e-15);
  EXPECT_EQ(mean_sd({0.7}).sd, 0.0);
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(normal_cdf(normal_quantile(0.01)), 0.01, 1e-14);
  EXPECT_DOUBLE_EQ(percentile_sorted({1, 2, 3, 4}, 0.5), 2.5);  // numpy.percentile([1,2,3,4], 50)
  EXPECT_DOUBLE_EQ(percentile_sorted({1, 2, 3, 4}, 0.1), 1.3);
}
