// The four `fracture classify` modes on run directories, built on the training engine of
// classify.h: cv and train (classify_run.cpp), val and predict (classify_eval.cpp).
//
//   fracture::Config cfg = fracture::Config::defaults();
//   cfg.set("data", "synthetic/classification.csv", "example");
//   cfg.set("model", "mobilenet_v3_small", "example");
//   fracture::engine::ClassifyOutcome out = fracture::engine::classify_cv(cfg, *log);
//   std::printf("%s", out.report.c_str());           // the study's Markdown tables
//   // out.run_dir = runs/classify/cv: splits.csv, folds/<model>/r<R>f<F>/..., metrics.json, ...
#pragma once
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <string>

#include "fracture/core/config.h"
#include "fracture/core/log.h"
#include "fracture/data/dataset.h"
#include "fracture/data/screen.h"

namespace fracture::engine {

/// What a mode produced: its run directory and the text to print.
struct ClassifyOutcome {
  std::filesystem::path run_dir;
  std::string report;
};

/// `fracture classify cv`: repeated (group-)stratified k-fold for every model; resume=RUN_DIR
/// continues a killed run (folds with fold.json are read back, not retrained).
ClassifyOutcome classify_cv(const Config& cfg, Logger& log);
/// `fracture classify train`: train split, early stopping / T / thresholds on val, report on test
/// (or on val, flagged optimistic, when the dataset has no test split).
ClassifyOutcome classify_train(const Config& cfg, Logger& log);
/// `fracture classify val model=RUN_DIR split=val|test`: metrics with bootstrap CIs of a trained run.
ClassifyOutcome classify_val(const Config& cfg, Logger& log);
/// `fracture classify predict model=RUN_DIR source=IMAGE|FOLDER|DICOM`: per-image probabilities.
ClassifyOutcome classify_predict(const Config& cfg, Logger& log);

/// The folder of one fold model of a `classify cv` run: <cv_run>/folds/<arch>/r<repeat>f<fold>.
std::filesystem::path cv_fold_dir(const std::filesystem::path& cv_run, const std::string& arch, int repeat, int fold);
/// The fold folders folds/<arch>/r<R>f<F> of a `classify cv` run, sorted; throws naming the folder
/// when there are none (not a finished cv run).
std::vector<std::filesystem::path> cv_fold_dirs(const std::filesystem::path& cv_run, const std::string& arch);

/// The frozen fold models of one backbone of a `classify cv` run (folds/<arch>/r<R>f<F>: best
/// weights and calibration.json, never refitted), loaded once: `fracture predict` and the service.
/// Inference keys (batch, workers, device, channels_last, winograd, cache, truncated,
/// gradcam_layer) from `cfg`, the rest from the run. Not thread-safe: one caller at a time.
class CvEnsemble {
 public:
  CvEnsemble(const std::filesystem::path& cv_run, const std::string& arch, const Config& cfg, Logger& log);
  ~CvEnsemble();
  CvEnsemble(const CvEnsemble&) = delete;
  CvEnsemble& operator=(const CvEnsemble&) = delete;
  /// Per item the mean over the fold models of the calibrated probability.
  std::vector<double> probabilities(const std::vector<ClsItem>& items) const;
  /// Per item the sum of the fold models' Grad-CAM maps (grad_cam_maps), min-max scaled to [0, 1].
  std::vector<cv::Mat> grad_cam(const std::vector<ClsItem>& items) const;
  size_t folds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// External validation with the frozen models of a `classify cv` run: every fold model of `arch`
/// (folds/<arch>/r<R>f<F>: its best weights and its calibration.json, never refitted) predicts
/// `items`; per item the mean calibrated probability over the fold models. Inference keys (batch,
/// workers, device, channels_last, winograd, cache, truncated) from `cfg`, the rest from the run.
/// Throws naming the folder when a fold is unfinished.
std::vector<double> cv_ensemble_probabilities(const std::filesystem::path& cv_run, const std::string& arch,
                                              const std::vector<ClsItem>& items, const Config& cfg, Logger& log);

/// Grad-CAM maps (models/gradcam.h) of one trained classifier (`model_dir`: a cv fold folder or a
/// train run's model folder) in each original image's pixel frame: the input's image region (the
/// letterbox padding cut away) resized to the original size, min-max scaled to [0, 1]; CV_32FC1.
std::vector<cv::Mat> grad_cam_maps(const std::filesystem::path& model_dir, const std::vector<ClsItem>& items,
                                   const Config& cfg, Logger& log);

/// The pointing game (Zhang et al. 2018) of one trained classifier's Grad-CAM maps: per image, is
/// the map's peak inside a true fracture box? Chance: the share of the image's area inside the
/// boxes (the rate of a peak placed at random). Images are letterboxed (or stretched) as the model
/// was trained; the map is taken back to the original frame (grad_cam_maps) and the peak's pixel
/// centre tested against the boxes.
struct PointingGame {
  int n_images = 0;      ///< images with at least one fracture box
  int hits = 0;
  double chance = 0;     ///< mean over the images of the boxes' area share
};
/// `model_dir`: a classify model folder (cv fold r<R>f<F> or a train run); `boxes[i]` are image i's
/// fracture boxes (YOLO-normalised cx, cy, w, h of the original image).
PointingGame pointing_game(const std::filesystem::path& model_dir, const std::vector<ClsItem>& items,
                           const std::vector<std::vector<Box>>& boxes, const Config& cfg, Logger& log);
/// The game's geometry on given maps (CV_32FC1, any size; the first maximum in row-major order is
/// the peak): a hit when the peak pixel's centre ((col + 0.5) / cols, (row + 0.5) / rows) lies in a
/// box, edges included; chance: the share of the image inside the union of the boxes (a 200 x 200
/// grid of cell centres). Images without boxes are left out.
PointingGame score_pointing(const std::vector<cv::Mat>& maps, const std::vector<std::vector<Box>>& boxes);

namespace detail {
/// A config value as args.yaml writes it ("null" for null).
std::string value_text(const Config& c, const std::string& key);
/// The images of key `source` (an image, a DICOM file, or a folder searched recursively, hidden
/// entries skipped, screened: unusable files into `skipped` and counted); errors name `who`.
std::vector<ClsItem> source_items(const Config& cfg, const std::string& who, Logger& log,
                                  std::vector<UnusableFile>& skipped);
/// The dataset of key `data` with both classes, screened (data/screen.h: unusable images left out
/// with strict=false, into *skipped when given); errors name the file and the counts.
ClsDataset load_dataset(const Config& cfg, Logger& log, std::vector<UnusableFile>* skipped = nullptr);
/// The resolved config of a run directory (its args.yaml over the defaults).
Config run_config(const std::filesystem::path& run);
/// The config with its dataset and weights paths (data, weights, external, cls_data) made absolute, so a run
/// can be resumed from another folder.
Config absolute_paths(Config cfg);
/// A resumed run's config: its args.yaml, with only device, workers, threads, verbose and cache
/// taken from `cli`; any other key the command line changes is an error listing each change.
Config resumed_config(const Config& cli, const std::filesystem::path& run, Logger& log);
/// shard=i/n: (i, n); throws naming the key for anything else.
std::pair<int, int> parse_shard(const std::string& v);
/// Key gradcam_layer: the layer Grad-CAM explains ("" for the last feature map).
std::string gradcam_layer(const Config& cfg);
}  // namespace detail

}  // namespace fracture::engine
