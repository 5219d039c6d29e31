// YOLOv8 training loss (Ultralytics v8DetectionLoss semantics): TaskAlignedAssigner, then
// BCE class loss, CIoU box loss and Distribution Focal Loss, with gains box 7.5, cls 0.5, dfl 1.5.
//
//   fracture::detect::DetectionLoss loss(nc, {8, 16, 32});
//   auto feats = net->forward_train(images);              // 3 x (B, 64 + nc, H_i, W_i)
//   fracture::detect::LossOutput out = loss(feats, batch.targets, imgsz_h, imgsz_w);
//   out.total.backward();                                 // scalar: (box + cls + dfl) * B
//   out.items;                                            // (3) detached [box, cls, dfl] per image
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
  torch::Tensor target_bboxes;  ///< (B, A, 4) xyxy pixels of the assigned GT
  torch::Tensor target_scores;  ///< (B, A, nc) soft targets: normalised alignment, 0 for background
  torch::Tensor fg_mask;        ///< (B, A) bool, anchor is foreground
  torch::Tensor target_gt_idx;  ///< (B, A) int64 index of the assigned GT in [0, M)
};

/// pd_scores (B, A, nc) sigmoid scores, pd_bboxes (B, A, 4) xyxy pixels, anchor_points (A, 2) pixels,
/// gt_labels (B, M, 1), gt_bboxes (B, M, 4) xyxy pixels, mask_gt (B, M, 1) (1 for real boxes,
/// 0 for padding). Runs without gradient.
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
};

class DetectionLoss {
 public:
  DetectionLoss(int64_t nc, std::vector<double> strides = {8, 16, 32}, DetectionLossOptions options = {});
  /// feats: the three raw maps of YoloV8Impl::forward_train; targets (N, 6) as above; the input
  /// image size in pixels (boxes are scaled by it).
  LossOutput operator()(const std::vector<torch::Tensor>& feats, const torch::Tensor& targets, int64_t imgsz_h,
                        int64_t imgsz_w) const;

 private:
  int64_t nc_;
  std::vector<double> strides_;
  DetectionLossOptions opt_;
};

}  // namespace fracture::detect
