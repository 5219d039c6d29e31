// `fracture predict model=RUN_DIR source=IMAGE|FOLDER|DICOM`: per radiograph, what a reader sees
// next to the original: the calibrated fracture probability, the decision at the chosen operating
// point, a triage category, the detector's boxes, and a PNG with boxes and the Grad-CAM heatmap.
//
//   fracture::Config cfg = fracture::Config::defaults();
//   cfg.set("model", "runs/study/study", "example");
//   cfg.set("source", "scans/", "example");
//   fracture::engine::PredictOutcome out = fracture::engine::predict_study(cfg, *log);
//   // out.run_dir = runs/predict/predict: predictions.json, <image>.json, <image>.png, skipped.csv
//
// From the study (never refitted): the classifier is the study's best backbone (cross-validated
// AUROC) as the mean calibrated probability of its fold models; decision at its Youden threshold;
// triage with its high-sensitivity cutoff (criterion sensitivity>=0.95) and high-specificity cutoff
// (specificity>=0.90), each the mean over folds of the threshold chosen on inner validation:
// negative below both, positive at or above both, doubtful otherwise. Boxes: the detector with the
// highest val mAP50-95, conf 0.25 (key conf). Grad-CAM: the mean of the fold models' maps.
// RUN_DIR may also be a classify cv run (the classifier alone: no boxes) or a detect train run
// (boxes alone: the classifier's fields null, no heatmap).
#pragma once
#include <filesystem>
#include <string>

#include "fracture/core/config.h"
#include "fracture/core/log.h"

namespace fracture::engine {

struct PredictOutcome {
  std::filesystem::path run_dir;
  std::string report;
};

/// Throws fracture::Error naming the folder when `model` is not a finished study, classify cv run or
/// detect train run.
PredictOutcome predict_study(const Config& cfg, Logger& log);

}  // namespace fracture::engine
