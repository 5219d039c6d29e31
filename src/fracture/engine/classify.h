// Classification engine: fine-tunes one backbone (resnet18, mobilenet_v3_small, efficientnet_b0)
// as a binary fracture classifier. The four `fracture classify` modes that run it on run
// directories are in classify_run.h.
//
//   // One training run on item lists (what each fold does):
//   auto opt = fracture::engine::classify_options(cfg);
//   fracture::engine::FitResult fit = fracture::engine::fit_classifier("resnet18", train, val, opt, seed, *log, "r0f0");
//   std::vector<double> z = fracture::engine::predict_logits(*fit.net, test, opt);   // one logit per image
//
// Training (what fit_classifier does): binary head (num_classes 1, one logit = log-odds of
// fractured), BCE-with-logits (optionally pos_weight = n_neg / n_pos of the training items), AdamW
// with two parameter groups (weights of dim >= 2 decayed; biases and norm weights not), learning rate
// per iteration: linear warmup from 0 then cosine decay to lr0 * lrf (lr_at_iteration). Early stopping
// on the validation items (val_loss or AUROC) with `patience`; the best epoch's weights (parameters
// and BatchNorm buffers) are restored at the end. Fine-tuning: full, head (backbone frozen, its
// BatchNorm in eval mode) or staged (frozen for freeze_epochs, then everything; early stopping
// cannot stop during the frozen phase). Before each epoch's validation the BatchNorm running
// statistics of the trained layers are re-estimated on up to 512 unaugmented training images
// ("precise BN", Wu & Johnson 2021): with MobileNetV3's momentum 0.01 the running averages of a
// short from-scratch run are still near their initial values and eval mode gives every image the
// same logit otherwise.
// Input: grey images replicated to 3 channels and ImageNet-normalised, always (pretrained or not),
// so every saved model has torchvision's 3-channel stem and loads into torchvision unchanged.
// Memory format (channels_last, device cpu): the 4-D weights are stored channels-last (NHWC) before
// the optimiser is made, and every batch (training, precise BN, validation, prediction) is
// channels-last, where oneDNN's convolutions run without a reorder per call. Results agree with
// NCHW to float rounding, not bit for bit; saved weights are plain NCHW files either way.
// Determinism (CPU): torch::manual_seed and the loader seed derive from (seed, model name, repeat,
// fold) only, so a fold gives the same weights whether run alone, in model=all, or on resume.
#pragma once
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fracture/calibrate/calibrator.h"
#include "fracture/core/config.h"
#include "fracture/core/log.h"
#include "fracture/data/dataset.h"
#include "fracture/data/splits.h"
#include "fracture/report/classify_files.h"
#include "fracture/report/study.h"
#include "fracture/models/classifier.h"
#include "fracture/data/loader.h"
#include "fracture/engine/training.h"

namespace fracture::engine {

/// Everything a classification training run reads from the config (validated by classify_options).
struct ClassifyOptions {
  std::vector<std::string> models;  ///< backbones to train (model=all: the three, in classifier_names order)
  std::string weights;              ///< checkpoint file, or for several models a folder of <arch>.pth/.safetensors; "" = from scratch
  int epochs = 100;
  int batch = 16;
  int patience = 100;
  int workers = 2;
  std::string device = "cpu";
  double lr0 = 1e-3;                ///< peak learning rate (after warmup)
  double lrf = 0.01;                ///< final learning rate = lr0 * lrf
  double weight_decay = 1e-4;       ///< AdamW decoupled weight decay on dim >= 2 parameters
  double warmup_epochs = 1.0;       ///< warmup length in epochs (rounded to iterations)
  std::string monitor = "val_loss"; ///< val_loss (min) or auroc (max)
  std::string finetune = "full";    ///< full, head or staged
  int freeze_epochs = 3;            ///< staged: epochs with the backbone frozen
  bool class_weights = false;       ///< pos_weight = n_neg / n_pos in the training loss
  CalibrationMethod calibration = CalibrationMethod::temperature;  ///< key calibration: fitted per model on val
  double val_fraction = 0.2;        ///< inner validation share of each outer training part
  int folds = 5, repeats = 3;
  bool group_by_patient = true;
  uint64_t seed = 0;
  bool strict = true;               ///< key strict: false = a training image that fails to load mid-run is left out
  bool channels_last = true;        ///< key channels_last and device cpu: NHWC weights and batches (see above)
  bool sync_bn = true;              ///< key sync_bn: data-parallel BatchNorm over every rank's batch (SyncBatchNorm)
  bool winograd = true;             ///< key winograd: val/predict's Winograd 3x3 convolutions (models::InferenceOptions)
  ClassificationOptions data;       ///< imgsz, resize, clahe, augmentations (augment set per loader)
};

/// Reads and range-checks the classification keys; errors name the key and the expected values.
/// `model` must be one backbone or `all` (run directories are for val/predict, not read here).
ClassifyOptions classify_options(const Config& cfg);

struct FitResult {
  models::Classifier net;             ///< best epoch's weights restored, eval mode, on opt.device
  std::vector<EpochRecord> history;
  int best_epoch = -1;
  int epochs_run = 0;
  double seconds = 0;                 ///< wall time of the whole fit
  std::vector<double> val_logits;     ///< on the validation items at the best epoch (item order)
  std::vector<std::string> load_report;  ///< what loading `weights` did (empty from scratch)
  bool channels_last = false;         ///< the first training batch and every 4-D weight were channels-last
};

/// Trains `arch` on `train`, early-stopping on `val` (both need both classes). `seed` seeds
/// torch::manual_seed (initialisation, dropout, stochastic depth) and the loader. `tag` prefixes the
/// log lines ("resnet18 r0f1"). `on_epoch` is called after every epoch (results.csv).
FitResult fit_classifier(const std::string& arch, const std::vector<ClsItem>& train, const std::vector<ClsItem>& val,
                         const ClassifyOptions& opt, uint64_t seed, Logger& log, const std::string& tag,
                         const std::function<void(const std::vector<EpochRecord>&)>& on_epoch = {});

/// Re-initialises a freshly built one-logit head where torchvision's rule is degenerate for one
/// output: EfficientNet's U(-1/sqrt(out), 1/sqrt(out)) = U(-1, 1), which starts training at logits of
/// about +-20. Its output layer then starts as MobileNetV3's does: N(0, 0.01) weight, zero bias.
/// ResNet18 (PyTorch's Linear default) and MobileNetV3 are left as torchvision makes them.
/// fit_classifier calls it before loading weights=, so a checkpoint's own one-logit head wins.
void prepare_one_logit_head(models::ClassifierImpl& net);

/// Logits (one per item, item order) of `net` in eval mode, without augmentation. With
/// `unreadable` (strict=false), an image that fails to load gets NaN and its "file: reason" is
/// listed there instead of stopping; without it, such an image throws naming the file.
std::vector<double> predict_logits(models::ClassifierImpl& net, const std::vector<ClsItem>& items,
                                   const ClassifyOptions& opt, std::vector<std::string>* unreadable = nullptr);

/// Keeps the entries whose logit is finite (drops what predict_logits could not read), applying
/// the same selection to every other per-item vector given.
template <class... V>
size_t keep_finite(std::vector<double>& logits, V&... per_item) {
  size_t kept = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!std::isfinite(logits[i])) continue;
    logits[kept] = logits[i];
    ((per_item[kept] = per_item[i]), ...);
    ++kept;
  }
  const size_t dropped = logits.size() - kept;
  logits.resize(kept);
  (per_item.resize(kept), ...);
  return dropped;
}

/// Mean binary cross-entropy of logits against 0/1 labels (numerically stable form).
double mean_bce(const std::vector<double>& logits, const std::vector<int>& labels);

}  // namespace fracture::engine
