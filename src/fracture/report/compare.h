// Detector against classifier on the same images, and their fused score: the comparison the
// reference study is about (does localisation beat classification?). Pure statistics: the study
// runner (engine/study_run.h) gathers the scores, this file fits and tests.
//
//   fracture::CompareInput in;                  // images of the detection val and test splits
//   in.val_labels = {0, 1, 0, 1};  in.test_labels = {1, 0, 1, 0};
//   in.columns.push_back({"resnet18", "classifier", "calibrated out-of-fold probability", {.2, .7, .1, .6}, {.8, .3, .6, .4}});
//   in.columns.push_back({"yolov8n", "detector", "highest box confidence", {.1, .5, .3, .9}, {.7, .2, .4, .1}});
//   fracture::CompareResult r = fracture::compare_scores(in, {});
//   for (const auto& t : r.tests) std::printf("%s vs %s: p = %.3g\n", t.model_a.c_str(), t.model_b.c_str(), t.p_value);
//
// Protocol (fixed):
// - Every score is judged on the test images only; everything fitted is fitted on the val images:
//   each score's operating threshold (Youden's J on val, applied unchanged to test), the choice of
//   the classifier and the detector that are fused (highest AUROC on val), and the fusion model.
// - Fused score: fit_logistic_regression (scikit-learn's default L2, C = 1) of the label on
//   (logit of the classifier's probability, logit of the detector's score), each clipped to
//   [1e-6, 1 - 1e-6], on the val images; its probability on test is the "fused" column.
// - Test metrics: AUROC, AP, Brier, and accuracy, precision, recall, specificity, F1 at the val
//   threshold, each with a stratified bootstrap CI (eval/bootstrap.h bootstrap_ci, seed-fixed).
//   Brier treats the score as a probability; for a detector's box confidence that is only a score.
// - DeLong (eval/delong.h) on the test images: every detector against every classifier, and the
//   fused score against the two it fuses.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fracture/calibrate/logistic_regression.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/report/study.h"

namespace fracture {

/// One score per image from one model, on the val and the test images.
struct ScoreColumn {
  std::string name;   ///< "resnet18", "yolov8n"
  std::string kind;   ///< "classifier" or "detector"
  std::string score;  ///< what the number is, for the report
  std::vector<double> val, test;  ///< in [0, 1], aligned with CompareInput's labels
};

struct CompareInput {
  std::vector<int> val_labels, test_labels;  ///< 0/1 per image, 1 = fractured
  std::vector<ScoreColumn> columns;
};

struct CompareOptions {
  int n_bootstrap = 2000;
  double confidence = 0.95;
  uint64_t seed = 0;
  double fusion_c = 1.0;  ///< inverse L2 strength of the fusion model (scikit-learn's C)
};

struct ScoreResult {
  std::string name, kind, score;
  double val_auroc = 0;   ///< what chose the fused pair
  double threshold = 0;   ///< Youden's J on val
  /// auroc, ap, brier, accuracy, precision, recall, specificity, f1 on test, with CIs.
  std::vector<std::pair<std::string, BootstrapResult>> metrics;
};

struct CompareResult {
  int n_val = 0, n_val_positive = 0, n_test = 0, n_test_positive = 0;
  std::vector<ScoreResult> scores;  ///< the input columns in order, then "fused" when fitted
  std::vector<ModelComparison> tests;  ///< DeLong, AUROC model_a - model_b on the test images
  bool fused = false;
  std::string fused_classifier, fused_detector;
  LogisticRegressionFit fusion;     ///< coef = (classifier logit, detector logit)
  std::string fusion_note;          ///< why there is no fused score, when there is none
};

/// The figures of one score on labelled images at a fixed threshold (predict fractured when
/// score >= threshold), each with a stratified bootstrap CI: auroc, ap, brier, accuracy, precision,
/// recall, specificity, f1 and, with `calibration`, ece, citl and slope (calibration_line).
std::vector<std::pair<std::string, BootstrapResult>> score_figures(const std::vector<int>& labels,
                                                                   const std::vector<double>& scores, double threshold,
                                                                   const CompareOptions& options, bool calibration);

/// Throws fracture::Error on mismatched sizes, scores outside [0, 1], or a split with one class.
CompareResult compare_scores(const CompareInput& input, const CompareOptions& options);

/// The named figure of a score_figures list (`who`: the model, for the error); throws naming it when absent.
const BootstrapResult& named_figure(const std::vector<std::pair<std::string, BootstrapResult>>& figures,
                                   const std::string& key, const std::string& who);
/// The named metric of a ScoreResult; throws naming it when absent.
const BootstrapResult& score_metric(const ScoreResult& r, const std::string& key);

}  // namespace fracture
