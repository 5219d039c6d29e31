// TaskAlignedAssigner (TOOD, Feng et al. 2021) with Ultralytics' semantics (utils/tal.py); see loss.h.
// Everything is batched tensor code over (B, M, A): no loop over anchors or boxes.
#include <torch/torch.h>

#include "fracture/core/error.h"
#include "fracture/detect/boxes.h"
#include "fracture/detect/loss.h"

namespace fracture::detect {

Assignment task_aligned_assign(const torch::Tensor& pd_scores, const torch::Tensor& pd_bboxes,
                               const torch::Tensor& anchor_points, const torch::Tensor& gt_labels,
                               const torch::Tensor& gt_bboxes, const torch::Tensor& mask_gt,
                               const TaskAlignedOptions& options) {
  torch::NoGradGuard no_grad;
  FRACTURE_CHECK(pd_scores.dim() == 3, "task_aligned_assign: pd_scores must be (B, A, nc), got ", pd_scores.sizes());
  const int64_t B = pd_scores.size(0), A = pd_scores.size(1), C = pd_scores.size(2);
  FRACTURE_CHECK(pd_bboxes.dim() == 3 && pd_bboxes.size(0) == B && pd_bboxes.size(1) == A && pd_bboxes.size(2) == 4,
                 "task_aligned_assign: pd_bboxes must be (", B, ", ", A, ", 4), got ", pd_bboxes.sizes());
  FRACTURE_CHECK(anchor_points.dim() == 2 && anchor_points.size(0) == A && anchor_points.size(1) == 2,
                 "task_aligned_assign: anchor_points must be (", A, ", 2), got ", anchor_points.sizes());
  FRACTURE_CHECK(gt_bboxes.dim() == 3 && gt_bboxes.size(0) == B && gt_bboxes.size(2) == 4,
                 "task_aligned_assign: gt_bboxes must be (", B, ", M, 4), got ", gt_bboxes.sizes());
  const int64_t M = gt_bboxes.size(1);
  FRACTURE_CHECK(gt_labels.dim() == 3 && gt_labels.size(0) == B && gt_labels.size(1) == M && gt_labels.size(2) == 1,
                 "task_aligned_assign: gt_labels must be (", B, ", ", M, ", 1), got ", gt_labels.sizes());
  FRACTURE_CHECK(mask_gt.dim() == 3 && mask_gt.size(0) == B && mask_gt.size(1) == M && mask_gt.size(2) == 1,
                 "task_aligned_assign: mask_gt must be (", B, ", ", M, ", 1), got ", mask_gt.sizes());
  FRACTURE_CHECK(options.topk > 0, "task_aligned_assign: topk must be positive, got ", options.topk);
  const auto dev = pd_scores.device();
  auto long_opt = torch::TensorOptions().dtype(torch::kLong).device(dev);

  if (M == 0) {  // no ground truth anywhere in the batch: everything is background
    return {torch::zeros({B, A}, long_opt), torch::zeros_like(pd_bboxes), torch::zeros_like(pd_scores),
            torch::zeros({B, A}, long_opt.dtype(torch::kBool)), torch::zeros({B, A}, long_opt)};
  }

  auto gtb = gt_bboxes.to(pd_bboxes.dtype());
  auto valid_gt = mask_gt.to(torch::kBool);  // (B, M, 1)
  auto labels = gt_labels.squeeze(-1).to(torch::kLong);  // (B, M)
  {
    auto real = labels.masked_select(valid_gt.squeeze(-1));
    if (real.numel() > 0) {
      const int64_t lo = real.min().item<int64_t>(), hi = real.max().item<int64_t>();
      FRACTURE_CHECK(lo >= 0 && hi < C, "task_aligned_assign: ground-truth class must be in [0, ", C,
                     "), got classes in [", lo, ", ", hi, "]");
    }
  }
  labels = labels.clamp(0, C - 1);  // padding rows carry 0 (Ultralytics); keep gather in range

  // 1. Candidates: anchor centre strictly inside the box (smallest distance to a side > eps).
  auto ap = anchor_points.to(gtb.dtype()).view({1, 1, A, 2});
  auto lt = gtb.narrow(-1, 0, 2).unsqueeze(2), rb = gtb.narrow(-1, 2, 2).unsqueeze(2);  // (B, M, 1, 2)
  auto deltas = torch::cat({ap - lt, rb - ap}, -1);                                       // (B, M, A, 4)
  auto mask_in_gts = deltas.amin(-1).gt(options.eps);                                     // (B, M, A)
  auto cand = mask_in_gts & valid_gt;                                                      // (B, M, A)

  // 2. Alignment metric over candidates: score[gt class]^alpha * CIoU(gt, pred).clamp(0)^beta.
  auto scores = torch::gather(pd_scores.transpose(1, 2), 1, labels.unsqueeze(-1).expand({B, M, A}));  // (B, M, A)
  auto zero = torch::zeros({}, pd_scores.options());
  auto bbox_scores = torch::where(cand, scores, zero);
  auto ciou = bbox_iou(gtb.unsqueeze(2), pd_bboxes.unsqueeze(1), false, IouKind::ciou).squeeze(-1);  // (B, M, A)
  auto overlaps = torch::where(cand, ciou.clamp_min(0).to(pd_scores.dtype()), zero);
  auto align = bbox_scores.pow(options.alpha) * overlaps.pow(options.beta);  // (B, M, A)

  // 3. Top-k anchors per GT by metric (ties: torch::topk's order). Padding GTs select nothing. An
  //    anchor picked twice (only possible for padding rows, index 0) is dropped as Ultralytics does.
  const int64_t k = std::min<int64_t>(options.topk, A);
  auto topk_idx = std::get<1>(align.topk(k, -1, true, true));            // (B, M, k)
  topk_idx = topk_idx.masked_fill(~valid_gt.expand({B, M, k}), 0);
  auto count = torch::zeros({B, M, A}, long_opt.dtype(torch::kInt));
  count.scatter_add_(-1, topk_idx.to(torch::kLong), torch::ones({B, M, k}, long_opt.dtype(torch::kInt)));
  auto mask_pos = count.eq(1) & cand;  // (B, M, A)

  // 4. An anchor positive for several GTs keeps the GT with the largest overlap (CIoU) among all GTs
  //    (argmax, first on ties), as Ultralytics select_highest_overlaps.
  auto multi = mask_pos.sum(1).gt(1);  // (B, A)
  auto max_gt = overlaps.argmax(1);    // (B, A)
  auto is_max = torch::one_hot(max_gt, M).transpose(1, 2).to(torch::kBool);  // (B, M, A)
  mask_pos = torch::where(multi.unsqueeze(1), is_max, mask_pos);
  auto fg_mask = mask_pos.any(1);                                    // (B, A)
  auto target_gt_idx = mask_pos.to(torch::kFloat).argmax(1);         // (B, A), 0 for background

  // 5. Targets of the assigned GT.
  auto target_labels = torch::gather(labels, 1, target_gt_idx).masked_fill(~fg_mask, 0);            // (B, A)
  auto target_bboxes = torch::gather(gtb, 1, target_gt_idx.unsqueeze(-1).expand({B, A, 4}));          // (B, A, 4)
  auto target_scores = torch::one_hot(target_labels, C).to(pd_scores.dtype()) * fg_mask.unsqueeze(-1);  // (B, A, C)

  // 6. Soft targets: metric * (GT's max overlap over its positives) / (GT's max metric + eps),
  //    then per anchor the max over GTs.
  auto posf = mask_pos.to(pd_scores.dtype());
  auto align_pos = align * posf;
  auto pos_align_max = align_pos.amax(-1, true);         // (B, M, 1)
  auto pos_ov_max = (overlaps * posf).amax(-1, true);    // (B, M, 1)
  auto norm = (align_pos * pos_ov_max / (pos_align_max + options.eps)).amax(1).unsqueeze(-1);  // (B, A, 1)
  target_scores = target_scores * norm;

  return {target_labels, target_bboxes, target_scores, fg_mask, target_gt_idx};
}

}  // namespace fracture::detect
