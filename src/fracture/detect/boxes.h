// Box operations for YOLOv8 detection, following Ultralytics (utils/ops.py, utils/metrics.py,
// utils/tal.py). Boxes are in pixels. "xyxy" = (x1, y1, x2, y2) corners; "xywh" = (cx, cy, w, h)
// centre and size. The last dimension holds the 4 coordinates unless said otherwise.
//
//   auto xyxy = fracture::detect::xywh2xyxy(xywh);                    // (..., 4) -> (..., 4)
//   auto iou  = fracture::detect::box_iou(a, b);                      // (N, 4), (M, 4) -> (N, M)
//   auto ciou = fracture::detect::bbox_iou(p, t, false, fracture::detect::IouKind::ciou);  // (..., 4) -> (..., 1)
//   auto [points, strides] = fracture::detect::make_anchors(feats, {8, 16, 32});
//   auto dist = fracture::detect::dfl_decode(raw_box, 16);            // (B, 64, A) -> (B, 4, A)
//   auto boxes = fracture::detect::dist2bbox(dist, points.t().unsqueeze(0), true, 1);
#pragma once
#include <torch/torch.h>

#include <utility>
#include <vector>

namespace fracture::detect {

/// (cx, cy, w, h) -> (x1, y1, x2, y2), last dimension 4.
torch::Tensor xywh2xyxy(const torch::Tensor& x);

/// (x1, y1, x2, y2) -> (cx, cy, w, h), last dimension 4.
torch::Tensor xyxy2xywh(const torch::Tensor& x);

/// Pairwise IoU of xyxy boxes: (N, 4), (M, 4) -> (N, M). inter / (area1 + area2 - inter + eps).
torch::Tensor box_iou(const torch::Tensor& box1, const torch::Tensor& box2, double eps = 1e-7);

enum class IouKind { iou, giou, diou, ciou };

/// Element-wise (broadcast) IoU variant between box1 and box2, as Ultralytics bbox_iou: returns
/// shape (..., 1). xywh selects the input format. In xyxy mode the heights get + eps (Ultralytics).
///   GIoU (Rezatofighi et al. 2019): iou - (C - U) / C, C the enclosing box area.
///   DIoU (Zheng et al. 2020):      iou - rho^2 / c^2, rho the centre distance, c the enclosing diagonal.
///   CIoU:                          iou - (rho^2 / c^2 + alpha v), v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2,
///                                  alpha = v / (v - iou + 1 + eps) computed without gradient.
torch::Tensor bbox_iou(const torch::Tensor& box1, const torch::Tensor& box2, bool xywh = true,
                       IouKind kind = IouKind::iou, double eps = 1e-7);

/// Anchor points at cell centres for each feature map (B, C, H_i, W_i) and stride:
/// returns (points (A, 2) as (x, y) in grid units, i.e. column + 0.5, row + 0.5; strides (A, 1)),
/// A = sum H_i W_i, row-major per level, levels in order. Multiply points by strides for pixels.
std::pair<torch::Tensor, torch::Tensor> make_anchors(const std::vector<torch::Tensor>& feats,
                                                     const std::vector<double>& strides, double offset = 0.5);

/// Distances (left, top, right, bottom) from anchor points to box sides -> boxes (xywh or xyxy),
/// along dimension `dim` (4 there). anchor_points broadcasts against distance (2 along `dim`).
torch::Tensor dist2bbox(const torch::Tensor& distance, const torch::Tensor& anchor_points, bool xywh = true,
                        int64_t dim = -1);

/// xyxy boxes -> distances (l, t, r, b) from anchor points (last dim), clamped to [0, reg_max - 0.01].
/// Pass reg_max = 16 - 1 = 15 as Ultralytics' loss does (its reg_max argument is bins - 1).
torch::Tensor bbox2dist(const torch::Tensor& anchor_points, const torch::Tensor& bbox, double reg_max);

/// Distribution Focal Loss decoding (Li et al. 2020, GFL): (B, 4 * reg_max, A) raw logits ->
/// (B, 4, A) expected distance = sum_k softmax(logits)_k * k, k = 0 .. reg_max - 1 (in strides).
torch::Tensor dfl_decode(const torch::Tensor& x, int64_t reg_max = 16);

/// Clips xyxy boxes in place-free fashion to an image of (height, width).
torch::Tensor clip_boxes(const torch::Tensor& boxes, int64_t height, int64_t width);

/// Maps xyxy boxes from a letterboxed image of size (h1, w1) back to the original (h0, w0)
/// (Ultralytics scale_boxes without ratio_pad): gain = min(h1 / h0, w1 / w0), padding
/// round((w1 - w0 gain) / 2 - 0.1) and round((h1 - h0 gain) / 2 - 0.1), subtract padding, divide
/// by gain, clip to the original image.
torch::Tensor scale_boxes(int64_t h1, int64_t w1, const torch::Tensor& boxes, int64_t h0, int64_t w0);

}  // namespace fracture::detect
