// Non-maximum suppression for YOLOv8 head output, following Ultralytics'
// utils/ops.non_max_suppression with torchvision.ops.nms semantics, written as a plain greedy loop
// on CPU (torchvision ops are not part of libtorch).
//
//   fracture::detect::NmsOptions o;  o.conf_thres = 0.001;  o.iou_thres = 0.7;  o.multi_label = true;
//   std::vector<torch::Tensor> dets = fracture::detect::non_max_suppression(out, o);
//   // out: (B, 4 + nc, A) with xywh pixel boxes and sigmoid scores (YOLOv8 eval forward)
//   // dets[b]: (n, 6) float rows [x1, y1, x2, y2, conf, cls], by decreasing conf
#pragma once
#include <torch/torch.h>

#include <vector>

namespace fracture::detect {

/// Greedy NMS: keep the highest score, drop boxes with IoU > iou_thres against it, repeat.
/// boxes (N, 4) xyxy, scores (N). Returns kept indices (int64) by decreasing score (ties: lower
/// index first). max_keep >= 0 stops after that many kept boxes: the result is exactly the first
/// max_keep of the unlimited result (what Ultralytics keeps with max_det), found in O(max_keep N).
torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_thres, int64_t max_keep = -1);

/// Options of non_max_suppression; defaults are Ultralytics' predict defaults except iou_thres
/// (Ultralytics' function default 0.45; predict uses 0.7, validation conf 0.001 / iou 0.7 / multi-label).
struct NmsOptions {
  double conf_thres = 0.25;   ///< keep class scores > conf_thres
  double iou_thres = 0.45;    ///< suppress IoU > iou_thres
  bool multi_label = false;   ///< one row per (box, class) above conf_thres (only when nc > 1)
  bool agnostic = false;      ///< suppress across classes
  int64_t max_det = 300;      ///< keep at most this many per image
  int64_t max_nms = 30000;    ///< at most this many candidates (highest conf) enter NMS
  double max_wh = 7680;       ///< class offset in pixels for class-aware NMS in one pass
  std::vector<int64_t> classes;  ///< keep only these classes (empty = all)
};

/// prediction (B, 4 + nc, A): xywh boxes then class scores. Returns B tensors (n, 6), float32 on
/// the input device: [x1, y1, x2, y2, conf, cls].
std::vector<torch::Tensor> non_max_suppression(const torch::Tensor& prediction, const NmsOptions& options = {});

}  // namespace fracture::detect
