// Temperature scaling (against a PyTorch LBFGS fit, tests/oracle/temperature_oracle.py), ECE/MCE
// and reliability bins (by hand), threshold selection (by hand and by brute force).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "fracture/calibrate/calibration.h"
#include "fracture/calibrate/calibrator.h"
#include "fracture/calibrate/logistic_regression.h"
#include "fracture/calibrate/platt.h"
#include "fracture/calibrate/temperature.h"
#include "fracture/calibrate/thresholds.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/report/classify_files.h"
#include "expect_error.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace fracture;

namespace {

using fracture::test::expect_error;

json run_temperature_oracle() {
  char tmpl[] = "/tmp/fracture_temperature_oracle_XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (!dir) throw std::runtime_error("mkdtemp failed");
  const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/temperature_oracle.py " + dir;
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("oracle failed: " + cmd);
  json j = json::parse(read_file(fs::path(dir) / "temperature_cases.json"));
  fs::remove_all(dir);
  return j;
}

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

TEST(TemperatureOracle, MatchesTorchLbfgs) {
  const json all = run_temperature_oracle();
  int binary = 0, multi = 0;
  for (const json& c : all["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto z = c["logits"].get<std::vector<double>>();
    const auto y = c["labels"].get<std::vector<int>>();
    const double t_torch = c["temperature"].get<double>();
    TemperatureFit fit;
    double nll_at_torch_t;
    if (c["kind"] == "binary") {
      fit = fit_temperature_binary(z, y);
      nll_at_torch_t = binary_nll(z, y, t_torch);
      ++binary;
    } else {
      const int nc = c["num_classes"].get<int>();
      fit = fit_temperature_multiclass(z, nc, y);
      nll_at_torch_t = multiclass_nll(z, nc, y, t_torch);
      ++multi;
    }
    EXPECT_FALSE(fit.at_bound);
    EXPECT_NEAR(fit.temperature, t_torch, 1e-3);
    // our loss agrees with torch's BCE / cross-entropy, and our optimum is at least as low
    EXPECT_NEAR(nll_at_torch_t, c["nll_after"].get<double>(), 1e-9);
    EXPECT_NEAR(fit.nll_before, c["nll_before"].get<double>(), 1e-9);
    EXPECT_LE(fit.nll_after, c["nll_after"].get<double>() + 1e-12);
    EXPECT_LE(fit.nll_after, fit.nll_before);
  }
  EXPECT_GE(binary, 4);
  EXPECT_GE(multi, 2);
}

TEST(Temperature, KeepsRankingAndDecisions) {
  const std::vector<double> z = {-3.0, -0.5, 0.0, 0.2, 4.0};
  const std::vector<double> p = apply_temperature_binary(z, 2.5);
  for (size_t i = 0; i + 1 < z.size(); ++i) EXPECT_LT(p[i], p[i + 1]);
  for (size_t i = 0; i < z.size(); ++i) EXPECT_EQ(p[i] >= 0.5, z[i] >= 0.0);
  EXPECT_NEAR(p[4], 1.0 / (1.0 + std::exp(-1.6)), 1e-15);
  const std::vector<double> q = apply_temperature_multiclass({1.0, 2.0, 0.0, 3.0, 3.0, -1.0}, 3, 2.0);
  EXPECT_NEAR(q[0] + q[1] + q[2], 1.0, 1e-15);
  EXPECT_NEAR(q[1] / q[0], std::exp(0.5), 1e-12);
  EXPECT_NEAR(q[3], q[4], 1e-15);
}

TEST(Temperature, BoundsOnDegenerateData) {
  // separable: NLL falls forever as T -> 0, so the fit stops at the lower bound
  TemperatureFit sep = fit_temperature_binary({-2, -1, 1, 2}, {0, 0, 1, 1});
  EXPECT_TRUE(sep.at_bound);
  EXPECT_EQ(sep.temperature, 0.05);
  // logits with the wrong sign: the best sigmoid(z / T) is as flat as allowed
  TemperatureFit flat = fit_temperature_binary({-2, -1, 1, 2}, {1, 1, 0, 0});
  EXPECT_TRUE(flat.at_bound);
  EXPECT_EQ(flat.temperature, 100.0);
  TemperatureOptions o;
  o.min_temperature = 0.5;
  EXPECT_EQ(fit_temperature_binary({-2, -1, 1, 2}, {0, 0, 1, 1}, o).temperature, 0.5);
  // an interior optimum is a stationary point: the NLL rises on both sides
  TemperatureFit in = fit_temperature_binary({-2, -1, 1, 2, 0.5, -0.5}, {0, 1, 0, 1, 1, 0});
  EXPECT_FALSE(in.at_bound);
  const std::vector<double> zz = {-2, -1, 1, 2, 0.5, -0.5};
  const std::vector<int> yy = {0, 1, 0, 1, 1, 0};
  EXPECT_LT(in.nll_after, binary_nll(zz, yy, in.temperature * 1.01));
  EXPECT_LT(in.nll_after, binary_nll(zz, yy, in.temperature * 0.99));
}

TEST(Temperature, RejectsBadInput) {
  expect_error([] { fit_temperature_binary({0.1, 0.2}, {0, 1, 1}); }, "differ in length");
  expect_error([] { fit_temperature_binary({0.1, NAN}, {0, 1}); }, "index 1");
  expect_error([] { fit_temperature_multiclass({0.1, 0.2, 0.3}, 2, {0, 1}); }, "expected N * C");
  expect_error([] { fit_temperature_multiclass({0.1, 0.2, 0.3, 0.4}, 2, {0, 2}); }, "expected 0..1");
  expect_error([] { apply_temperature_binary({0.1}, 0.0); }, "temperature must be > 0");
  TemperatureOptions o;
  o.min_temperature = 10;
  o.max_temperature = 1;
  expect_error([&] { fit_temperature_binary({0.1, 0.2}, {0, 1}, o); }, "min_temperature");
}

TEST(Calibration, EceByHand) {
  // 15 bins of width 1/15. 0.05 -> bin 0 (conf 0.05, acc 0.5, gap 0.45, n 2);
  // 0.95 -> bin 14 (conf 0.95, acc 1, gap 0.05, n 2); 0.5 -> bin 7 (conf 0.5, acc 0.5, gap 0, n 2).
  const std::vector<double> p = {0.05, 0.05, 0.95, 0.95, 0.5, 0.5};
  const std::vector<int> y = {0, 1, 1, 1, 1, 0};
  CalibrationReport r = calibration_report(y, p);
  ASSERT_EQ(r.bins.size(), 15u);
  EXPECT_NEAR(r.ece, 2.0 / 6 * 0.45 + 2.0 / 6 * 0.05, 1e-15);
  EXPECT_NEAR(r.mce, 0.45, 1e-15);
  EXPECT_EQ(r.bins[0].count, 2);
  EXPECT_EQ(r.bins[7].count, 2);
  EXPECT_EQ(r.bins[14].count, 2);
  EXPECT_DOUBLE_EQ(r.bins[0].accuracy, 0.5);
  EXPECT_DOUBLE_EQ(r.bins[14].mean_confidence, 0.95);
  EXPECT_EQ(r.bins[3].count, 0);
  EXPECT_DOUBLE_EQ(expected_calibration_error(y, p), r.ece);
  // positive-class reliability, not top-label confidence: one case p = 0.1 has gap |y - 0.1|.
  // (Top-label would use confidence 0.9 for predicted class 0 and give gaps 0.9 and 0.1 too, but it
  // would pool p = 0.1 and p = 0.9 into one bin; this convention keeps them apart.)
  EXPECT_NEAR(calibration_report({1}, {0.1}).ece, 0.9, 1e-15);
  EXPECT_NEAR(calibration_report({0}, {0.1}).ece, 0.1, 1e-15);
  // p = {0.1, 0.9}, y = {1, 1}: here gaps 0.9 and 0.1 in separate bins -> ECE 0.5 (top-label
  // confidence would put both at 0.9 in one bin with accuracy 0.5 -> 0.4)
  EXPECT_NEAR(calibration_report({1, 1}, {0.1, 0.9}).ece, 0.5, 1e-15);
}

TEST(Calibration, BinEdges) {
  // bin b holds b/15 <= p < (b+1)/15; p = 1 goes to the last bin; p = 0 to the first
  CalibrationReport r = calibration_report({0, 1, 0, 1}, {0.0, 1.0, 1.0 / 15, 14.0 / 15});
  EXPECT_EQ(r.bins[0].count, 1);
  EXPECT_EQ(r.bins[1].count, 1);
  EXPECT_EQ(r.bins[14].count, 2);
  for (int b = 0; b < 15; ++b) {
    EXPECT_DOUBLE_EQ(r.bins[b].lower, b / 15.0);
    EXPECT_DOUBLE_EQ(r.bins[b].upper, (b + 1) / 15.0);
  }
  for (int k = 0; k <= 15; ++k) {  // every edge lands in the bin it opens
    CalibrationReport e = calibration_report({0}, {k / 15.0});
    EXPECT_EQ(e.bins[std::min(k, 14)].count, 1) << k;
  }
  expect_error([] { calibration_report({0}, {1.2}); }, "expected a value in [0, 1]");
  expect_error([] { calibration_report({0}, {0.5}, 0); }, "num_bins");
  // perfectly calibrated in every bin: ECE 0
  EXPECT_EQ(calibration_report({0, 1}, {0.5, 0.5}).ece, 0.0);
}

TEST(Thresholds, ByHand) {
  // scores:  0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8
  // labels:   0   0   1   0   1   0   1   1
  const std::vector<double> s = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
  const std::vector<int> y = {0, 0, 1, 0, 1, 0, 1, 1};
  // Youden J at t: 0.7 -> 0.5 - 0 = 0.5; 0.5 -> 0.75 - 0.25 = 0.5; 0.3 -> 1 - 0.5 = 0.5 : tie -> highest (0.7)
  ThresholdChoice c = choose_threshold(y, s, ThresholdCriterion::youden);
  EXPECT_EQ(c.metrics.threshold, 0.7);
  EXPECT_EQ(c.metrics.counts.tp, 2);
  EXPECT_EQ(c.metrics.counts.fp, 0);
  // F1 = 2tp / (2tp + fp + fn) at t: 0.7 -> 4/6; 0.5 -> 6/8; 0.3 -> 8/10; 0.1 -> 8/12 -> max at 0.3
  c = choose_threshold(y, s, ThresholdCriterion::max_f1);
  EXPECT_EQ(c.metrics.threshold, 0.3);
  EXPECT_DOUBLE_EQ(c.metrics.f1, 0.8);
  // sensitivity >= 0.75: highest threshold reaching it is 0.5; >= 0.9 needs 0.3
  EXPECT_EQ(choose_threshold(y, s, ThresholdCriterion::sensitivity, 0.75).metrics.threshold, 0.5);
  EXPECT_EQ(choose_threshold(y, s, ThresholdCriterion::sensitivity, 0.9).metrics.threshold, 0.3);
  // specificity >= 0.75: lowest threshold with tn/4 >= 0.75 is 0.5 (negatives 0.1 0.2 0.4 below)
  EXPECT_EQ(choose_threshold(y, s, ThresholdCriterion::specificity, 0.75).metrics.threshold, 0.5);
  EXPECT_EQ(choose_threshold(y, s, ThresholdCriterion::specificity, 1.0).metrics.threshold, 0.7);
  // precision >= 0.7: 0.5 gives 3/4; 0.3 gives 4/6 -> lowest meeting it is 0.5
  EXPECT_EQ(choose_threshold(y, s, ThresholdCriterion::precision, 0.7).metrics.threshold, 0.5);
  c = choose_threshold(y, s, ThresholdCriterion::fixed, 0.35);
  EXPECT_EQ(c.metrics.threshold, 0.35);
  EXPECT_EQ(c.metrics.counts.tp, 3);
  EXPECT_EQ(c.target, 0.35);
}

TEST(Thresholds, AboveAllCandidateAndErrors) {
  // only "predict nothing" reaches specificity 1 when the top score is a negative
  const std::vector<int> y = {1, 0, 1, 0};
  const std::vector<double> s = {0.3, 0.9, 0.6, 0.2};
  ThresholdChoice c = choose_threshold(y, s, ThresholdCriterion::specificity, 1.0);
  EXPECT_GT(c.metrics.threshold, 0.9);
  EXPECT_EQ(c.metrics.counts.tp + c.metrics.counts.fp, 0);
  expect_error([&] { choose_threshold({1, 0, 0}, {0.1, 0.9, 0.8}, ThresholdCriterion::precision, 0.5); },
               "no threshold reaches precision");
  expect_error([&] { choose_threshold(y, s, ThresholdCriterion::sensitivity, 0.0); }, "must be in (0, 1]");
  expect_error([&] { choose_threshold({0, 0}, {0.1, 0.2}, ThresholdCriterion::youden); }, "both classes");
  expect_error([] { threshold_criterion_from_string("youdn"); }, "unknown threshold criterion 'youdn'");
  EXPECT_EQ(threshold_criterion_from_string("max_f1"), ThresholdCriterion::max_f1);
  EXPECT_EQ(to_string(ThresholdCriterion::specificity), "specificity");
}

TEST(Thresholds, BruteForceAgreement) {
  // On random tied data, the chosen threshold is optimal among all distinct scores (and the
  // above-all value), and on exact ties no higher candidate is equally good.
  uint64_t st = 2024;
  for (int rep = 0; rep < 30; ++rep) {
    std::vector<int> y;
    std::vector<double> s;
    for (int i = 0; i < 40; ++i) {
      y.push_back(static_cast<int>(splitmix(st) % 3 == 0));
      s.push_back(static_cast<double>(splitmix(st) % 12) / 10.0);
    }
    if (std::count(y.begin(), y.end(), 1) == 0 || std::count(y.begin(), y.end(), 0) == 0) continue;
    std::vector<double> cand = s;
    std::sort(cand.begin(), cand.end());
    cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
    cand.push_back(std::nextafter(cand.back(), INFINITY));
    const double j = choose_threshold(y, s, ThresholdCriterion::youden).metrics.threshold;
    const double f = choose_threshold(y, s, ThresholdCriterion::max_f1).metrics.threshold;
    const double sens = choose_threshold(y, s, ThresholdCriterion::sensitivity, 0.8).metrics.threshold;
    const ThresholdMetrics mj = metrics_at_threshold(y, s, j), mf = metrics_at_threshold(y, s, f);
    for (double t : cand) {
      const ThresholdMetrics m = metrics_at_threshold(y, s, t);
      EXPECT_LE(m.recall - (1 - m.specificity), mj.recall - (1 - mj.specificity) + 1e-12);
      if (t > j) EXPECT_LT(m.recall - (1 - m.specificity), mj.recall - (1 - mj.specificity) - 1e-12);
      EXPECT_LE(m.f1, mf.f1 + 1e-12);
      if (t > f) EXPECT_LT(m.f1, mf.f1 - 1e-12);
      if (t > sens) EXPECT_LT(m.recall, 0.8);
    }
    EXPECT_GE(metrics_at_threshold(y, s, sens).recall, 0.8);
  }
}

TEST(PlattOracle, MatchesScikitLearnSigmoidCalibrationAndLogisticRegression) {
  char tmpl[] = "/tmp/fracture_platt_oracle_XXXXXX";
  const char* dir = mkdtemp(tmpl);
  ASSERT_NE(dir, nullptr);
  const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/platt_oracle.py " + dir;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const json all = json::parse(read_file(fs::path(dir) / "platt_cases.json"));
  fs::remove_all(dir);
  ASSERT_EQ(all.size(), 4u);
  for (const json& c : all) {
    const auto z = c["logits"].get<std::vector<double>>();
    const auto y = c["labels"].get<std::vector<int>>();
    const PlattFit f = fit_platt(z, y);
    // sklearn stops BFGS at gradient 1e-5: same optimum to about 1e-4; our loss is not above its.
    EXPECT_NEAR(f.a, c["A"].get<double>(), 2e-4);
    EXPECT_NEAR(f.b, c["B"].get<double>(), 2e-4);
    EXPECT_LE(f.loss, c["objective"].get<double>() + 1e-12);
    const auto p = c["probs"].get<std::vector<double>>();
    const CalibrationLine line = calibration_line(y, p);
    // sklearn's lbfgs stops at its own tolerance (differences up to 6e-6 seen); ours solves the
    // score equations to 1e-12, checked below
    EXPECT_NEAR(line.slope, c["slope"].get<double>(), 2e-5);
    EXPECT_NEAR(line.slope_intercept, c["slope_intercept"].get<double>(), 2e-5);
    double g0 = 0, g1 = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      const double lp = std::log(p[i] / (1 - p[i]));
      const double r = 1.0 / (1.0 + std::exp(-(line.slope_intercept + line.slope * lp))) - y[i];
      g0 += r, g1 += r * lp;
    }
    EXPECT_NEAR(g0, 0.0, 1e-8);
    EXPECT_NEAR(g1, 0.0, 1e-8);
    // calibration-in-the-large solves its score equation: predicted events = observed events
    double predicted = 0, observed = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      predicted += 1.0 / (1.0 + std::exp(-(line.intercept_in_the_large + std::log(p[i] / (1 - p[i])))));
      observed += y[i];
    }
    EXPECT_NEAR(predicted, observed, 1e-8);
  }
}

TEST(Platt, RemovesTheShiftOfClassWeightedTrainingThatATemperatureCannot) {
  // Logits of a model trained with pos_weight w are shifted by about log(w): calibrated by a
  // temperature they stay too high at every level; Platt's bias removes the shift.
  uint64_t s = 11;
  std::vector<double> z;
  std::vector<int> y;
  for (int i = 0; i < 4000; ++i) {
    const double u1 = (double(splitmix(s) >> 11) + 0.5) / 9007199254740992.0;
    const double u2 = (double(splitmix(s) >> 11) + 0.5) / 9007199254740992.0;
    const double clean = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2) * 1.5 - 1.5;  // true log-odds
    const double u3 = (double(splitmix(s) >> 11) + 0.5) / 9007199254740992.0;
    y.push_back(u3 < 1.0 / (1.0 + std::exp(-clean)));
    z.push_back(clean + std::log(4.58));  // the shift pos_weight 4.58 adds
  }
  const TemperatureFit t = fit_temperature_binary(z, y);
  const CalibrationLine after_t = calibration_line(y, apply_temperature_binary(z, t.temperature));
  const PlattFit f = fit_platt(z, y);
  const CalibrationLine after_p = calibration_line(y, apply_platt(z, f));
  EXPECT_LT(after_t.intercept_in_the_large, -0.3);                 // still over-predicting
  EXPECT_NEAR(after_p.intercept_in_the_large, 0.0, 0.05);           // the shift is gone
  EXPECT_NEAR(after_p.slope, 1.0, 0.1);
  EXPECT_NEAR(f.b, std::log(4.58), 0.2);                            // B recovers log(pos_weight) (a ~ -1)
  EXPECT_NEAR(f.a, -1.0, 0.1);
  EXPECT_THROW(fit_platt({0.1, 0.2}, {1, 1}), Error);
  EXPECT_THROW(calibration_line({0, 1}, {0.5, 1.5}), Error);
}

TEST(Calibrator, EachMethodIsItsOwnFitAndRoundTripsThroughJson) {
  const std::vector<double> z = {-2, -1, 1.5, 2.5, -0.5, 1, -1.5, 2, 0.3, -0.2, 0.8, -0.9};
  const std::vector<int> y = {0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1};
  const Calibrator t = fit_calibrator(CalibrationMethod::temperature, z, y);
  const TemperatureFit tf = fit_temperature_binary(z, y);
  EXPECT_EQ(t.temperature, tf.temperature);
  EXPECT_NEAR(t.nll_before, binary_nll(z, y, 1.0), 1e-14);
  EXPECT_NEAR(t.nll_after, binary_nll(z, y, tf.temperature), 1e-14);
  const std::vector<double> pt = t.apply(z), pt_ref = apply_temperature_binary(z, tf.temperature);
  for (size_t i = 0; i < z.size(); ++i) EXPECT_DOUBLE_EQ(pt[i], pt_ref[i]);

  const Calibrator p = fit_calibrator(CalibrationMethod::platt, z, y);
  const PlattFit pf = fit_platt(z, y);
  EXPECT_EQ(p.a, pf.a);
  EXPECT_EQ(p.b, pf.b);
  const std::vector<double> pp = p.apply(z), pp_ref = apply_platt(z, pf);
  for (size_t i = 0; i < z.size(); ++i) EXPECT_NEAR(pp[i], pp_ref[i], 1e-15);
  // nll_after is against the labels themselves (Platt minimises against smoothed targets)
  double nll = 0;
  for (size_t i = 0; i < z.size(); ++i) nll -= std::log(y[i] ? pp[i] : 1 - pp[i]);
  EXPECT_NEAR(p.nll_after, nll / double(z.size()), 1e-12);

  const Calibrator n = fit_calibrator(CalibrationMethod::none, z, y);
  EXPECT_EQ(n.nll_before, n.nll_after);
  EXPECT_DOUBLE_EQ(n.apply({0.0})[0], 0.5);

  for (const Calibrator& c : {t, p, n}) {
    const Calibrator back = report::calibrator_from_json(report::calibrator_json(c), "test");
    EXPECT_EQ(back.method, c.method);
    EXPECT_EQ(back.apply(z), c.apply(z)) << to_string(c.method);
  }
  // a calibration.json of a run made before the key existed: a temperature
  const Calibrator old = report::calibrator_from_json(nlohmann::json{{"temperature", 1.7}}, "old/calibration.json");
  EXPECT_EQ(old.method, CalibrationMethod::temperature);
  EXPECT_EQ(old.temperature, 1.7);
  try {
    report::calibrator_from_json(nlohmann::json{{"method", "platt"}, {"a", -1.0}}, "run/calibration.json");
    FAIL() << "a Platt calibration without b was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run/calibration.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_calibration_method("isotonic"), Error);
  EXPECT_EQ(parse_calibration_method("platt"), CalibrationMethod::platt);
}

// The study's fusion model against scikit-learn's LogisticRegression() defaults (L2, C = 1,
// unpenalised intercept): coefficients, intercept and probabilities, and the penalised score
// equations solved to 1e-8 (so a gap to sklearn is its lbfgs tolerance, not ours).
TEST(LogisticRegressionOracle, MatchesScikitLearnDefaults) {
  char tmpl[] = "/tmp/fracture_logreg_oracle_XXXXXX";
  const char* dir = mkdtemp(tmpl);
  ASSERT_NE(dir, nullptr);
  const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/logreg_oracle.py " + dir;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const json all = json::parse(read_file(fs::path(dir) / "logreg_cases.json"));
  fs::remove_all(dir);
  ASSERT_EQ(all.size(), 4u);
  for (const json& c : all) {
    const auto x = c["x"].get<std::vector<std::vector<double>>>();
    const auto y = c["y"].get<std::vector<int>>();
    const double C = c["C"].get<double>();
    const LogisticRegressionFit f = fit_logistic_regression(x, y, C);
    const auto coef = c["coef"].get<std::vector<double>>();
    ASSERT_EQ(f.coef.size(), coef.size());
    for (size_t k = 0; k < coef.size(); ++k) EXPECT_NEAR(f.coef[k], coef[k], 1e-5) << k;
    EXPECT_NEAR(f.intercept, c["intercept"].get<double>(), 1e-5);
    const auto proba = c["proba"].get<std::vector<double>>();
    std::vector<double> g(coef.size() + 1, 0.0);
    for (size_t i = 0; i < x.size(); ++i) {
      const double p = stable_sigmoid(logistic_regression_logit(f, x[i]));
      EXPECT_NEAR(p, proba[i], 5e-6) << i;  // sklearn lbfgs stops near its tolerance (1.4e-6 seen)
      g[0] += C * (p - y[i]);
      for (size_t k = 0; k < coef.size(); ++k) g[k + 1] += C * (p - y[i]) * x[i][k];
    }
    for (size_t k = 0; k < coef.size(); ++k) g[k + 1] += f.coef[k];
    for (double v : g) EXPECT_LT(std::fabs(v), 1e-8);
  }
  EXPECT_THROW(fit_logistic_regression({{1.0}, {2.0}}, {1, 1}), Error);
  EXPECT_THROW(fit_logistic_regression({{1.0}, {2.0, 3.0}}, {0, 1}), Error);
}
