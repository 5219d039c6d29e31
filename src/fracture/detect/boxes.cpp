// Box operations; see boxes.h.
#include "fracture/detect/boxes.h"

#include <cmath>

#include "fracture/core/error.h"

namespace fracture::detect {

namespace {
void check_last4(const torch::Tensor& x, const char* what) {
  FRACTURE_CHECK(x.dim() >= 1 && x.size(-1) == 4, what, ": expected boxes with last dimension 4, got shape ",
                 x.sizes());
}
}  // namespace

torch::Tensor xywh2xyxy(const torch::Tensor& x) {
  check_last4(x, "xywh2xyxy");
  auto c = x.narrow(-1, 0, 2);
  auto half = x.narrow(-1, 2, 2) / 2;
  return torch::cat({c - half, c + half}, -1);
}

torch::Tensor xyxy2xywh(const torch::Tensor& x) {
  check_last4(x, "xyxy2xywh");
  auto a = x.narrow(-1, 0, 2);
  auto b = x.narrow(-1, 2, 2);
  return torch::cat({(a + b) / 2, b - a}, -1);
}

torch::Tensor box_iou(const torch::Tensor& box1, const torch::Tensor& box2, double eps) {
  FRACTURE_CHECK(box1.dim() == 2 && box1.size(1) == 4 && box2.dim() == 2 && box2.size(1) == 4,
                 "box_iou: expected (N, 4) and (M, 4), got ", box1.sizes(), " and ", box2.sizes());
  auto a1 = box1.unsqueeze(1).narrow(-1, 0, 2), a2 = box1.unsqueeze(1).narrow(-1, 2, 2);  // (N, 1, 2)
  auto b1 = box2.unsqueeze(0).narrow(-1, 0, 2), b2 = box2.unsqueeze(0).narrow(-1, 2, 2);  // (1, M, 2)
  auto inter = (torch::min(a2, b2) - torch::max(a1, b1)).clamp_min(0).prod(2);           // (N, M)
  auto area1 = (a2 - a1).prod(2), area2 = (b2 - b1).prod(2);
  return inter / (area1 + area2 - inter + eps);
}

torch::Tensor bbox_iou(const torch::Tensor& box1, const torch::Tensor& box2, bool xywh, IouKind kind, double eps) {
  check_last4(box1, "bbox_iou box1");
  check_last4(box2, "bbox_iou box2");
  torch::Tensor b1x1, b1y1, b1x2, b1y2, b2x1, b2y1, b2x2, b2y2, w1, h1, w2, h2;
  auto col = [](const torch::Tensor& t, int64_t i) { return t.narrow(-1, i, 1); };
  if (xywh) {
    w1 = col(box1, 2);
    h1 = col(box1, 3);
    w2 = col(box2, 2);
    h2 = col(box2, 3);
    b1x1 = col(box1, 0) - w1 / 2;
    b1x2 = col(box1, 0) + w1 / 2;
    b1y1 = col(box1, 1) - h1 / 2;
    b1y2 = col(box1, 1) + h1 / 2;
    b2x1 = col(box2, 0) - w2 / 2;
    b2x2 = col(box2, 0) + w2 / 2;
    b2y1 = col(box2, 1) - h2 / 2;
    b2y2 = col(box2, 1) + h2 / 2;
  } else {
    b1x1 = col(box1, 0);
    b1y1 = col(box1, 1);
    b1x2 = col(box1, 2);
    b1y2 = col(box1, 3);
    b2x1 = col(box2, 0);
    b2y1 = col(box2, 1);
    b2x2 = col(box2, 2);
    b2y2 = col(box2, 3);
    w1 = b1x2 - b1x1;
    h1 = b1y2 - b1y1 + eps;
    w2 = b2x2 - b2x1;
    h2 = b2y2 - b2y1 + eps;
  }
  auto inter = (torch::min(b1x2, b2x2) - torch::max(b1x1, b2x1)).clamp_min(0) *
               (torch::min(b1y2, b2y2) - torch::max(b1y1, b2y1)).clamp_min(0);
  auto uni = w1 * h1 + w2 * h2 - inter + eps;
  auto iou = inter / uni;
  if (kind == IouKind::iou) return iou;
  auto cw = torch::max(b1x2, b2x2) - torch::min(b1x1, b2x1);  // enclosing box width
  auto ch = torch::max(b1y2, b2y2) - torch::min(b1y1, b2y1);  // enclosing box height
  if (kind == IouKind::giou) {
    auto c_area = cw * ch + eps;
    return iou - (c_area - uni) / c_area;
  }
  auto c2 = cw.pow(2) + ch.pow(2) + eps;  // enclosing diagonal squared
  auto rho2 = ((b2x1 + b2x2 - b1x1 - b1x2).pow(2) + (b2y1 + b2y2 - b1y1 - b1y2).pow(2)) / 4;  // centre distance^2
  if (kind == IouKind::diou) return iou - rho2 / c2;
  auto v = (4.0 / (M_PI * M_PI)) * (torch::atan(w2 / h2) - torch::atan(w1 / h1)).pow(2);
  torch::Tensor alpha;
  {
    torch::NoGradGuard no_grad;  // Ultralytics computes alpha without gradient
    alpha = v / (v - iou + (1 + eps));
  }
  return iou - (rho2 / c2 + v * alpha);
}

std::pair<torch::Tensor, torch::Tensor> make_anchors(const std::vector<torch::Tensor>& feats,
                                                     const std::vector<double>& strides, double offset) {
  FRACTURE_CHECK(!feats.empty() && feats.size() == strides.size(), "make_anchors: ", feats.size(),
                 " feature maps but ", strides.size(), " strides");
  std::vector<torch::Tensor> points, st;
  for (size_t i = 0; i < feats.size(); ++i) {
    FRACTURE_CHECK(feats[i].dim() == 4, "make_anchors: feature map ", i, " must be (B, C, H, W), got ",
                   feats[i].sizes());
    const int64_t h = feats[i].size(2), w = feats[i].size(3);
    auto opt = torch::TensorOptions().dtype(feats[i].dtype()).device(feats[i].device());
    auto sx = torch::arange(w, opt) + offset;
    auto sy = torch::arange(h, opt) + offset;
    auto grid = torch::meshgrid({sy, sx}, "ij");  // row-major: y outer, x inner
    points.push_back(torch::stack({grid[1], grid[0]}, -1).view({-1, 2}));
    st.push_back(torch::full({h * w, 1}, strides[i], opt));
  }
  return {torch::cat(points), torch::cat(st)};
}

torch::Tensor dist2bbox(const torch::Tensor& distance, const torch::Tensor& anchor_points, bool xywh, int64_t dim) {
  auto lt_rb = distance.chunk(2, dim);
  auto x1y1 = anchor_points - lt_rb[0];
  auto x2y2 = anchor_points + lt_rb[1];
  if (xywh) return torch::cat({(x1y1 + x2y2) / 2, x2y2 - x1y1}, dim);
  return torch::cat({x1y1, x2y2}, dim);
}

torch::Tensor bbox2dist(const torch::Tensor& anchor_points, const torch::Tensor& bbox, double reg_max) {
  auto x1y1 = bbox.narrow(-1, 0, 2), x2y2 = bbox.narrow(-1, 2, 2);
  return torch::cat({anchor_points - x1y1, x2y2 - anchor_points}, -1).clamp(0, reg_max - 0.01);
}

torch::Tensor dfl_decode(const torch::Tensor& x, int64_t reg_max) {
  FRACTURE_CHECK(x.dim() == 3 && x.size(1) == 4 * reg_max, "dfl_decode: expected (B, ", 4 * reg_max,
                 ", A), got ", x.sizes());
  const int64_t b = x.size(0), a = x.size(2);
  auto p = x.view({b, 4, reg_max, a}).softmax(2);                                     // (B, 4, 16, A)
  auto bins = torch::arange(reg_max, x.options()).view({1, 1, reg_max, 1});
  return (p * bins).sum(2);                                                            // (B, 4, A)
}

torch::Tensor clip_boxes(const torch::Tensor& boxes, int64_t height, int64_t width) {
  check_last4(boxes, "clip_boxes");
  auto x1 = boxes.narrow(-1, 0, 1).clamp(0, width), y1 = boxes.narrow(-1, 1, 1).clamp(0, height);
  auto x2 = boxes.narrow(-1, 2, 1).clamp(0, width), y2 = boxes.narrow(-1, 3, 1).clamp(0, height);
  return torch::cat({x1, y1, x2, y2}, -1);
}

torch::Tensor scale_boxes(int64_t h1, int64_t w1, const torch::Tensor& boxes, int64_t h0, int64_t w0) {
  check_last4(boxes, "scale_boxes");
  FRACTURE_CHECK(h0 > 0 && w0 > 0 && h1 > 0 && w1 > 0, "scale_boxes: image sizes must be positive");
  const double gain = std::min(static_cast<double>(h1) / h0, static_cast<double>(w1) / w0);
  const double pad_x = std::round((w1 - w0 * gain) / 2 - 0.1);
  const double pad_y = std::round((h1 - h0 * gain) / 2 - 0.1);
  auto pad = torch::tensor({pad_x, pad_y, pad_x, pad_y}, boxes.options());
  return clip_boxes((boxes - pad) / gain, h0, w0);
}

}  // namespace fracture::detect
