// The `fracture detect val` and `fracture detect predict` modes (detect_run.cpp), built on
// detect_eval.h as classify_run.h is on classify.h; `detect train` is detect_train.h.
//
//   fracture::Config cfg = fracture::Config::defaults();
//   cfg.set("model", "runs/detect/train", "example");
//   cfg.set("data", "synthetic/data.yaml", "example");
//   fracture::engine::DetectOutcome out = fracture::engine::detect_val(cfg, *log);
//   std::printf("%s", out.report.c_str());           // the Ultralytics-style table
//   // out.run_dir = runs/detect/val: args.yaml, metrics.json, curves, predictions.json, plots
#pragma once
#include <torch/types.h>

#include <filesystem>
#include <string>

#include "fracture/core/config.h"
#include "fracture/core/log.h"
#include "fracture/data/screen.h"
#include "fracture/engine/detect_eval.h"

namespace fracture::engine {

/// What a mode produced: its run directory and the text to print.
struct DetectOutcome {
  std::filesystem::path run_dir;
  std::string report;
};

/// `fracture detect val model=RUN_DIR|WEIGHTS data=data.yaml split=val|test`.
DetectOutcome detect_val(const Config& cfg, Logger& log);
/// `fracture detect predict model=RUN_DIR|WEIGHTS source=IMAGE|FOLDER|DICOM`: boxes per image, JSON
/// and an annotated PNG each, predictions.json for all.
DetectOutcome detect_predict(const Config& cfg, Logger& log);

/// How val and predict run the detector from the config: optimised, channels-last on the CPU (key
/// channels_last), precision fp32|bf16 (bf16 only where the fused oneDNN path runs; on a CPU without
/// native bf16 optimize_for_inference warns once and runs fp32) and winograd. Errors name the key.
models::InferenceOptions detect_inference_options(const Config& cfg, const torch::Device& device, Logger& log);

/// Screens every split of `ds` (data/screen.h, keys validate / strict / workers): unusable images are
/// left out with one warning (strict=false) or stop with the file named (strict=true). Returns the
/// loader's `problems` (strict=false skips while reading the listing) and then the screened files.
std::vector<UnusableFile> screen_detection_dataset(DetDataset& ds, const Config& cfg, Logger& log,
                                                   const std::vector<Problem>& problems = {});

/// The validation keys shared by `detect val` and training's per-epoch validation: conf (null ->
/// 0.001), iou, max_det, matching, rect, clahe, dicom_window. imgsz, batch, workers and
/// channels_last are the caller's.
DetValOptions det_val_options(const Config& cfg);

}  // namespace fracture::engine
