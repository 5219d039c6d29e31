// YOLOv8 training loss (Ultralytics v8DetectionLoss semantics): TaskAlignedAssigner, then
// BCE class loss, CIoU box loss and Distribution Focal Loss, with gains box 7.5, cls 0.5, dfl 1.5.
//
//   fracture::detect::DetectionLoss loss(nc, {8, 16, 32});
//   auto feats = net->forward_train(images);              // 3 x (B, 64 + nc, H_i, W_i)
//   fracture::detect::LossOutput out = loss(feats, batch.targets, imgsz_h, imgsz_w);
//   out.total.backward();                                 // scalar: (box + cls + dfl) * B
//   out.items;                                            // (3) detached [box, cls, dfl] per image
//   auto as = loss.assign(feats, batch.targets, imgsz_h, imgsz_w);  // the TaskAligned assignment only
//
// Implementation: assigner.cpp (task_aligned_assign), loss.cpp (the rest). Proof:
// tests/unit/detect_loss_test.cpp against tests/oracle/yolo_loss_ref.py (independent Python).
//
// targets: (N, 6) float [batch_index, class, cx, cy, w, h], box normalised to the input image
// (the loader's Batch::targets). Images without boxes simply have no rows.
#pragma once
#include <torch/types.h>
#include <vector>

namespace fracture::detect {

/// TaskAlignedAssigner (Feng et al. 2021, TOOD) as in Ultralytics utils/tal.py.
struct TaskAlignedOptions {
  int64_t topk = 10;
  double alpha = 0.5;  ///< exponent of the class score in the alignment metric
  double beta = 6.0;   ///< exponent of the CIoU in the alignment metric
  double eps = 1e-9;
};

/// Assignment of anchors to ground truth for a batch. B images, A anchors, M max boxes per image.
struct Assignment {
  torch::Tensor target_labels;  ///< (B, A) int64 class of the assigned GT (0 where background)
  torch::Tensor target_bboxes;  ///< (B, A, 4) xyxy pixels of the assigned GT (background: GT 0's box, as
                                ///< Ultralytics; zeros when M == 0). Only meaningful where fg_mask.
  torch::Tensor target_scores;  ///< (B, A, nc) soft targets: normalised alignment, 0 for background
  torch::Tensor fg_mask;        ///< (B, A) bool, anchor is foreground
  torch::Tensor target_gt_idx;  ///< (B, A) int64 index of the assigned GT in [0, M)
};

/// pd_scores (B, A, nc) sigmoid scores, pd_bboxes (B, A, 4) xyxy pixels, anchor_points (A, 2) pixels,
/// gt_labels (B, M, 1), gt_bboxes (B, M, 4) xyxy pixels, mask_gt (B, M, 1) (1 for real boxes,
/// 0 for padding). Runs without gradient. Steps (Ultralytics tal.py):
///  1. candidates: anchor point strictly inside a real GT (min distance to the 4 sides > eps);
///  2. metric = score[gt class]^alpha * CIoU(gt, pred).clamp(0)^beta on candidates, 0 elsewhere;
///  3. per real GT the top-k anchors by metric (k = min(topk, A)), kept only where candidates;
///  4. an anchor positive for several GTs keeps the GT of largest CIoU (argmax over all GTs);
///  5. target_scores = one_hot(class) * max over GTs of metric * (GT's max CIoU over its positives)
///     / (GT's max metric over its positives + eps).
/// Throws fracture::Error for wrong shapes or a real GT class outside [0, nc).
Assignment task_aligned_assign(const torch::Tensor& pd_scores, const torch::Tensor& pd_bboxes,
                               const torch::Tensor& anchor_points, const torch::Tensor& gt_labels,
                               const torch::Tensor& gt_bboxes, const torch::Tensor& mask_gt,
                               const TaskAlignedOptions& options = {});

struct DetectionLossOptions {
  double box = 7.5;  ///< CIoU box loss gain
  double cls = 0.5;  ///< BCE class loss gain
  double dfl = 1.5;  ///< DFL gain
  int64_t reg_max = 16;
  TaskAlignedOptions assigner;
};

struct LossOutput {
  torch::Tensor total;  ///< scalar with gradient: (box + cls + dfl) * batch size (Ultralytics)
  torch::Tensor items;  ///< (3) detached [box, cls, dfl], each already multiplied by its gain
  int64_t num_fg = 0;   ///< foreground anchors in the batch (diagnostics)
  double target_scores_sum = 0;  ///< sum of the soft target scores; max(it, 1) normalises all three terms
};

/// Distribution Focal Loss (GFL, Li et al. 2020) as Ultralytics BboxLoss._df_loss: pred_dist (N, 4, R)
/// logits over R bins, target (N, 4) distances in bins, each in [0, R - 1) (clamp to R - 1 - 0.01).
/// Left bin tl = floor(t), right tr = tl + 1, wl = tr - t, wr = 1 - wl:
/// CE(tl) * wl + CE(tr) * wr, mean over the 4 sides -> (N, 1).
torch::Tensor dfl_loss(const torch::Tensor& pred_dist, const torch::Tensor& target);

/// Loader targets (N, 6) [batch_index, class, cx, cy, w, h] (normalised) -> (B, M, 5)
/// [class, x1, y1, x2, y2] in pixels of the (imgsz_w, imgsz_h) input, M = most boxes in one image,
/// rows of an image in input order, padding rows all 0 (Ultralytics v8DetectionLoss.preprocess).
torch::Tensor build_targets(const torch::Tensor& targets, int64_t batch_size, int64_t imgsz_h, int64_t imgsz_w);

class DetectionLoss {
 public:
  DetectionLoss(int64_t nc, std::vector<double> strides = {8, 16, 32}, DetectionLossOptions options = {});
  /// feats: the three raw maps of YoloV8Impl::forward_train; targets (N, 6) as above; the input
  /// image size in pixels (boxes are scaled by it). Steps: box logits (B, 4R, A) -> softmax over R bins,
  /// expectation -> l, t, r, b (grid units) -> xyxy around the anchor points (grid units); assigner on
  /// sigmoid scores and boxes * stride (pixels, detached); cls = BCE-with-logits sum / max(sum target
  /// scores, 1); on foreground anchors box = sum (1 - CIoU) * w / that sum, dfl = sum DFL * w / that sum,
  /// w = the anchor's target score, target boxes / stride. No GT in the batch: box = dfl = 0.
  /// Throws fracture::Error for wrong shapes, a batch index outside [0, B) or a class outside [0, nc).
  LossOutput operator()(const std::vector<torch::Tensor>& feats, const torch::Tensor& targets, int64_t imgsz_h,
                        int64_t imgsz_w) const;

  /// The assignment operator() would make for these maps and targets (no gradient). Diagnostics and tests.
  Assignment assign(const std::vector<torch::Tensor>& feats, const torch::Tensor& targets, int64_t imgsz_h,
                    int64_t imgsz_w) const;
  /// The loss with a given assignment (e.g. one made earlier by assign()): a fixed objective, unlike
  /// operator() whose soft targets move with the predictions. operator() = assign + with_assignment.
  LossOutput with_assignment(const std::vector<torch::Tensor>& feats, const Assignment& assignment) const;

 private:
  int64_t nc_;
  std::vector<double> strides_;
  DetectionLossOptions opt_;
};

}  // namespace fracture::detect
