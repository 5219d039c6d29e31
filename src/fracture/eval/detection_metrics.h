// Object-detection metrics with Ultralytics YOLOv8 validation semantics (pure C++, no torch).
// Boxes are pixel xyxy (x1, y1, x2, y2), x to the right, y down, x2 >= x1, y2 >= y1.
//
//   fracture::DetectionMetrics dm({"fracture", "plate"});
//   for (const auto& [preds, gts] : images)   // each validation image: predictions, ground truth
//     dm.update(preds, gts);     // preds after NMS: box, conf, cls; gts: box, cls
//   fracture::DetectionResults r = dm.compute();
//   r.map50, r.map, r.mp, r.mr, r.per_class[0].ap50, dm.confusion().matrix ...
//
// What is followed (Ultralytics 8.1.0, engine/validator.py and utils/metrics.py; docs/detection.md):
//   - matching (MatchRule::ultralytics, the default): per IoU threshold t in 0.50:0.05:0.95, the
//     same-class candidates with IoU >= t sorted by IoU, each detection's best kept, then each
//     label kept by the LOWEST-INDEX detection among those (np.unique re-orders by detection index;
//     match_ultralytics in the .cpp says why). MatchRule::coco (pycocotools' greedy rule by
//     confidence) and MatchRule::hungarian (maximum total IoU) are the alternatives;
//   - ap_per_class / compute_ap: Ultralytics' 101-point interpolated AP integrated with the
//     trapezoid rule after the sentinels (recall 0, precision 1) and (recall 1, precision 0) are
//     added, so a perfect detector scores 0.995, not 1.0 (exactly as Ultralytics reports);
//   - P and R: per-class precision/recall curves on a 1000-point confidence grid, F1 averaged over
//     classes, smoothed with a box filter of 10 % width, read at its argmax, averaged over classes;
//   - mAP averages over the classes that have ground truth; a class with ground truth but no
//     prediction counts with AP 0; predictions of classes without ground truth are ignored.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace fracture {

/// Number of IoU thresholds 0.50, 0.55, ..., 0.95.
constexpr int kNumIouThresholds = 10;

/// An axis-aligned box in pixel xyxy.
struct BoxXyxy {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

/// One detection after NMS.
struct Prediction {
  BoxXyxy box;
  double conf = 0;  ///< confidence in [0, 1]
  int cls = 0;      ///< class index in [0, nc)
};

/// One ground-truth box.
struct GroundTruth {
  BoxXyxy box;
  int cls = 0;
};

/// The IoU thresholds 0.50:0.05:0.95 (computed as (50 + 5 i) / 100).
std::array<double, kNumIouThresholds> iou_thresholds();

/// Intersection over union of two xyxy boxes, inter / (union + 1e-7) as Ultralytics' box_iou (so 0
/// for an empty union; a perfect overlap of 100 px^2 gives 1 - 1e-9).
double box_iou(const BoxXyxy& a, const BoxXyxy& b);

/// How predictions are paired one-to-one with ground truth of their class at each IoU threshold.
enum class MatchRule {
  /// Ultralytics 8.1.0 DetectionValidator.match_predictions (non-scipy path): candidates sorted by
  /// IoU, each detection keeps its best, then each label goes to the lowest detection index among
  /// them (after NMS: the most confident), not to the highest IoU. What Ultralytics' P, R and mAP use.
  ultralytics,
  /// pycocotools: detections by decreasing confidence each take the best still-unmatched ground truth.
  coco,
  /// Optimal assignment maximising the total IoU of the pairs that reach the threshold (Ultralytics'
  /// use_scipy=True path, scipy.optimize.linear_sum_assignment).
  hungarian,
};
/// "ultralytics" | "coco" | "hungarian" (the config key `matching`); throws fracture::Error otherwise.
MatchRule parse_match_rule(const std::string& name);
const char* to_string(MatchRule rule);

/// For each prediction, whether it is a true positive at each IoU threshold under `rule`.
/// preds in the order NMS returns them (decreasing confidence). Returns preds.size() rows.
std::vector<std::array<bool, kNumIouThresholds>> match_predictions(const std::vector<Prediction>& preds,
                                                                   const std::vector<GroundTruth>& gts,
                                                                   MatchRule rule = MatchRule::ultralytics);

/// numpy.interp: piecewise-linear interpolation of (xp, fp) at x, xp non-decreasing; `left` below
/// xp[0], `right` above xp.back(). Exposed for tests.
double np_interp(double x, const std::vector<double>& xp, const std::vector<double>& fp, double left, double right);

/// Ultralytics compute_ap: AP from a recall curve (non-decreasing) and its precision curve.
/// Adds the sentinels, takes the precision envelope (running max from the right), samples it at 101
/// recall points 0, 0.01, ..., 1 with np_interp and integrates with the trapezoid rule.
double compute_ap(const std::vector<double>& recall, const std::vector<double>& precision);

/// Per-class results (one row per class that has ground truth).
struct ClassResult {
  int cls = 0;
  std::string name;
  int64_t n_gt = 0;    ///< ground-truth boxes (instances)
  int64_t n_pred = 0;  ///< predictions of this class
  double p = 0;        ///< precision at the chosen confidence
  double r = 0;        ///< recall at the chosen confidence
  double f1 = 0;
  double ap50 = 0;     ///< AP at IoU 0.5
  double ap = 0;       ///< mean AP over IoU 0.50:0.95
  std::array<double, kNumIouThresholds> ap_iou{};  ///< AP at each IoU threshold
};

/// Curve data for plots. conf_grid has 1000 points linspace(0, 1); curves have one row per class
/// in ClassResult order. pr_curve holds, per class, precision at IoU 0.5 sampled at the recall grid
/// recall_grid = linspace(0, 1, 1000) (the precision envelope, as Ultralytics plots it).
struct DetectionCurves {
  std::vector<double> conf_grid;
  std::vector<double> recall_grid;
  std::vector<std::vector<double>> precision;  ///< P vs confidence
  std::vector<std::vector<double>> recall;     ///< R vs confidence
  std::vector<std::vector<double>> f1;         ///< F1 vs confidence
  std::vector<std::vector<double>> pr_curve;   ///< P vs R at IoU 0.5
};

/// Aggregate results.
struct DetectionResults {
  std::vector<ClassResult> per_class;  ///< classes with ground truth, ascending class index
  double mp = 0;     ///< mean precision over per_class
  double mr = 0;     ///< mean recall over per_class
  double map50 = 0;  ///< mean AP at IoU 0.5
  double map75 = 0;  ///< mean AP at IoU 0.75
  double map = 0;    ///< mean AP over IoU 0.50:0.95
  double conf_at_best_f1 = 0;  ///< the confidence on the grid where P and R are read
  int64_t n_images = 0;
  int64_t n_gt = 0;
  DetectionCurves curves;
  /// Ultralytics fitness: 0.1 mAP50 + 0.9 mAP50-95.
  double fitness() const { return 0.1 * map50 + 0.9 * map; }
};

/// Ultralytics ap_per_class over a whole data set. tp: one row per prediction (from
/// match_predictions), conf and pred_cls aligned with it; target_cls: the class of every
/// ground-truth box. names[c] names class c (nc = names.size()). Throws fracture::Error for
/// mismatched lengths, a class outside [0, nc) or more true positives of a class than its ground truth.
DetectionResults ap_per_class(const std::vector<std::array<bool, kNumIouThresholds>>& tp,
                              const std::vector<double>& conf, const std::vector<int>& pred_cls,
                              const std::vector<int>& target_cls, const std::vector<std::string>& names);

/// Confusion matrix as Ultralytics 8.1.0's ConfusionMatrix for detection: (nc + 1) x (nc + 1),
/// indexed matrix[predicted][true], index nc = background. Predictions with conf > conf_thres are
/// kept; class-agnostic pairs with IoU > iou_thres, each detection's best then each label's best by
/// IoU (its process_batch, independent of MatchRule). Matched pair: matrix[pred cls][gt cls] += 1;
/// unmatched gt: matrix[nc][gt cls]; unmatched prediction: matrix[pred cls][nc], counted only when
/// the image had some match (upstream's quirk, kept for identical matrices).
struct DetectionConfusion {
  int nc = 0;
  double conf_thres = 0.25;
  double iou_thres = 0.45;
  std::vector<std::vector<int64_t>> matrix;

  DetectionConfusion(int nc, double conf_thres = 0.25, double iou_thres = 0.45);
  void process_batch(const std::vector<Prediction>& preds, const std::vector<GroundTruth>& gts);
};

/// Accumulates predictions and ground truth image by image; compute() runs ap_per_class.
class DetectionMetrics {
 public:
  explicit DetectionMetrics(std::vector<std::string> names, MatchRule rule = MatchRule::ultralytics);
  /// Adds one image (the confusion matrix only when it has ground truth, as Ultralytics' validator).
  /// Checks class indices in [0, nc), finite boxes with x2 >= x1, y2 >= y1 and
  /// confidences in [0, 1]; throws fracture::Error naming the image number and the index otherwise.
  void update(const std::vector<Prediction>& preds, const std::vector<GroundTruth>& gts);
  DetectionResults compute() const;
  const DetectionConfusion& confusion() const { return confusion_; }
  const std::vector<std::string>& names() const { return names_; }
  MatchRule rule() const { return rule_; }

 private:
  std::vector<std::string> names_;
  MatchRule rule_ = MatchRule::ultralytics;
  std::vector<std::array<bool, kNumIouThresholds>> tp_;
  std::vector<double> conf_;
  std::vector<int> pred_cls_;
  std::vector<int> target_cls_;
  int64_t n_images_ = 0;
  DetectionConfusion confusion_;
};

}  // namespace fracture
