// The files of a `fracture classify` run, each written by one function here and read back here
// (resume, val, predict). splits.csv belongs to data/splits.h, args.yaml to core/rundir.h, the
// weights to models/weights/checkpoint.h, the study tables to report/study_files.h.
//
//   fracture::report::write_run_json(run, "cv", {"resnet18"});                 // run.json
//   fracture::report::write_epoch_results(dir / "results.csv", history);       // rewritten every epoch
//   fracture::report::write_calibration_json(dir / "calibration.json", calibrator, n_val, "validation images");
//   fracture::report::write_fold_json(dir / "fold.json", fold);                // last: the fold is done
//   fracture::Calibrator c = fracture::report::read_calibrator(dir / "calibration.json");
//   fracture::FoldPredictions again = fracture::report::read_fold_json(dir / "fold.json");
//
// Numbers in CSV files are printf %.9g; JSON doubles round-trip exactly (nlohmann).
#pragma once
#include <cstddef>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "fracture/calibrate/calibrator.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/report/study.h"

namespace fracture {

/// One epoch of classifier training, as written to results.csv.
struct EpochRecord {
  int epoch = 0;           ///< 0-based (results.csv counts from 1)
  double train_loss = 0;   ///< mean training loss (class-weighted when class_weights)
  double val_loss = 0;     ///< mean unweighted BCE on the validation items
  double val_auroc = 0;    ///< NaN when the validation items hold one class
  double lr = 0;           ///< learning rate of the epoch's last iteration
  double seconds = 0;      ///< wall time of the epoch (training + validation)
  bool best = false;       ///< this epoch's weights are the best so far
};

}  // namespace fracture

namespace fracture::report {

/// run.json {task: classify, mode, models}, written when a run starts.
void write_run_json(const std::filesystem::path& run, const std::string& mode, const std::vector<std::string>& models);
struct ClassifyRunInfo {
  std::string mode;                 ///< "cv" or "train"
  std::vector<std::string> models;
};
/// Throws fracture::Error naming the folder when it has no readable run.json.
ClassifyRunInfo read_run_json(const std::filesystem::path& run);

/// results.csv: epoch,train_loss,val_loss,val_auroc,lr,seconds (epoch 1-based).
void write_epoch_results(const std::filesystem::path& file, const std::vector<EpochRecord>& history);

/// A calibrator as JSON: {method, temperature, at_bound} (temperature), {method, a, b} (platt) or
/// {method} (none), each with nll_before and nll_after on the data it was fitted on.
nlohmann::json calibrator_json(const Calibrator& c);
/// The inverse of calibrator_json; an object without "method" is a temperature (runs before the
/// `calibration` key). Throws fracture::Error naming `origin` and the field on a bad value.
Calibrator calibrator_from_json(const nlohmann::json& j, const std::string& origin);
/// calibration.json: calibrator_json plus {n_images, fitted_on}.
void write_calibration_json(const std::filesystem::path& file, const Calibrator& c, size_t n_images,
                            const std::string& fitted_on);
/// The calibrator of a calibration.json; throws naming the file when missing or unreadable.
Calibrator read_calibrator(const std::filesystem::path& file);

/// fold.json: a FoldPredictions (doubles round-trip exactly).
std::string fold_to_json(const FoldPredictions& f);
FoldPredictions fold_from_json(const std::string& text, const std::string& origin);
void write_fold_json(const std::filesystem::path& file, const FoldPredictions& f);
FoldPredictions read_fold_json(const std::filesystem::path& file);

/// What `classify val` measured, for its metrics.json and table.
struct ClassifyValReport {
  std::string model, trained_run, weights, which, data, split;
  size_t n_images = 0;
  int n_positive = 0;
  Calibrator calibration;
  double threshold = 0.5;
  uint64_t ci_seed = 0;
  std::vector<std::pair<std::string, BootstrapResult>> metrics;  ///< in table order
};
/// metrics.json of `classify val`.
void write_classify_val_metrics(const std::filesystem::path& run, const ClassifyValReport& r);
/// "| metric | value | 95% CI |" Markdown rows of r.metrics.
std::string format_classify_val_table(const ClassifyValReport& r);

/// One scored image of `classify val` or `classify predict`.
struct ScoredImage {
  std::string image;
  int label = -1;                  ///< -1: unknown (predict)
  double logit = 0, probability = 0, calibrated = 0;
};
/// `classify val`'s predictions.csv: image,label,logit,probability,calibrated_probability.
void write_val_predictions(const std::filesystem::path& run, const std::vector<ScoredImage>& rows);
/// `classify predict`'s predictions.csv: image,logit,probability,calibrated_probability,threshold,
/// prediction (fractured when calibrated >= threshold).
void write_predictions(const std::filesystem::path& run, const std::vector<ScoredImage>& rows, double threshold);

}  // namespace fracture::report
