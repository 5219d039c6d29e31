// The files of a `fracture study` directory that sit above its stages: compare.json, compare.csv,
// detection.csv and summary.md (the findings in words, then every table). One writer each.
//
//   fracture::report::StudyReportInput in;   // filled by engine::run_study
//   in.study = "runs/study/study";  in.classify_run = in.study / "classify" / "cv";
//   std::string md = fracture::report::write_study_report(in);   // also writes the files
#pragma once
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fracture/core/config.h"
#include "fracture/report/compare.h"

namespace fracture::report {

/// One trained detector: its training run (final val files) and its test evaluation.
struct StudyDetector {
  std::string size;
  std::filesystem::path train_run, test_run;
};

/// One frozen model on the external dataset, beside its internal figures.
struct ExternalRow {
  std::string name;          ///< classifier (mean of its fold models) or detector size
  double threshold = 0;      ///< the development data's operating threshold, applied unchanged
  std::vector<std::pair<std::string, BootstrapResult>> figures;  ///< compare.h score_figures, calibration on
  std::vector<std::pair<std::string, double>> internal;          ///< the same keys on development data
};

/// Grad-CAM pointing game of one classifier (engine::pointing_game, summed over fold models).
struct StudyPointing {
  std::string model;
  std::string layer;  ///< the Grad-CAM layer (key gradcam_layer); "" = the last feature map
  int n_images = 0, hits = 0;
  double chance = 0;  ///< mean share of the image inside the fracture boxes
};

struct StudyReportInput {
  std::filesystem::path study, classify_run;
  const Config* cfg = nullptr;           ///< the study's resolved config (scale, data)
  std::vector<StudyDetector> detectors;
  bool has_compare = false;
  CompareResult compare;
  int val_not_classified = 0, test_not_classified = 0;  ///< detection images the classifiers did not score
  // External validation (key external): classifiers, then (data.yaml with boxes) detector runs.
  bool has_external = false;
  std::string external_data;
  int n_external = 0, n_external_positive = 0;
  std::vector<ExternalRow> external;
  std::vector<StudyDetector> external_detectors;  ///< train_run: internal test run; test_run: external run
  std::optional<StudyPointing> pointing;  ///< when the data has boxes on a test split
};

/// A JSON file of a study's stage; throws naming the file when missing ("the stage did not
/// finish") or unreadable.
nlohmann::json read_stage_json(const std::filesystem::path& file);
/// The study's best classifier: the backbone with the highest cross-validated AUROC in a classify
/// run's metrics.json (the first on ties); "" when none has one.
std::string best_classifier(const nlohmann::json& classify_metrics);

/// The operating point `criterion` ("youden", "sensitivity>=0.95", ...) of one model in a classify
/// run's metrics.json (its entry under "models"); null when the model has none.
const nlohmann::json* operating_point(const nlohmann::json& model, const std::string& criterion);
/// The study's best detector: of `sizes`, the one whose training run (study/detect/<size>) has the
/// highest val mAP50-95 in metrics.json (the first on ties); "" when none finished.
std::string best_detector(const std::filesystem::path& study, const std::vector<std::string>& sizes);

/// Writes compare.json, compare.csv, detection.csv and summary.md into in.study; returns summary.md.
std::string write_study_report(const StudyReportInput& in);

}  // namespace fracture::report
