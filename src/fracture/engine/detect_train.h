// YOLOv8 detection training with Ultralytics semantics (engine/trainer.py, models/yolo/detect).
//
//   fracture::Config cfg = fracture::Config::defaults();
//   cfg.set("data", "data.yaml", "cli");  cfg.set("model", "yolov8n", "cli");  cfg.set("epochs", "50", "cli");
//   fracture::engine::DetectTrainResult r = fracture::engine::detect_train(cfg, *log);
//   // r.run_dir: args.yaml, results.csv, weights/{last,best}.safetensors (EMA, Ultralytics keys),
//   //            metrics.json/curves/predictions.json of `best` on the val split
//   cfg.set("resume", r.run_dir.string(), "cli");  fracture::engine::detect_train(cfg, *log);   // continue a killed run
//
// Schedule (Ultralytics): parameter groups pg0 biases (no decay), pg1 conv/linear weights (decay),
// pg2 BatchNorm weights (no decay); optimizer=auto picks AdamW with lr round(0.002 * 5 / (4 + nc), 6),
// beta1 0.9 (and warmup_bias_lr 0) when ceil(n_train / max(batch, nbs)) * epochs <= 10000 iterations,
// else SGD lr 0.01 momentum 0.9 nesterov; weight decay * batch * accumulate / nbs with
// accumulate = max(round(nbs / batch), 1); warmup over nw = max(round(warmup_epochs * batches), 100)
// iterations: lr of pg0 from warmup_bias_lr and of pg1/pg2 from 0, linearly to lr * lf(epoch); SGD
// momentum warmup_momentum -> momentum (Adam's beta1 is not warmed, as in Ultralytics); the
// accumulation ramps from 1 to nbs / batch; lf(e) linear max(1 - e / epochs, 0)(1 - lrf) + lrf or
// cosine; gradient-norm clip 10; EMA after every optimiser step; validation of the EMA every epoch;
// fitness 0.1 mAP50 + 0.9 mAP50-95; early stopping after `patience` epochs without improvement.
// channels_last (device cpu): the model's and the EMA's 4-D weights are stored NHWC before the
// optimiser and the EMA are made, and training, validation and final-validation batches are NHWC;
// the weight files are written NCHW (Ultralytics-loadable) either way.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/core/config.h"
#include "fracture/core/log.h"
#include "fracture/engine/detect_eval.h"
#include "fracture/engine/training.h"

namespace fracture::engine {

/// Resolved optimiser choice.
struct OptimizerChoice {
  std::string name;       ///< SGD, Adam or AdamW
  double lr = 0.01;
  double momentum = 0.937;  ///< SGD momentum or Adam beta1
  double warmup_bias_lr = 0.1;
};

/// Ultralytics build_optimizer's choice: `name` auto -> see the file comment; SGD/Adam/AdamW keep
/// lr0 and momentum. Throws fracture::Error for another name.
OptimizerChoice choose_optimizer(const std::string& name, double lr0, double momentum, double warmup_bias_lr,
                                 int64_t nc, int64_t iterations);

/// Ultralytics fitness 0.1 mAP50 + 0.9 mAP50-95.
double detection_fitness(double map50, double map50_95);

struct DetectTrainResult {
  std::filesystem::path run_dir;
  int epochs_done = 0;       ///< epochs completed in total (resumed runs included)
  int best_epoch = 0;        ///< 1-based
  double best_fitness = 0;
  bool early_stopped = false;
  std::vector<std::string> names;  ///< the dataset's class names
  bool channels_last = false;  ///< the first training batch and the 4-D weights of the model and its EMA were NHWC
  DetValOutput final_val;    ///< validation of weights/best on the val split (empty when stopped early by stop_after)
};

/// Trains from the resolved config (see configs/default.yaml, "detection training"). With resume=
/// (a run directory or a file in its weights/), continues that run in place from its args.yaml.
/// stop_after_epochs > 0 stops after that many epochs in total, as if the process were killed
/// (tests of resume); no final validation is done then.
DetectTrainResult detect_train(const Config& cfg, Logger& log, int stop_after_epochs = -1);

}  // namespace fracture::engine
