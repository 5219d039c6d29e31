// Summary of a cross-validated classification study from its out-of-fold predictions: metrics with
// CIs per backbone, temperature scaling per fold, nested thresholds, DeLong comparisons, and the
// files of a run directory (oof_predictions.csv, metrics.json, tables CSV/Markdown, curve data).
// Pure C++ (no torch): the training engine fills FoldPredictions, this file does the statistics.
//
//   std::vector<fracture::FoldPredictions> folds = ...;   // one per (model, repeat, outer fold)
//   fracture::StudyOptions opt;  opt.seed = cfg.integer("seed");
//   fracture::StudySummary s = fracture::summarise_study(folds, opt);
//   fracture::write_study_outputs(run_dir, s, folds);
//   std::printf("%s", fracture::format_study_tables(s).c_str());
//
// Leakage rule: everything fitted per fold (temperature T, each criterion's threshold) is fitted
// on that fold's inner validation predictions (val_*) only and applied unchanged to the fold's
// outer test predictions. The outer test predictions are never used to fit anything.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "fracture/calibrate/thresholds.h"

namespace fracture {

/// Predictions of one trained model on one outer fold of one repeat.
struct FoldPredictions {
  std::string model;  ///< backbone name (resnet18, ...)
  int repeat = 0;     ///< 0-based repeat index
  int fold = 0;       ///< 0-based outer fold index
  // Outer test fold: one entry per image, in a fixed order.
  std::vector<std::string> images;    ///< image path (as in the dataset)
  std::vector<std::string> patients;  ///< patient id, "" when the dataset has none
  std::vector<int> labels;            ///< 0/1, 1 = fractured
  std::vector<double> logits;         ///< the model's logit (log-odds of fractured)
  // Inner validation split of the fold's training part (early stopping, T, thresholds).
  std::vector<int> val_labels;
  std::vector<double> val_logits;
  // Training facts, reported as they are.
  int best_epoch = -1;        ///< 0-based epoch whose weights were kept
  int epochs_run = 0;         ///< epochs actually trained (early stopping)
  double train_seconds = 0;   ///< wall time of the fold's training
};

struct StudyOptions {
  int n_bootstrap = 2000;    ///< stratified bootstrap resamples for CIs
  double confidence = 0.95;  ///< CI level
  uint64_t seed = 0;         ///< bootstrap seed
  int calibration_bins = 15; ///< ECE / MCE / reliability bins
  /// Nested threshold criteria (criterion, target). Default: Youden, max F1, sensitivity >= 0.90,
  /// sensitivity >= 0.95, specificity >= 0.90, fixed 0.5.
  std::vector<std::pair<ThresholdCriterion, double>> criteria = {
      {ThresholdCriterion::youden, 0},        {ThresholdCriterion::max_f1, 0},
      {ThresholdCriterion::sensitivity, 0.90}, {ThresholdCriterion::sensitivity, 0.95},
      {ThresholdCriterion::specificity, 0.90}, {ThresholdCriterion::fixed, 0.5}};
};

/// One metric: point estimate, CI, and mean/SD over folds.
struct MetricSummary {
  double value = 0;               ///< pooled estimate (see summarise_study)
  double ci_low = 0, ci_high = 0; ///< bootstrap CI of the pooled estimate
  double fold_mean = 0, fold_sd = 0;  ///< over the (repeat, fold) cells where it is defined
  int n_folds = 0;
};

/// One nested-threshold criterion's outer-fold operating point.
struct OperatingPoint {
  std::string criterion;          ///< e.g. "youden", "sensitivity>=0.90", "fixed=0.5"
  double threshold_mean = 0, threshold_sd = 0;  ///< over folds (chosen on inner validation)
  MetricSummary sensitivity, specificity, precision, f1, accuracy;
  int n_failed = 0;               ///< folds where the criterion could not be met (reported, not hidden)
};

/// Everything reported for one backbone.
struct ModelSummary {
  std::string model;
  int n_images = 0, n_positive = 0, n_folds = 0, n_repeats = 0;
  // Keys of metrics.json: auroc, ap, brier, accuracy, precision, recall, specificity, f1.
  std::vector<std::pair<std::string, MetricSummary>> metrics;
  // Calibration on outer folds: before (sigmoid(logit)) and after (sigmoid(logit / T_fold)).
  double ece_before = 0, ece_after = 0, mce_before = 0, mce_after = 0;
  double brier_before = 0, brier_after = 0;
  double temperature_mean = 0, temperature_sd = 0;
  std::vector<OperatingPoint> operating_points;
  double train_seconds = 0;       ///< summed over folds
};

/// DeLong comparison of two backbones on the same images.
struct ModelComparison {
  std::string model_a, model_b;
  double auc_a = 0, auc_b = 0, diff = 0, diff_low = 0, diff_high = 0, p_value = 1;
};

struct StudySummary {
  std::vector<ModelSummary> models;
  std::vector<ModelComparison> comparisons;  ///< every pair of backbones, when there are several
  StudyOptions options;
};

/// Computes the summary. Throws fracture::Error naming the model/repeat/fold on inconsistent input
/// (size mismatch, an image twice in one repeat, models scored on different image sets).
StudySummary summarise_study(const std::vector<FoldPredictions>& folds, const StudyOptions& options = {});

/// Writes into `dir` (atomically, file by file): oof_predictions.csv, metrics.json, summary.csv,
/// summary.md, calibration.csv, operating_points.csv, comparisons.csv, curves.json (ROC, PR and
/// reliability-diagram points per backbone).
void write_study_outputs(const std::filesystem::path& dir, const StudySummary& summary,
                         const std::vector<FoldPredictions>& folds);

/// The Markdown tables (metrics with CIs, calibration before/after, operating points, comparisons).
std::string format_study_tables(const StudySummary& summary);

}  // namespace fracture
