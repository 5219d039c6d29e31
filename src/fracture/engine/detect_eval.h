// YOLOv8 detection validation and prediction (Ultralytics 8.1.0 DetectionValidator /
// DetectionPredictor semantics): rectangular or square letterboxed inputs, boxes mapped back to
// original-image pixels.
//
//   auto det = fracture::engine::load_detector("runs/detect/train", torch::kCPU);  // or a .safetensors
//   fracture::engine::DetValOptions vo;  vo.imgsz = 640;
//   auto out = fracture::engine::validate_detector(*det.net, ds.splits.at("val"), ds.names, vo, *log);
//   fracture::report::write_val_report(out, ds.names, run_dir);   // metrics.json, curves, predictions
//   std::cout << fracture::report::format_val_table(out, ds.names);
//   fracture::engine::PredictOptions po;  po.imgsz = 640;
//   auto dets = fracture::engine::predict_image(*det.net, img01, po);             // original pixels
//
// Validation: no augmentation; NMS conf 0.001, IoU 0.7, multi-label, max_det 300; matching and AP
// from eval/detection_metrics.h; confusion matrix at conf 0.25, IoU 0.45 with a background row/col.
#pragma once
#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fracture/data/augment.h"
#include "fracture/core/log.h"
#include "fracture/data/dataset.h"
#include "fracture/data/image.h"
#include "fracture/data/image_cache.h"
#include "fracture/eval/detection_metrics.h"
#include "fracture/models/inference.h"
#include "fracture/models/yolov8.h"
#include "fracture/report/detect_files.h"

namespace fracture::detect {
class DetectionLoss;
}

namespace fracture::engine {

/// A detector ready for inference, and where it came from.
struct LoadedDetector {
  models::YoloV8 net{nullptr};
  std::filesystem::path weights;   ///< the safetensors/.pt file read
  std::vector<std::string> names;  ///< class names: weights' names.json when present, else class0 ...
  std::string scale;               ///< n, s or m (recognised from the weights)
};

/// The weights file behind model=: a run directory (its weights/best.safetensors, else last) or a
/// checkpoint file (.safetensors, .pt, .pth). Throws fracture::Error naming the path when absent.
std::filesystem::path resolve_detector_weights(const std::filesystem::path& model);

/// Builds a YoloV8 of the scale and class count found in the weights (model.0.conv.weight width
/// 16/32/48 -> n/s/m; model.22.cv3.0.2.weight rows -> nc), loads them strictly and puts it in eval
/// mode on `device`; with `channels_last` its 4-D weights are then stored channels-last (NHWC), for
/// DetValOptions / PredictOptions with channels_last. Names from names.json beside the weights.
LoadedDetector load_detector(const std::filesystem::path& model, const torch::Device& device,
                             bool channels_last = false);
/// The same, then models::optimize_for_inference'd with `optimize` (BatchNorm folded; with its
/// channels_last NHWC weights and, on the CPU with oneDNN, fused convolutions, Winograd where it pays
/// and bf16 when asked): faster, outputs equal to float rounding (bf16: bf16 rounding), inference only.
LoadedDetector load_detector(const std::filesystem::path& model, const torch::Device& device,
                             const models::InferenceOptions& optimize);

struct DetValOptions {
  int imgsz = 640;
  int batch = 32;
  int workers = 2;
  double conf = 0.001;     ///< NMS confidence threshold
  double iou = 0.7;        ///< NMS IoU threshold
  int64_t max_det = 300;
  bool multi_label = true;
  ReadOptions read;
  float clahe = 0.0f;
  bool channels_last = false;  ///< batches in channels-last (NHWC) memory (for a model with NHWC weights)
  MatchRule matching = MatchRule::ultralytics;  ///< key `matching`: how predictions meet ground truth
  /// Key `rect`: Ultralytics' rectangular batches (images ordered by aspect ratio, each batch padded
  /// to its own stride-multiple shape, see rect_batches), its default for validation; false = every
  /// image letterboxed to the imgsz square.
  bool rect = true;
  std::shared_ptr<ImageCache> cache;  ///< key `cache`: decoded images kept between validations (null: none)
  /// strict=false: an image that cannot be read during validation is left out of the metrics and
  /// listed in DetValOutput::skipped instead of stopping the run.
  bool skip_unreadable = false;
};

/// Runs `net` (eval mode is set here) over `items`. When `loss` is given, also the validation loss
/// (Ultralytics val/box_loss etc.: loss items averaged over batches). Errors: a class index in the
/// labels >= names.size().
DetValOutput validate_detector(models::YoloV8Impl& net, const std::vector<DetItem>& items,
                               const std::vector<std::string>& names, const DetValOptions& opt, Logger& log,
                               const detect::DetectionLoss* loss = nullptr);

/// Recomputes metrics from per-image predictions and ground truth (what validate_detector did).
DetectionMetrics metrics_from_images(const std::vector<ImagePredictions>& images, const std::vector<std::string>& names,
                                     MatchRule matching = MatchRule::ultralytics);

struct PredictOptions {
  int imgsz = 640;
  double conf = 0.25;
  double iou = 0.7;
  int64_t max_det = 300;
  bool agnostic = false;
  bool channels_last = false;  ///< input in channels-last (NHWC) memory (for a model with NHWC weights)
  /// Key `rect`: Ultralytics' predict letterbox (letterbox_min: padded only to a multiple of 32);
  /// false = the imgsz square.
  bool rect = true;
};

/// Detections for one grey CV_32FC1 [0, 1] image of any size: letterbox (pad 114/255; see
/// PredictOptions::rect), grey replicated to 3 channels, NMS, boxes mapped back to original pixels
/// and clipped.
std::vector<Prediction> predict_image(models::YoloV8Impl& net, const cv::Mat& img01, const PredictOptions& opt);

/// Maps xyxy letterbox-pixel boxes back to original pixels and clips them: x = (x' - pad_x) / scale.
BoxXyxy unletterbox(const BoxXyxy& b, const LetterboxInfo& lb);

}  // namespace fracture::engine
