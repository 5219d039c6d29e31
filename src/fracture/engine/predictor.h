// The prediction path of `fracture predict` with its models loaded once: the command line and the
// HTTP service (serve/) both answer through it, so their JSON is the same.
//
//   fracture::engine::Predictor predictor(cfg, *log);   // key model: a study, a classify cv run or a detect run
//   std::vector<fracture::engine::ImagePrediction> out = predictor.predict(items);   // one per item
//   std::string body = out[0].json.dump(2);              // probability, triage, boxes, Grad-CAM peak
//   nlohmann::json about = predictor.info();             // models, operating points, the run they came from
//
// Per image (engine/predict.h says what is chosen from the run): the calibrated probability (mean of
// the best backbone's fold models), the decision at the Youden threshold, the triage category, the
// detector's boxes in original pixels, the Grad-CAM peak, and a PNG overlay (boxes and heatmap).
// Not thread-safe: one caller at a time (the service's batcher is that caller).
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "fracture/core/config.h"
#include "fracture/core/log.h"
#include "fracture/data/dataset.h"

namespace fracture::engine {

struct ImagePrediction {
  nlohmann::json json;      ///< file, width, height, model, probability, threshold, fractured, triage,
                            ///< triage_cutoffs, detector, boxes, gradcam_peak (classifier fields null for a detect run)
  std::string overlay_png;  ///< the image with boxes and the Grad-CAM heatmap, PNG bytes
  std::string line;         ///< one line of the command's report
};

class Predictor {
 public:
  /// Loads every model of `model` once. Throws fracture::Error naming the folder when it is not a
  /// finished study, classify cv run or detect train run.
  Predictor(const Config& cfg, Logger& log);
  ~Predictor();
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  /// Predictions for readable images (data/image.h read_image); throws fracture::Error naming the
  /// file when one cannot be read.
  std::vector<ImagePrediction> predict(const std::vector<ClsItem>& items) const;
  /// The report's first line: the classifier, its cutoffs and the detector.
  std::string summary() const;
  /// What answers: classifier (architecture, folds, threshold, triage cutoffs), detector, the run
  /// directory, the fracture version.
  nlohmann::json info() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fracture::engine
