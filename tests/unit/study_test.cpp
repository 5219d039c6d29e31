// Study statistics (report/study.h): pooled OOF metrics with bootstrap CIs, per-fold temperature and
// nested thresholds fitted on inner validation only, DeLong comparisons, input checks, outputs.
// Reference values come from the oracle-tested building blocks (classification_metrics, bootstrap,
// delong, temperature, thresholds) applied by hand to the same rows, and from hand computation.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fracture/calibrate/calibration.h"
#include "fracture/calibrate/platt.h"
#include "fracture/calibrate/temperature.h"
#include "fracture/calibrate/thresholds.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/rng.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/eval/delong.h"
#include "fracture/report/study.h"
#include "fracture/report/study_files.h"
#include "expect_error.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace fracture;

namespace {

struct Rng : SplitMix64 {
  double normal() { return std::sqrt(-2 * std::log(uniform())) * std::cos(2 * M_PI * uniform()); }
};

std::string image_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "img/%04d.png", i);  // sorted order = index order
  return buf;
}

// n images (every 3rd positive); per model and repeat a seeded random partition into k outer folds;
// logits label * shift + N(0, 1); inner validation sets of 24 cases from the same distribution.
std::vector<FoldPredictions> simulate(const std::vector<std::string>& models, int n, int repeats, int k,
                                      uint64_t seed, double shift = 1.2) {
  std::vector<int> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = i % 3 == 0 ? 1 : 0;
  std::vector<FoldPredictions> out;
  Rng rng{{seed}};
  for (size_t m = 0; m < models.size(); ++m)
    for (int r = 0; r < repeats; ++r) {
      std::vector<int> perm(n);
      for (int i = 0; i < n; ++i) perm[i] = i;
      for (int i = n - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
      for (int f = 0; f < k; ++f) {
        FoldPredictions fp;
        fp.model = models[m];
        fp.repeat = r;
        fp.fold = f;
        for (int j = f; j < n; j += k) {
          const int i = perm[j];
          fp.images.push_back(image_name(i));
          fp.patients.push_back("p" + std::to_string(i / 2));
          fp.labels.push_back(labels[i]);
          fp.logits.push_back(labels[i] * shift * (1.0 + 0.3 * m) - 0.8 + 1.7 * rng.normal());
        }
        for (int v = 0; v < 24; ++v) {
          const int y = v % 3 == 0 ? 1 : 0;
          fp.val_labels.push_back(y);
          fp.val_logits.push_back(y * shift * 2.0 - 1.5 + 3.0 * rng.normal());
        }
        fp.best_epoch = 3;
        fp.epochs_run = 8;
        fp.train_seconds = 1.5;
        out.push_back(fp);
      }
    }
  return out;
}

StudyOptions fast_options(uint64_t seed = 7) {
  StudyOptions o;
  o.n_bootstrap = 200;
  o.seed = seed;
  return o;
}

const MetricSummary& metric(const ModelSummary& m, const std::string& k) {
  for (const auto& [name, v] : m.metrics)
    if (name == k) return v;
  for (const auto& [name, v] : m.calibration)
    if (name == k) return v;
  throw std::runtime_error("no metric " + k);
}

const FoldSummary& fold_of(const ModelSummary& m, int repeat, int fold) {
  for (const FoldSummary& f : m.folds)
    if (f.repeat == repeat && f.fold == fold) return f;
  throw std::runtime_error("no fold");
}

using fracture::test::expect_error;

fs::path fresh_dir(const std::string& name) {
  char tmpl[] = "/tmp/fracture_study_test_XXXXXX";
  const char* d = mkdtemp(tmpl);
  if (!d) throw std::runtime_error("mkdtemp failed");
  return fs::path(d) / name;
}

// Minimal CSV reader (fields here contain no commas or quotes).
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& p) {
  std::istringstream in(read_file(p));
  std::string line;
  std::getline(in, line);
  std::vector<std::string> head;
  {
    std::istringstream h(line);
    std::string c;
    while (std::getline(h, c, ',')) head.push_back(c);
  }
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string c;
    std::map<std::string, std::string> row;
    size_t i = 0;
    while (std::getline(l, c, ',')) row[head.at(i++)] = c;
    if (line.back() == ',') row[head.at(i++)] = "";
    EXPECT_EQ(i, head.size()) << line;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST(Study, PerfectlySeparableGivesAurocOneWithDegenerateCi) {
  // one repeat, two folds, every positive logit above every negative one
  std::vector<FoldPredictions> folds(2);
  for (int f = 0; f < 2; ++f) {
    folds[f].model = "resnet18";
    folds[f].fold = f;
    for (int i = 0; i < 6; ++i) {
      const int y = i % 2;
      folds[f].images.push_back(image_name(f * 6 + i));
      folds[f].patients.push_back("");
      folds[f].labels.push_back(y);
      folds[f].logits.push_back(y ? 2.0 + i : -3.0 - i);
    }
    folds[f].val_labels = {0, 1, 0, 1, 1, 0};
    folds[f].val_logits = {-1.0, 0.5, 0.7, 2.0, -0.2, -2.0};
  }
  const StudySummary s = summarise_study(folds, fast_options());
  ASSERT_EQ(s.models.size(), 1u);
  const ModelSummary& m = s.models[0];
  EXPECT_EQ(m.n_images, 12);
  EXPECT_EQ(m.n_positive, 6);
  EXPECT_EQ(m.n_folds, 2);
  EXPECT_EQ(m.n_repeats, 1);
  for (const char* k : {"auroc", "ap", "accuracy", "precision", "recall", "specificity", "f1"}) {
    const MetricSummary& v = metric(m, k);
    EXPECT_DOUBLE_EQ(v.value, 1.0) << k;
    EXPECT_DOUBLE_EQ(v.ci_low, 1.0) << k;
    EXPECT_DOUBLE_EQ(v.ci_high, 1.0) << k;
    EXPECT_DOUBLE_EQ(v.fold_mean, 1.0) << k;
    EXPECT_DOUBLE_EQ(v.fold_sd, 0.0) << k;
    EXPECT_EQ(v.n_folds, 2) << k;
    EXPECT_EQ(v.n_resamples, 200) << k;
  }
  EXPECT_TRUE(s.comparisons.empty());
  // Brier by hand from the calibrated probabilities
  double brier = 0;
  for (const FoldPredictions& f : folds) {
    const double t = fit_temperature_binary(f.val_logits, f.val_labels).temperature;
    for (size_t i = 0; i < f.logits.size(); ++i) {
      const double p = 1.0 / (1.0 + std::exp(-f.logits[i] / t));
      brier += (p - f.labels[i]) * (p - f.labels[i]);
    }
  }
  EXPECT_NEAR(metric(m, "brier").value, brier / 12, 1e-12);
  EXPECT_NEAR(m.brier_after, brier / 12, 1e-12);
}

TEST(Study, HandCheckedThresholdMetricsAtHalf) {
  // 1 repeat, 2 folds of 4; at p >= 0.5 (logit >= 0, and sigmoid(0 / T) = 0.5 counts as positive):
  // fold 0 tp 1, fn 1, fp 1, tn 1; fold 1 tp 1, fp 1 (the logit 0.0), tn 2 -> tp 2, fn 1, fp 2, tn 3
  std::vector<FoldPredictions> folds(2);
  const double logits[2][4] = {{1.0, -0.5, 0.2, -2.0}, {3.0, 0.0, -1.0, -0.1}};
  const int labels[2][4] = {{1, 1, 0, 0}, {1, 0, 0, 0}};
  for (int f = 0; f < 2; ++f) {
    folds[f].model = "m";
    folds[f].fold = f;
    for (int i = 0; i < 4; ++i) {
      folds[f].images.push_back(image_name(f * 4 + i));
      folds[f].labels.push_back(labels[f][i]);
      folds[f].logits.push_back(logits[f][i]);
    }
    folds[f].val_labels = {0, 1, 0, 1};
    folds[f].val_logits = {-1.0, 0.5, 0.7, 2.0};
  }
  const ModelSummary m = summarise_study(folds, fast_options()).models[0];
  EXPECT_DOUBLE_EQ(metric(m, "accuracy").value, 5.0 / 8);
  EXPECT_DOUBLE_EQ(metric(m, "precision").value, 2.0 / 4);
  EXPECT_DOUBLE_EQ(metric(m, "recall").value, 2.0 / 3);
  EXPECT_DOUBLE_EQ(metric(m, "specificity").value, 3.0 / 5);
  EXPECT_DOUBLE_EQ(metric(m, "f1").value, 4.0 / 7);
  // per fold: recall 0.5 and 1
  EXPECT_DOUBLE_EQ(metric(m, "recall").fold_mean, 0.75);
  EXPECT_NEAR(metric(m, "recall").fold_sd, std::sqrt(0.125), 1e-15);
  // AUROC on logits by hand: positives {1.0, -0.5, 3.0}, negatives {0.2, -2.0, 0.0, -1.0, -0.1}:
  // 1.0 beats 5, -0.5 beats 2, 3.0 beats 5 -> 12 / 15
  EXPECT_DOUBLE_EQ(metric(m, "auroc").value, 12.0 / 15);
}

TEST(Study, PooledValuesEqualMetricsRecomputedFromCsvRows) {
  const auto folds = simulate({"resnet18", "mobilenet_v3_small"}, 90, 3, 5, 11);
  const StudySummary s = summarise_study(folds, fast_options());
  const fs::path dir = fresh_dir("run");
  write_study_outputs(dir, s, folds);
  const auto rows = read_csv(dir / "oof_predictions.csv");
  ASSERT_EQ(rows.size(), 2u * 3 * 90);
  for (const ModelSummary& m : s.models) {
    double auroc = 0, ap = 0, brier = 0, acc = 0, ece = 0, ece_before = 0;
    for (int r = 0; r < 3; ++r) {
      std::vector<int> y;
      std::vector<double> logit, p, pc;
      for (const auto& row : rows) {
        if (row.at("model") != m.model || std::stoi(row.at("repeat")) != r) continue;
        y.push_back(std::stoi(row.at("label")));
        logit.push_back(std::stod(row.at("logit")));
        p.push_back(std::stod(row.at("probability")));
        pc.push_back(std::stod(row.at("calibrated_probability")));
        // the temperature column is the fold's fit on its validation split
        const double t = std::stod(row.at("temperature"));
        EXPECT_EQ(row.at("calibration"), "temperature");
        EXPECT_DOUBLE_EQ(t, fold_of(m, r, std::stoi(row.at("fold"))).calibration.temperature);
        EXPECT_NEAR(pc.back(), 1.0 / (1.0 + std::exp(-logit.back() / t)), 1e-15);
      }
      ASSERT_EQ(y.size(), 90u);
      auroc += roc_auc_score(y, logit) / 3;
      ap += average_precision_score(y, logit) / 3;
      brier += brier_score_loss(y, pc) / 3;
      acc += metrics_at_threshold(y, pc, 0.5).accuracy / 3;
      ece += calibration_report(y, pc, 15).ece / 3;
      ece_before += calibration_report(y, p, 15).ece / 3;
    }
    EXPECT_NEAR(metric(m, "auroc").value, auroc, 1e-12) << m.model;
    EXPECT_NEAR(metric(m, "ap").value, ap, 1e-12) << m.model;
    EXPECT_NEAR(metric(m, "brier").value, brier, 1e-12) << m.model;
    EXPECT_NEAR(metric(m, "accuracy").value, acc, 1e-12) << m.model;
    EXPECT_NEAR(m.ece_after, ece, 1e-12) << m.model;
    EXPECT_NEAR(m.ece_before, ece_before, 1e-12) << m.model;
    const MetricSummary& a = metric(m, "auroc");
    EXPECT_LT(a.ci_low, a.value);
    EXPECT_GT(a.ci_high, a.value);
    EXPECT_EQ(a.n_folds, 15);
  }
  fs::remove_all(dir.parent_path());
}

TEST(Study, SingleRepeatCiEqualsBootstrapCiOnTheRows) {
  const auto folds = simulate({"resnet18"}, 60, 1, 4, 3);
  const StudyOptions opt = fast_options(99);
  const ModelSummary m = summarise_study(folds, opt).models[0];
  // image-sorted OOF rows (image_name sorts like the index)
  std::vector<int> y(60);
  std::vector<double> logit(60);
  for (const FoldPredictions& f : folds)
    for (size_t i = 0; i < f.images.size(); ++i) {
      const int idx = std::stoi(f.images[i].substr(4, 4));
      y[idx] = f.labels[i];
      logit[idx] = f.logits[i];
    }
  BootstrapOptions bo;
  bo.n_resamples = opt.n_bootstrap;
  bo.seed = opt.seed;
  bo.confidence = opt.confidence;
  const BootstrapResult ref = bootstrap_ci(y, logit, roc_auc_score, bo);
  EXPECT_DOUBLE_EQ(metric(m, "auroc").value, ref.estimate);
  EXPECT_DOUBLE_EQ(metric(m, "auroc").ci_low, ref.lower);
  EXPECT_DOUBLE_EQ(metric(m, "auroc").ci_high, ref.upper);
}

TEST(Study, IndexBootstrapReproducesBootstrapCi) {
  Rng rng{{5}};
  std::vector<int> y;
  std::vector<double> s;
  for (int i = 0; i < 40; ++i) {
    y.push_back(i % 4 == 0);
    s.push_back(y.back() + rng.normal());
  }
  BootstrapOptions bo;
  bo.n_resamples = 300;
  bo.seed = 12;
  bo.confidence = 0.9;
  const BootstrapResult ref = bootstrap_ci(y, s, average_precision_score, bo);
  const IndexBootstrap got = stratified_bootstrap_indices(y, 300, 0.9, 12, [&](const std::vector<size_t>& idx) {
    std::vector<int> yy;
    std::vector<double> ss;
    for (size_t i : idx) {
      yy.push_back(y[i]);
      ss.push_back(s[i]);
    }
    return std::vector<double>{average_precision_score(yy, ss), std::nan("")};
  });
  ASSERT_EQ(got.estimate.size(), 2u);
  EXPECT_DOUBLE_EQ(got.estimate[0], ref.estimate);
  EXPECT_DOUBLE_EQ(got.lower[0], ref.lower);
  EXPECT_DOUBLE_EQ(got.upper[0], ref.upper);
  EXPECT_EQ(got.n_valid[0], 300);
  EXPECT_EQ(got.n_valid[1], 0);
  EXPECT_TRUE(std::isnan(got.lower[1]));
}

TEST(Study, TemperatureAndThresholdsComeFromValidationOnly) {
  auto folds = simulate({"resnet18"}, 60, 2, 3, 21);
  const StudyOptions opt = fast_options();
  const ModelSummary before = summarise_study(folds, opt).models[0];
  for (const FoldPredictions& f : folds) {
    const FoldSummary& fs = fold_of(before, f.repeat, f.fold);
    const double t = fit_temperature_binary(f.val_logits, f.val_labels).temperature;
    EXPECT_DOUBLE_EQ(fs.calibration.temperature, t);
    const std::vector<double> vp = apply_temperature_binary(f.val_logits, t);
    ASSERT_EQ(fs.thresholds.size(), opt.criteria.size());
    for (size_t q = 0; q < opt.criteria.size(); ++q)
      EXPECT_DOUBLE_EQ(fs.thresholds[q],
                       choose_threshold(f.val_labels, vp, opt.criteria[q].first, opt.criteria[q].second)
                           .metrics.threshold)
          << q;
  }
  // Leakage check: change every outer logit; T and thresholds must not move, metrics must.
  for (FoldPredictions& f : folds)
    for (double& z : f.logits) z = -2.0 * z + 0.3;
  const ModelSummary after = summarise_study(folds, opt).models[0];
  ASSERT_EQ(after.folds.size(), before.folds.size());
  for (size_t k = 0; k < after.folds.size(); ++k) {
    EXPECT_DOUBLE_EQ(after.folds[k].calibration.temperature, before.folds[k].calibration.temperature);
    for (size_t q = 0; q < opt.criteria.size(); ++q)
      EXPECT_DOUBLE_EQ(after.folds[k].thresholds[q], before.folds[k].thresholds[q]);
  }
  EXPECT_NE(metric(after, "auroc").value, metric(before, "auroc").value);
  for (size_t q = 0; q < opt.criteria.size(); ++q) {
    EXPECT_DOUBLE_EQ(after.operating_points[q].threshold_mean, before.operating_points[q].threshold_mean);
  }
  // ... while changing the validation logits does move them
  for (FoldPredictions& f : folds)
    for (double& z : f.val_logits) z *= 3.0;
  const ModelSummary val_changed = summarise_study(folds, opt).models[0];
  EXPECT_NE(val_changed.folds[0].calibration.temperature, before.folds[0].calibration.temperature);
}

TEST(Study, OperatingPointsApplyEachFoldsThresholdToItsOuterFold) {
  const auto folds = simulate({"resnet18"}, 60, 1, 3, 8);
  const StudyOptions opt = fast_options();
  const ModelSummary m = summarise_study(folds, opt).models[0];
  ASSERT_EQ(m.operating_points.size(), opt.criteria.size());
  EXPECT_EQ(m.operating_points[0].criterion, "youden");
  EXPECT_EQ(m.operating_points[2].criterion, "sensitivity>=0.90");
  EXPECT_EQ(m.operating_points[5].criterion, "fixed=0.5");
  for (size_t q = 0; q < opt.criteria.size(); ++q) {
    Confusion pooled;
    std::vector<double> thr, recall;
    for (const FoldPredictions& f : folds) {
      const FoldSummary& fs = fold_of(m, f.repeat, f.fold);
      const double t = fs.thresholds[q];
      thr.push_back(t);
      const std::vector<double> pc = apply_temperature_binary(f.logits, fs.calibration.temperature);
      const Confusion c = confusion_at(f.labels, pc, t);
      pooled.tp += c.tp;
      pooled.fp += c.fp;
      pooled.tn += c.tn;
      pooled.fn += c.fn;
      recall.push_back(metrics_from_counts(c, t).recall);
    }
    const ThresholdMetrics pm = metrics_from_counts(pooled, 0);
    const OperatingPoint& op = m.operating_points[q];
    EXPECT_EQ(op.n_failed, 0);
    EXPECT_NEAR(op.threshold_mean, mean_sd(thr).mean, 1e-15);
    EXPECT_NEAR(op.threshold_sd, mean_sd(thr).sd, 1e-15);
    EXPECT_DOUBLE_EQ(op.sensitivity.value, pm.recall) << op.criterion;
    EXPECT_DOUBLE_EQ(op.specificity.value, pm.specificity) << op.criterion;
    EXPECT_DOUBLE_EQ(op.precision.value, pm.precision) << op.criterion;
    EXPECT_DOUBLE_EQ(op.f1.value, pm.f1) << op.criterion;
    EXPECT_DOUBLE_EQ(op.accuracy.value, pm.accuracy) << op.criterion;
    EXPECT_NEAR(op.sensitivity.fold_mean, mean_sd(recall).mean, 1e-15) << op.criterion;
    EXPECT_LE(op.sensitivity.ci_low, op.sensitivity.ci_high);
  }
  // fixed 0.5 is the main table's threshold
  EXPECT_DOUBLE_EQ(m.operating_points[5].sensitivity.value, metric(m, "recall").value);
  EXPECT_DOUBLE_EQ(m.operating_points[5].f1.ci_low, metric(m, "f1").ci_low);
}

TEST(Study, UnmetCriterionCountsAsFailedAndLeavesTheFoldOut) {
  auto folds = simulate({"m"}, 30, 1, 2, 4);
  // fold 0's validation: the top score is a negative, so precision >= 1 is never reached there
  folds[0].val_labels = {0, 1, 1, 0};
  folds[0].val_logits = {5.0, 2.0, 1.0, -1.0};
  folds[1].val_labels = {0, 1, 1, 0};
  folds[1].val_logits = {-5.0, 2.0, 1.0, -1.0};
  StudyOptions opt = fast_options();
  opt.criteria = {{ThresholdCriterion::precision, 1.0}, {ThresholdCriterion::fixed, 0.5}};
  const ModelSummary m = summarise_study(folds, opt).models[0];
  const OperatingPoint& op = m.operating_points[0];
  EXPECT_EQ(op.criterion, "precision>=1.00");
  EXPECT_EQ(op.n_failed, 1);
  EXPECT_EQ(op.n_folds, 1);
  EXPECT_TRUE(std::isnan(fold_of(m, 0, 0).thresholds[0]));
  const double t = fold_of(m, 0, 1).thresholds[0];
  EXPECT_DOUBLE_EQ(op.threshold_mean, t);
  const FoldSummary& f1 = fold_of(m, 0, 1);
  const std::vector<double> pc = apply_temperature_binary(folds[1].logits, f1.calibration.temperature);
  const ThresholdMetrics tm = metrics_at_threshold(folds[1].labels, pc, t);
  EXPECT_DOUBLE_EQ(op.sensitivity.value, tm.recall);  // only fold 1's images
  EXPECT_DOUBLE_EQ(op.sensitivity.fold_mean, tm.recall);
  EXPECT_EQ(op.sensitivity.n_folds, 1);
  EXPECT_NE(format_study_tables(summarise_study(folds, opt)).find("1 / 1"), std::string::npos);
}

TEST(Study, DelongOnMeanLogitsOverRepeats) {
  const auto folds = simulate({"resnet18", "mobilenet_v3_small", "efficientnet_b0"}, 75, 2, 3, 17);
  const StudySummary s = summarise_study(folds, fast_options());
  ASSERT_EQ(s.comparisons.size(), 3u);
  std::map<std::string, std::vector<double>> mean;
  std::vector<int> y(75);
  for (const FoldPredictions& f : folds) {
    auto& v = mean[f.model];
    v.resize(75);
    for (size_t i = 0; i < f.images.size(); ++i) {
      const int idx = std::stoi(f.images[i].substr(4, 4));
      v[idx] += f.logits[i] / 2;
      y[idx] = f.labels[i];
    }
  }
  for (const ModelComparison& c : s.comparisons) {
    const DelongTest t = delong_test(y, mean.at(c.model_a), mean.at(c.model_b), 0.95);
    EXPECT_NEAR(c.auc_a, t.auc_a, 1e-12);
    EXPECT_NEAR(c.auc_b, t.auc_b, 1e-12);
    EXPECT_NEAR(c.diff, t.diff, 1e-12);
    EXPECT_NEAR(c.diff_low, t.diff_lower, 1e-12);
    EXPECT_NEAR(c.diff_high, t.diff_upper, 1e-12);
    EXPECT_NEAR(c.p_value, t.p_value, 1e-12);
    EXPECT_EQ(c.n_images, 75);
    EXPECT_TRUE(c.note.empty());
  }
  EXPECT_EQ(s.comparisons[0].model_a, "resnet18");
  EXPECT_EQ(s.comparisons[0].model_b, "mobilenet_v3_small");
}

TEST(Study, InputErrorsNameModelRepeatAndFold) {
  const auto good = simulate({"resnet18", "efficientnet_b0"}, 30, 2, 3, 5);
  const StudyOptions opt = fast_options();
  {
    auto f = good;
    f[4].logits.pop_back();  // resnet18 repeat 1 fold 1
    expect_error([&] { summarise_study(f, opt); }, {"resnet18", "repeat 1 fold 1", "logits"});
  }
  {
    auto f = good;
    f[1].images[0] = f[0].images[0];  // duplicate within repeat 0
    expect_error([&] { summarise_study(f, opt); }, {"resnet18", "repeat 0", "twice"});
  }
  {
    auto f = good;
    f[3].images[0] = "img/other.png";  // repeat 1 has an image repeat 0 never scores
    expect_error([&] { summarise_study(f, opt); }, {"resnet18", "repeat 1 fold 0", "img/other.png"});
  }
  {
    auto f = good;
    for (auto& fp : f)
      if (fp.model == "efficientnet_b0")
        for (auto& im : fp.images)
          if (im == image_name(7)) im = "img/x.png";
    expect_error([&] { summarise_study(f, opt); }, {"resnet18", "efficientnet_b0", "different image sets"});
  }
  {
    auto f = good;
    f[2].labels[0] = 1 - f[2].labels[0];
    expect_error([&] { summarise_study(f, opt); }, {"resnet18", "label"});
  }
  {
    auto f = good;
    f[5].val_logits.clear();
    expect_error([&] { summarise_study(f, opt); }, {"resnet18", "repeat 1 fold 2", "val"});
  }
  {
    auto f = good;
    f.push_back(f[0]);
    expect_error([&] { summarise_study(f, opt); }, {"resnet18", "repeat 0 fold 0", "twice"});
  }
  {
    auto f = good;
    f[0].logits[0] = std::nan("");
    expect_error([&] { summarise_study(f, opt); }, {"resnet18", "repeat 0 fold 0", "not finite"});
  }
  expect_error([&] { summarise_study({}, opt); }, {"no fold"});
  {
    StudyOptions bad = opt;
    bad.criteria = {{ThresholdCriterion::sensitivity, 1.5}};
    expect_error([&] { summarise_study(good, bad); }, {"sensitivity", "target", "1.5"});
  }
}

TEST(Study, SameSeedSameOutputsOtherSeedOtherCis) {
  const auto folds = simulate({"resnet18", "mobilenet_v3_small"}, 45, 2, 3, 2);
  const fs::path a = fresh_dir("a"), b = fresh_dir("b"), c = fresh_dir("c");
  write_study_outputs(a, summarise_study(folds, fast_options(1)), folds);
  write_study_outputs(b, summarise_study(folds, fast_options(1)), folds);
  write_study_outputs(c, summarise_study(folds, fast_options(2)), folds);
  int files = 0;
  for (const auto& e : fs::directory_iterator(a)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(read_file(e.path()), read_file(b / name)) << name;
    ++files;
  }
  EXPECT_EQ(files, 9);  // the 8 result files + timing.json (the same here: simulated times)
  EXPECT_EQ(read_file(a / "oof_predictions.csv"), read_file(c / "oof_predictions.csv"));
  EXPECT_NE(read_file(a / "metrics.json"), read_file(c / "metrics.json"));
  for (const fs::path& d : {a, b, c}) fs::remove_all(d.parent_path());
}

TEST(Study, OutputsAreWrittenAndParseable) {
  const auto folds = simulate({"resnet18", "mobilenet_v3_small"}, 45, 2, 3, 9);
  const StudySummary s = summarise_study(folds, fast_options());
  const fs::path dir = fresh_dir("run");
  write_study_outputs(dir, s, folds);
  const json j = json::parse(read_file(dir / "metrics.json"));
  ASSERT_TRUE(j.contains("models"));
  for (const char* model : {"resnet18", "mobilenet_v3_small"}) {
    const json& m = j["models"][model];
    for (const char* k : {"auroc", "ap", "brier", "accuracy", "precision", "recall", "specificity", "f1"}) {
      ASSERT_TRUE(m.contains(k)) << k;
      for (const char* f : {"value", "ci_low", "ci_high", "fold_mean", "fold_sd"}) {
        ASSERT_TRUE(m[k].contains(f)) << k << "." << f;
        EXPECT_TRUE(m[k][f].is_number()) << k << "." << f;
      }
      EXPECT_LE(m[k]["ci_low"].get<double>(), m[k]["ci_high"].get<double>()) << k;
    }
    EXPECT_TRUE(m["ece"].is_number());
    EXPECT_TRUE(m["temperature"].is_number());
    EXPECT_TRUE(m["calibration"]["before"]["ece"]["value"].is_number());
    EXPECT_TRUE(m["calibration"]["after"]["brier"]["ci_low"].is_number());
    EXPECT_EQ(m["operating_points"].size(), 6u);
    EXPECT_EQ(m["n_images"], 45);
    EXPECT_EQ(m["n_positive"], 15);
    EXPECT_EQ(m["folds"].size(), 6u);
  }
  EXPECT_EQ(j["comparisons"].size(), 1u);
  EXPECT_TRUE(j["comparisons"][0]["p_value"].is_number());
  EXPECT_EQ(j["options"]["n_bootstrap"], 200);
  const json curves = json::parse(read_file(dir / "curves.json"));
  EXPECT_FALSE(curves["models"]["resnet18"]["roc"]["fpr"].empty());
  EXPECT_EQ(curves["models"]["resnet18"]["reliability_after"]["bins"].size(), 15u);
  EXPECT_EQ(read_csv(dir / "summary.csv").size(), 2u);
  EXPECT_EQ(read_csv(dir / "calibration.csv").size(), 4u);
  EXPECT_EQ(read_csv(dir / "operating_points.csv").size(), 12u);
  EXPECT_EQ(read_csv(dir / "comparisons.csv").size(), 1u);
  const std::string md = read_file(dir / "summary.md");
  EXPECT_NE(md.find("| resnet18 |"), std::string::npos);
  // summary cells look like "0.712 (0.650-0.770)"
  const auto row = read_csv(dir / "summary.csv")[0];
  const std::string cell = row.at("auroc");
  EXPECT_EQ(cell.size(), std::string("0.712 (0.650-0.770)").size()) << cell;
  EXPECT_DOUBLE_EQ(std::stod(cell), std::round(s.models[0].metrics[0].second.value * 1000) / 1000);
  fs::remove_all(dir.parent_path());
}

TEST(Study, CriterionNames) {
  EXPECT_EQ(criterion_name(ThresholdCriterion::youden, 0), "youden");
  EXPECT_EQ(criterion_name(ThresholdCriterion::max_f1, 0), "max_f1");
  EXPECT_EQ(criterion_name(ThresholdCriterion::specificity, 0.9), "specificity>=0.90");
  EXPECT_EQ(criterion_name(ThresholdCriterion::sensitivity, 0.975), "sensitivity>=0.975");
  EXPECT_EQ(criterion_name(ThresholdCriterion::fixed, 0.5), "fixed=0.5");
}

TEST(Study, DegenerateDelongIsReportedNotHidden) {
  // A separates perfectly, B gives every image the same logit: var(diff) = 0 while diff = 0.5
  auto folds = simulate({"a", "b"}, 24, 1, 2, 6);
  for (FoldPredictions& f : folds)
    for (size_t i = 0; i < f.logits.size(); ++i) f.logits[i] = f.model == "a" ? (f.labels[i] ? 2.0 : -2.0) : 0.0;
  const StudySummary s = summarise_study(folds, fast_options());
  ASSERT_EQ(s.comparisons.size(), 1u);
  const ModelComparison& c = s.comparisons[0];
  EXPECT_DOUBLE_EQ(c.auc_a, 1.0);
  EXPECT_DOUBLE_EQ(c.auc_b, 0.5);
  EXPECT_DOUBLE_EQ(c.diff, 0.5);
  EXPECT_TRUE(std::isnan(c.p_value));
  EXPECT_NE(c.note.find("variance"), std::string::npos) << c.note;
  EXPECT_NE(format_study_tables(s).find("n/a (delong_test"), std::string::npos);
}

TEST(Study, WritingFoldsThatAreNotInTheSummaryFails) {
  auto folds = simulate({"resnet18"}, 24, 1, 2, 6);
  const StudySummary s = summarise_study(folds, fast_options());
  folds[1].fold = 7;
  const fs::path dir = fresh_dir("run");
  expect_error([&] { write_study_outputs(dir, s, folds); }, {"resnet18", "repeat 0 fold 7", "not in the summary"});
  fs::remove_all(dir.parent_path());
}

// Class-weighted training shifts every logit by about log(pos_weight). Simulated here on an
// imbalanced set (1 in 6 fractured) with well-calibrated "clean" log-odds plus log(4.58): a
// temperature leaves the outer folds over-predicting (calibration-in-the-large < 0), Platt's bias,
// fitted on the same inner validation logits, removes it. The study reports both through the same
// calibration figures, and fits each fold's calibrator on its validation split only.
TEST(Study, PlattRemovesTheClassWeightShiftThatTemperatureLeaves) {
  const double shift = std::log(4.58);
  Rng rng{{5}};
  std::vector<FoldPredictions> folds;
  auto draw = [&](std::vector<int>& y, std::vector<double>& z, int n) {
    for (int i = 0; i < n; ++i) {
      const double clean = 1.4 * rng.normal() - 2.2;  // true log-odds, about 1 in 6 positive
      y.push_back(rng.uniform() < 1.0 / (1.0 + std::exp(-clean)) ? 1 : 0);
      z.push_back(clean + shift);
    }
  };
  int img = 0;
  for (int f = 0; f < 3; ++f) {
    FoldPredictions fp;
    fp.model = "resnet18";
    fp.fold = f;
    draw(fp.labels, fp.logits, 700);
    for (size_t i = 0; i < fp.labels.size(); ++i) fp.images.push_back(image_name(img++));
    draw(fp.val_labels, fp.val_logits, 700);
    folds.push_back(fp);
  }
  StudyOptions opt = fast_options();
  opt.calibration = CalibrationMethod::temperature;
  const ModelSummary t = summarise_study(folds, opt).models[0];
  opt.calibration = CalibrationMethod::platt;
  const ModelSummary p = summarise_study(folds, opt).models[0];
  EXPECT_LT(metric(t, "citl_before").value, -1.0);  // the shift: far too high before
  EXPECT_LT(metric(t, "citl_after").value, -0.3);   // a temperature cannot remove it
  EXPECT_NEAR(metric(p, "citl_after").value, 0.0, 0.2);
  EXPECT_NEAR(metric(p, "slope_after").value, 1.0, 0.2);
  EXPECT_LT(metric(p, "ece_after").value, metric(t, "ece_after").value);
  EXPECT_LT(metric(p, "ece_after").value, 0.05);
  EXPECT_EQ(metric(t, "auroc").value, metric(p, "auroc").value);  // ranking untouched
  EXPECT_NEAR(p.platt_b_mean, shift, 0.35);
  EXPECT_TRUE(std::isnan(p.temperature_mean));
  EXPECT_TRUE(std::isnan(t.platt_a_mean));
  for (const FoldPredictions& f : folds) {
    const Calibrator& c = fold_of(p, f.repeat, f.fold).calibration;
    const PlattFit ref = fit_platt(f.val_logits, f.val_labels);
    EXPECT_EQ(c.method, CalibrationMethod::platt);
    EXPECT_EQ(c.a, ref.a);
    EXPECT_EQ(c.b, ref.b);
  }
  EXPECT_TRUE(p.calibration_warning.empty()) << p.calibration_warning;
  // calibration.csv and summary.md carry the method, the line and the fitted parameters
  const fs::path dir = fresh_dir("platt");
  fs::create_directories(dir);
  const StudySummary s = summarise_study(folds, opt);
  write_study_outputs(dir, s, folds);
  const auto rows = read_csv(dir / "calibration.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].at("stage"), "after");
  EXPECT_EQ(rows[1].at("method"), "platt");
  EXPECT_NEAR(std::stod(rows[1].at("citl")), metric(p, "citl_after").value, 1e-12);
  const std::string md = read_file(dir / "summary.md");
  EXPECT_NE(md.find("platt calibration"), std::string::npos) << md;
  EXPECT_NE(md.find("intercept after"), std::string::npos);
  const json j = json::parse(read_file(dir / "metrics.json"));
  EXPECT_EQ(j["models"]["resnet18"]["folds"][0]["calibration"]["method"], "platt");
  EXPECT_TRUE(j["models"]["resnet18"]["calibration"]["after"]["slope"]["value"].is_number());
  fs::remove_all(dir.parent_path());
}

// A calibrator fitted on validation data unlike the outer folds makes them worse: the summary says
// so in words, with the numbers, and the Markdown report carries the warning.
TEST(Study, CalibrationThatMakesAModelWorseIsFlagged) {
  auto folds = simulate({"resnet18"}, 90, 1, 3, 4, 2.0);
  StudyOptions opt = fast_options();
  const ModelSummary ok = summarise_study(folds, opt).models[0];
  EXPECT_EQ(ok.calibration_warning.empty(), !(ok.ece_after > ok.ece_before || ok.brier_after > ok.brier_before));
  for (FoldPredictions& f : folds)
    for (double& z : f.val_logits) z += 4.0;  // validation logits unlike the outer folds' (a shifted site)
  opt.calibration = CalibrationMethod::platt;  // learns to take the shift off: outer p far too low
  const StudySummary s = summarise_study(folds, opt);
  const ModelSummary& bad = s.models[0];
  ASSERT_GT(bad.ece_after, bad.ece_before);
  EXPECT_NE(bad.calibration_warning.find("platt calibration made resnet18 worse"), std::string::npos)
      << bad.calibration_warning;
  EXPECT_NE(bad.calibration_warning.find("ECE"), std::string::npos);
  EXPECT_NE(format_study_tables(s).find("**Warning:** platt calibration made resnet18 worse"), std::string::npos);
  opt.calibration = CalibrationMethod::none;  // nothing fitted: nothing can get worse
  EXPECT_TRUE(summarise_study(folds, opt).models[0].calibration_warning.empty());
}
