// Summary of a cross-validated classification study from its out-of-fold predictions: metrics with
// CIs per backbone, calibration per fold (temperature, Platt or none), nested thresholds, DeLong comparisons, curve data.
// The files written from it are study_files.h's. Pure C++ (no torch): the training engine fills
// FoldPredictions, this file does the statistics.
//
//   std::vector<fracture::FoldPredictions> folds = ...;   // one per (model, repeat, outer fold)
//   fracture::StudyOptions opt;  opt.seed = cfg.integer("seed");
//   fracture::StudySummary s = fracture::summarise_study(folds, opt);
//   fracture::write_study_outputs(run_dir, s, folds);                       // study_files.h
//   std::printf("%s", fracture::format_study_tables(s).c_str());
//
// Leakage rule: everything fitted per fold (the calibrator, each criterion's threshold) is fitted
// on that fold's inner validation predictions (val_*) only and applied unchanged to the fold's
// outer test predictions. The outer test predictions are never used to fit anything.
//
// Statistical conventions (implemented in study.cpp):
// - Per fold: C = fit_calibrator(options.calibration, val_logits, val_labels); calibrated p =
//   C.apply(logit) on the outer fold (sigmoid(logit / T) for temperature); uncalibrated p =
//   sigmoid(logit). Each threshold criterion is chosen by choose_threshold on C.apply(val_logits)
//   and applied unchanged to the fold's calibrated outer
//   p (predict fractured when p >= t). A criterion that cannot be met on a fold (choose_threshold
//   throws) counts in OperatingPoint::n_failed and the fold's images are left out of that
//   criterion's pooled values, CIs and fold averages.
// - Pooled value ("value"): within one repeat the outer folds cover every image once; the metric
//   is computed on that repeat's full out-of-fold (OOF) set, then averaged over repeats. AUROC and
//   AP use the logits (so pooling across folds ignores the per-fold calibrators), Brier uses
//   calibrated p, accuracy/precision/recall/specificity/F1 use calibrated p >= 0.5 (for temperature
//   and none the same as logit >= 0; Platt's bias moves that cut).
// - CI: percentile interval of a stratified bootstrap over images (n_pos positives and n_neg
//   negatives drawn with replacement, SplitMix64(seed), one draw stream shared by all metrics of a
//   model); each resample recomputes the repeat average on the resampled images. With one repeat
//   this is bootstrap_ci(labels, scores, metric) on the image-sorted OOF rows (bit for bit for
//   AUROC and AP; up to summation order for Brier and ECE). Resamples where a figure is undefined
//   are skipped for that figure (MetricSummary::n_resamples counts the valid ones).
// - fold_mean / fold_sd (ddof 1): the metric on each (repeat, fold) outer set where it is defined.
// - Calibration: ECE / MCE (calibration_bins equal-width bins), Brier, calibration-in-the-large and
//   slope (calibration_line) before (sigmoid(logit)) and after (the fold's calibrator), pooled and
//   bootstrapped like the metrics.
// - DeLong: one score per image per backbone = the mean logit over repeats; images in sorted order.
//   Every backbone must have scored the same image set (else fracture::Error naming both models).
// - Images are identified by their path; an image's label must be the same everywhere.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "fracture/calibrate/calibration.h"
#include "fracture/calibrate/calibrator.h"
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
  /// How each fold maps logits to probabilities, fitted on its inner validation split (calibrator.h).
  CalibrationMethod calibration = CalibrationMethod::temperature;
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
  int n_resamples = 0;            ///< bootstrap resamples where the metric was defined (CI is NaN when < 2)
};

/// One nested-threshold criterion's outer-fold operating point.
struct OperatingPoint {
  std::string criterion;          ///< e.g. "youden", "sensitivity>=0.90", "fixed=0.5"
  ThresholdCriterion kind = ThresholdCriterion::youden;
  double target = 0;              ///< the criterion's target (0 for youden / max_f1)
  int n_folds = 0;                ///< folds where the criterion was met
  double threshold_mean = 0, threshold_sd = 0;  ///< over folds (chosen on inner validation)
  MetricSummary sensitivity, specificity, precision, f1, accuracy;
  int n_failed = 0;               ///< folds where the criterion could not be met (reported, not hidden)
};

/// What was fitted on one (repeat, fold) cell, from its inner validation predictions only.
struct FoldSummary {
  int repeat = 0, fold = 0;
  int n_images = 0, n_positive = 0;   ///< outer test fold
  int n_val = 0, n_val_positive = 0;  ///< inner validation split
  Calibrator calibration;             ///< fit_calibrator(options.calibration, val_logits, val_labels)
  /// One per StudyOptions::criteria entry, in that order: the threshold chosen on the calibrated
  /// validation probabilities, NaN where the criterion could not be met.
  std::vector<double> thresholds;
  int best_epoch = -1, epochs_run = 0;
  double train_seconds = 0;
};

/// Everything reported for one backbone.
struct ModelSummary {
  std::string model;
  int n_images = 0, n_positive = 0, n_folds = 0, n_repeats = 0;
  // Keys of metrics.json: auroc, ap, brier, accuracy, precision, recall, specificity, f1.
  std::vector<std::pair<std::string, MetricSummary>> metrics;
  // Calibration on outer folds: before (sigmoid(logit)) and after (each fold's calibrator).
  double ece_before = 0, ece_after = 0, mce_before = 0, mce_after = 0;
  double brier_before = 0, brier_after = 0;
  /// Mean and SD over folds of the fitted parameters: T (method temperature), A and B (platt); NaN
  /// for the parameters the method does not have.
  double temperature_mean = 0, temperature_sd = 0;
  double platt_a_mean = 0, platt_a_sd = 0, platt_b_mean = 0, platt_b_sd = 0;
  /// Non-empty when calibration made the pooled ECE or Brier worse than the uncalibrated
  /// probabilities, in words with the numbers ("ECE 0.041 -> 0.058"); the report prints it.
  std::string calibration_warning;
  std::vector<OperatingPoint> operating_points;
  double train_seconds = 0;       ///< summed over folds
  /// The calibration figures with CIs: ece_before, ece_after, mce_before, mce_after, brier_before,
  /// brier_after (the scalar fields above are their values), then the calibration line
  /// (platt.h calibration_line) before and after: citl_* = calibration-in-the-large (0 is ideal),
  /// slope_* = calibration slope (1 is ideal).
  std::vector<std::pair<std::string, MetricSummary>> calibration;
  std::vector<FoldSummary> folds; ///< sorted by (repeat, fold)
  std::vector<int> repeats;       ///< the distinct repeat indices, increasing
};

/// DeLong comparison of two backbones on the same images.
struct ModelComparison {
  std::string model_a, model_b;
  double auc_a = 0, auc_b = 0, diff = 0, diff_low = 0, diff_high = 0, p_value = 1;
  int n_images = 0;
  std::string note;  ///< why diff CI / p are NaN when DeLong is degenerate; "" otherwise
};

/// DeLong comparison of scores a and b on the same labelled images (delong_test_or_nan: NaN CI
/// and p with the reason in `note` where the test is degenerate).
ModelComparison delong_comparison(const std::string& model_a, const std::string& model_b, const std::vector<int>& labels,
                                  const std::vector<double>& scores_a, const std::vector<double>& scores_b,
                                  double confidence);

struct StudySummary {
  std::vector<ModelSummary> models;
  std::vector<ModelComparison> comparisons;  ///< every pair of backbones, when there are several
  StudyOptions options;
};

/// "youden", "max_f1", "sensitivity>=0.90", "specificity>=0.90", "precision>=0.80", "fixed=0.5".
std::string criterion_name(ThresholdCriterion criterion, double target);

/// Computes the summary. Throws fracture::Error naming the model/repeat/fold on inconsistent input
/// (size mismatch, an image twice in one repeat, models scored on different image sets).
StudySummary summarise_study(const std::vector<FoldPredictions>& folds, const StudyOptions& options = {});

/// The curves of one backbone for curves.json and the study's plots: ROC and PR on the first
/// repeat's pooled out-of-fold calibrated probabilities (each fold's calibrator), reliability bins
/// before (sigmoid(logit)) and after calibration.
struct StudyCurves {
  std::string model;
  int repeat = 0;                  ///< the repeat the curves pool
  bool has_roc = false;            ///< false when ROC/PR are undefined (one class only); `note` says why
  std::string note;
  RocCurve roc;
  PrCurve pr;
  double auroc = 0, ap = 0;        ///< of the same pooled probabilities (the curves' own areas)
  double prevalence = 0;           ///< share of positives: the PR curve's chance level
  CalibrationReport before, after;
};
/// One entry per backbone that has predictions, in the summary's order.
std::vector<StudyCurves> study_curves(const StudySummary& summary, const std::vector<FoldPredictions>& folds);

/// The summary of fold f's cell (its calibrator and thresholds); throws when f is not in `summary`.
const FoldSummary& fold_summary(const StudySummary& summary, const FoldPredictions& f);
/// The named entry of ModelSummary::metrics or ::calibration; throws naming it when absent.
const MetricSummary& find_metric(const std::vector<std::pair<std::string, MetricSummary>>& v, const std::string& key);

/// Names of ModelSummary::metrics, of ModelSummary::calibration and of an OperatingPoint's figures, in order.
inline const char* const kStudyMetrics[8] = {"auroc", "ap", "brier", "accuracy", "precision", "recall", "specificity", "f1"};
inline const char* const kStudyCalibration[10] = {"ece_before",   "ece_after",   "mce_before", "mce_after",
                                                  "brier_before", "brier_after", "citl_before", "citl_after",
                                                  "slope_before", "slope_after"};
inline const char* const kStudyOperating[5] = {"sensitivity", "specificity", "precision", "f1", "accuracy"};

}  // namespace fracture
