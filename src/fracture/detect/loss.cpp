// YOLOv8 detection loss with Ultralytics v8DetectionLoss / BboxLoss semantics; see loss.h.
#include "fracture/detect/loss.h"

#include <torch/torch.h>

#include <tuple>

#include "fracture/core/error.h"
#include "fracture/detect/boxes.h"

namespace fracture::detect {

torch::Tensor dfl_loss(const torch::Tensor& pred_dist, const torch::Tensor& target) {
  FRACTURE_CHECK(pred_dist.dim() == 3 && pred_dist.size(1) == 4, "dfl_loss: pred_dist must be (N, 4, reg_max), got ",
                 pred_dist.sizes());
  FRACTURE_CHECK(target.dim() == 2 && target.size(0) == pred_dist.size(0) && target.size(1) == 4,
                 "dfl_loss: target must be (", pred_dist.size(0), ", 4), got ", target.sizes());
  const int64_t bins = pred_dist.size(2);
  auto t = target.to(pred_dist.dtype());
  auto tl = t.to(torch::kLong);  // floor for t >= 0
  FRACTURE_CHECK(t.numel() == 0 || (tl.min().item<int64_t>() >= 0 && tl.max().item<int64_t>() < bins - 1),
                 "dfl_loss: targets must lie in [0, ", bins - 1, "), clamp them to ", bins - 1, " - 0.01 first");
  auto tr = tl + 1;
  auto wl = tr.to(t.dtype()) - t;
  auto wr = 1 - wl;
  auto logp = pred_dist.log_softmax(-1);                             // (N, 4, bins)
  auto ce_l = -logp.gather(-1, tl.unsqueeze(-1)).squeeze(-1);        // (N, 4)
  auto ce_r = -logp.gather(-1, tr.unsqueeze(-1)).squeeze(-1);        // (N, 4)
  return (ce_l * wl + ce_r * wr).mean(-1, true);                     // (N, 1)
}

torch::Tensor build_targets(const torch::Tensor& targets, int64_t batch_size, int64_t imgsz_h, int64_t imgsz_w) {
  FRACTURE_CHECK(targets.dim() == 2 && targets.size(1) == 6,
                 "detection loss: targets must be (N, 6) [batch_index, class, cx, cy, w, h], got ", targets.sizes());
  FRACTURE_CHECK(imgsz_h > 0 && imgsz_w > 0, "detection loss: image size must be positive, got ", imgsz_h, " x ",
                 imgsz_w);
  auto t = targets.is_floating_point() ? targets : targets.to(torch::kFloat);  // float32 or float64 math
  const int64_t n = t.size(0);
  if (n == 0) return torch::zeros({batch_size, 0, 5}, t.options());
  auto img = t.select(1, 0).round().to(torch::kLong);
  const int64_t lo = img.min().item<int64_t>(), hi = img.max().item<int64_t>();
  FRACTURE_CHECK(lo >= 0 && hi < batch_size, "detection loss: target batch_index must be in [0, ", batch_size,
                 "), got values in [", lo, ", ", hi, "]");
  auto counts = torch::bincount(img, {}, batch_size);                 // (B)
  const int64_t m = counts.max().item<int64_t>();
  auto sorted = torch::sort(img, /*stable=*/true, 0, false);         // keeps the row order within an image
  auto sidx = std::get<0>(sorted), perm = std::get<1>(sorted);
  auto starts = counts.cumsum(0) - counts;                            // first row of each image in the sorted order
  auto pos = torch::arange(n, sidx.options()) - starts.index_select(0, sidx);
  auto out = torch::zeros({batch_size, m, 5}, t.options());
  out.index_put_({sidx, pos}, t.index_select(0, perm).narrow(1, 1, 5));
  auto scale = torch::tensor({static_cast<double>(imgsz_w), static_cast<double>(imgsz_h),
                              static_cast<double>(imgsz_w), static_cast<double>(imgsz_h)}).to(t.options());
  auto boxes = xywh2xyxy(out.narrow(-1, 1, 4) * scale);               // padding rows stay all 0
  return torch::cat({out.narrow(-1, 0, 1), boxes}, -1);               // (B, M, 5) [cls, x1, y1, x2, y2] pixels
}

DetectionLoss::DetectionLoss(int64_t nc, std::vector<double> strides, DetectionLossOptions options)
    : nc_(nc), strides_(std::move(strides)), opt_(options) {
  FRACTURE_CHECK(nc_ > 0, "DetectionLoss: nc must be positive, got ", nc_);
  FRACTURE_CHECK(!strides_.empty(), "DetectionLoss: at least one stride is needed");
  FRACTURE_CHECK(opt_.reg_max >= 2, "DetectionLoss: reg_max must be at least 2, got ", opt_.reg_max);
}

namespace {
// The pieces of the raw maps every step needs. B images, A anchors, R bins.
struct Decoded {
  torch::Tensor x;              // (B, 4R + nc, A) raw maps flattened and concatenated
  torch::Tensor pred_scores;    // (B, A, nc) class logits
  torch::Tensor pred_bboxes;    // (B, A, 4) xyxy grid units (decoded from the DFL distribution)
  torch::Tensor anchor_points;  // (A, 2) cell centres, grid units
  torch::Tensor stride_tensor;  // (A, 1)
};
}  // namespace

static Decoded decode(const std::vector<torch::Tensor>& feats, const std::vector<double>& strides, int64_t nc,
                      int64_t R) {
  const int64_t no = 4 * R + nc;
  FRACTURE_CHECK(feats.size() == strides.size(), "DetectionLoss: got ", feats.size(), " feature maps for ",
                 strides.size(), " strides");
  FRACTURE_CHECK(feats[0].dim() == 4, "DetectionLoss: feature map 0 must be (B, ", no, ", H, W), got ",
                 feats[0].sizes());
  const int64_t B = feats[0].size(0);
  std::vector<torch::Tensor> flat;
  for (size_t i = 0; i < feats.size(); ++i) {
    FRACTURE_CHECK(feats[i].dim() == 4 && feats[i].size(0) == B && feats[i].size(1) == no, "DetectionLoss: feature map ",
                   i, " must be (", B, ", ", no, " = 4 * reg_max + nc, H, W), got ", feats[i].sizes());
    flat.push_back(feats[i].reshape({B, no, -1}));
  }
  Decoded d;
  d.x = torch::cat(flat, 2);
  d.pred_scores = d.x.narrow(1, 4 * R, nc).permute({0, 2, 1});
  std::tie(d.anchor_points, d.stride_tensor) = make_anchors(feats, strides, 0.5);
  auto pred_dist = dfl_decode(d.x.narrow(1, 0, 4 * R), R).permute({0, 2, 1});  // (B, A, 4) l, t, r, b grid units
  d.pred_bboxes = dist2bbox(pred_dist, d.anchor_points, false, -1);
  return d;
}

static Assignment assign_decoded(const Decoded& d, const torch::Tensor& targets, int64_t imgsz_h, int64_t imgsz_w,
                                 int64_t nc, const TaskAlignedOptions& opt) {
  const int64_t B = d.x.size(0);
  const auto tdt = d.x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;  // box math in >= float32
  auto gt = build_targets(targets.to(d.x.device(), tdt), B, imgsz_h, imgsz_w);  // (B, M, 5)
  auto gt_labels = gt.narrow(-1, 0, 1), gt_bboxes = gt.narrow(-1, 1, 4);
  auto mask_gt = gt_bboxes.sum(-1, true).gt(0);  // (B, M, 1)
  if (gt.size(1) > 0) {
    auto cls = gt_labels.masked_select(mask_gt);
    if (cls.numel() > 0)
      FRACTURE_CHECK(cls.min().item<float>() >= 0 && cls.max().item<float>() < nc, "DetectionLoss: target classes must be in [0, ",
                     nc, "), got values in [", cls.min().item<float>(), ", ", cls.max().item<float>(), "]");
  }
  return task_aligned_assign(d.pred_scores.detach().sigmoid(), d.pred_bboxes.detach() * d.stride_tensor,
                             d.anchor_points * d.stride_tensor, gt_labels, gt_bboxes, mask_gt, opt);
}

static LossOutput loss_from(const Decoded& d, const Assignment& as, const DetectionLossOptions& opt) {
  const int64_t B = d.x.size(0), A = d.x.size(2), nc = d.pred_scores.size(2), R = opt.reg_max;
  FRACTURE_CHECK(as.target_scores.dim() == 3 && as.target_scores.size(0) == B && as.target_scores.size(1) == A &&
                     as.target_scores.size(2) == nc,
                 "DetectionLoss: assignment for (", B, ", ", A, ", ", nc, ") expected, got target_scores ",
                 as.target_scores.sizes());
  auto target_scores = as.target_scores.to(d.x.dtype());
  auto raw_sum = target_scores.sum();
  auto target_scores_sum = raw_sum.clamp_min(1);
  auto loss_cls = torch::binary_cross_entropy_with_logits(d.pred_scores, target_scores, {}, {}, at::Reduction::None).sum() /
                  target_scores_sum;
  auto zero = torch::zeros({}, d.x.options());
  torch::Tensor loss_box = zero, loss_dfl = zero;
  auto fg_idx = as.fg_mask.reshape({-1}).nonzero().squeeze(-1);  // indices into B * A
  const int64_t num_fg = fg_idx.numel();
  if (num_fg > 0) {
    auto weight = target_scores.sum(-1).reshape({-1}).index_select(0, fg_idx).unsqueeze(-1);               // (F, 1)
    auto tb = (as.target_bboxes.to(d.x.dtype()) / d.stride_tensor).reshape({-1, 4}).index_select(0, fg_idx);  // (F, 4) grid
    auto pb = d.pred_bboxes.reshape({-1, 4}).index_select(0, fg_idx);                                       // (F, 4)
    auto iou = bbox_iou(pb, tb, false, IouKind::ciou);                                                    // (F, 1)
    loss_box = ((1.0 - iou) * weight).sum() / target_scores_sum;
    auto ap = d.anchor_points.unsqueeze(0).expand({B, -1, -1}).reshape({-1, 2}).index_select(0, fg_idx);  // (F, 2)
    auto ltrb = bbox2dist(ap, tb, static_cast<double>(R - 1));                                           // (F, 4) [0, R-1.01]
    auto pd = d.x.narrow(1, 0, 4 * R).permute({0, 2, 1}).reshape({-1, 4 * R}).index_select(0, fg_idx).view({-1, 4, R});
    loss_dfl = (dfl_loss(pd, ltrb) * weight).sum() / target_scores_sum;
  }
  loss_box = loss_box * opt.box;
  loss_cls = loss_cls * opt.cls;
  loss_dfl = loss_dfl * opt.dfl;
  LossOutput out;
  out.total = (loss_box + loss_cls + loss_dfl) * static_cast<double>(B);
  out.items = torch::stack({loss_box, loss_cls, loss_dfl}).detach();
  out.num_fg = num_fg;
  out.target_scores_sum = raw_sum.item<double>();
  return out;
}

Assignment DetectionLoss::assign(const std::vector<torch::Tensor>& feats, const torch::Tensor& targets, int64_t imgsz_h,
                                 int64_t imgsz_w) const {
  torch::NoGradGuard no_grad;
  return assign_decoded(decode(feats, strides_, nc_, opt_.reg_max), targets, imgsz_h, imgsz_w, nc_, opt_.assigner);
}

LossOutput DetectionLoss::with_assignment(const std::vector<torch::Tensor>& feats, const Assignment& assignment) const {
  return loss_from(decode(feats, strides_, nc_, opt_.reg_max), assignment, opt_);
}

LossOutput DetectionLoss::operator()(const std::vector<torch::Tensor>& feats, const torch::Tensor& targets,
                                     int64_t imgsz_h, int64_t imgsz_w) const {
  auto d = decode(feats, strides_, nc_, opt_.reg_max);
  auto as = assign_decoded(d, targets, imgsz_h, imgsz_w, nc_, opt_.assigner);
  return loss_from(d, as, opt_);
}

}  // namespace fracture::detect
