// The files of a `fracture detect` run, each written by one function here and read back here:
// validation (metrics.json, metrics.csv, curves.json, curves.csv, predictions.json and Ultralytics'
// plots), training (results.csv, weights/names.json) and prediction (<image>.json, <image>.png,
// predictions.json). args.yaml belongs to core/rundir.h, weights and resume state to
// models/weights/checkpoint.h and engine/detect_train.cpp.
//
//   fracture::DetValOutput out = fracture::engine::validate_detector(*det.net, items, names, vo, *log);
//   fracture::report::write_val_report(out, names, run);               // metrics.json, curves, plots, ...
//   std::printf("%s", fracture::report::format_val_table(out, names).c_str());
//   std::vector<fracture::ImagePredictions> again = fracture::report::read_predictions_json(run / "predictions.json");
//   fracture::report::write_names(run / "weights", names);             // read back by read_names
//
// Boxes are xyxy in original-image pixels everywhere.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "fracture/eval/detection_metrics.h"

namespace fracture {

/// Detections and ground truth of one validation image, in original-image pixels.
struct ImagePredictions {
  std::string path;
  int width = 0, height = 0;
  std::vector<Prediction> preds;
  std::vector<GroundTruth> gts;
};

/// What one validation pass measured (engine::validate_detector fills it).
struct DetValOutput {
  DetectionResults results;
  DetectionConfusion confusion{1};
  MatchRule matching = MatchRule::ultralytics;  ///< the rule the results were computed with
  bool rect = true;                             ///< rectangular batches (else imgsz squares)
  std::vector<ImagePredictions> images;
  int64_t n_images = 0;
  std::vector<double> loss;  ///< [box, cls, dfl] mean per batch when a loss was given, else empty
  std::vector<std::string> skipped;  ///< "file: reason" of images left out (DetValOptions::skip_unreadable)
};

}  // namespace fracture

namespace fracture::report {

/// weights/names.json: a JSON list of class names.
void write_names(const std::filesystem::path& weights_dir, const std::vector<std::string>& names);
/// The names.json beside a weights file; class0 ... class<nc-1> when there is none. Throws naming the
/// file when it lists another number of classes than `nc`.
std::vector<std::string> read_names(const std::filesystem::path& weights_dir, int64_t nc);

/// Writes into dir: metrics.json (precision, recall, map50, map50_95, map75, fitness, per_class by
/// name with images/instances, confusion_matrix with names + "background", conf_at_best_f1,
/// matching, rect, loss), metrics.csv (the same as a table, "all" first), curves.json and
/// curves.csv (P/R/F1 vs confidence, P vs R per class), predictions.json (per image: file, width,
/// height, boxes xyxy pixels with conf/class/name, labels), confusion_matrix.png, PR_curve.png,
/// F1_curve.png, P_curve.png, R_curve.png.
void write_val_report(const DetValOutput& out, const std::vector<std::string>& names, const std::filesystem::path& dir);

/// predictions.json as written by write_val_report, read back (tests, re-scoring).
std::vector<ImagePredictions> read_predictions_json(const std::filesystem::path& file);

/// Ultralytics-style table: Class, Images, Instances, P, R, mAP50, mAP50-95; "all" first.
std::string format_val_table(const DetValOutput& out, const std::vector<std::string>& names);

/// Images per class: how many images contain at least one ground-truth box of class c.
std::vector<int64_t> images_per_class(const std::vector<ImagePredictions>& images, int nc);

/// One row of a training run's results.csv (Ultralytics' columns).
struct DetectEpochRow {
  int epoch = 0;              ///< 0-based (written 1-based)
  double train_loss[3] = {};  ///< box, cls, dfl
  double precision = 0, recall = 0, map50 = 0, map50_95 = 0;
  double val_loss[3] = {};    ///< box, cls, dfl (0 without a validation loss)
  double lr[3] = {};          ///< pg0, pg1, pg2
  double elapsed = 0;         ///< seconds since the run started (rounded to ms)
};
/// The row as results.csv holds it (%.8g numbers).
std::string detect_results_row(const DetectEpochRow& row);
/// results.csv: the header and the rows (from detect_results_row), rewritten after every epoch.
void write_detect_results(const std::filesystem::path& run, const std::vector<std::string>& rows);
/// The first `max_rows` rows of a run's results.csv, as written (resume).
std::vector<std::string> read_detect_results(const std::filesystem::path& run, int max_rows);

/// Draws boxes with "name conf" labels on an 8-bit BGR copy of the [0, 1] grey image.
cv::Mat draw_detections(const cv::Mat& img01, const std::vector<Prediction>& preds, const std::vector<std::string>& names);

/// The [0, 1] grey image with a Grad-CAM map (`cam`, [0, 1], same size; none when empty) blended
/// in at 40 % (JET colours), the true boxes as thin green rectangles and the predictions with
/// "name conf" labels on top (draw_boxes); 8-bit BGR.
cv::Mat gradcam_overlay(const cv::Mat& img01, const cv::Mat& cam, const std::vector<Prediction>& preds,
                        const std::vector<std::string>& names, const std::vector<GroundTruth>& truths = {});

/// Draws the boxes with "name conf" labels onto an 8-bit BGR image in place (draw_detections' boxes).
void draw_boxes(cv::Mat& bgr, const std::vector<Prediction>& preds, const std::vector<std::string>& names);
/// The boxes of `preds` as JSON: [{class, name, conf, xyxy}] (original-image pixels).
nlohmann::json boxes_json(const std::vector<Prediction>& preds, const std::vector<std::string>& names);

/// Detections of one image given to `detect predict`.
struct PredictedImage {
  std::string file;
  int width = 0, height = 0;
  std::vector<Prediction> preds;
};
/// `stem`.json (file, width, height, boxes) and `stem`.png (draw_detections on img01) in run.
void write_predicted_image(const std::filesystem::path& run, const std::string& stem, const PredictedImage& p,
                           const std::vector<std::string>& names, const cv::Mat& img01);
/// predictions.json: the per-image JSON of every image, in order.
void write_predict_summary(const std::filesystem::path& run, const std::vector<PredictedImage>& images,
                           const std::vector<std::string>& names);

}  // namespace fracture::report
