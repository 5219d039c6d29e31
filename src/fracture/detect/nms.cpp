// NMS; see nms.h.
#include "fracture/detect/nms.h"

#include <algorithm>
#include <numeric>

#include "fracture/core/error.h"
#include "fracture/detect/boxes.h"

namespace fracture::detect {

torch::Tensor nms(const torch::Tensor& boxes_in, const torch::Tensor& scores_in, double iou_thres, int64_t max_keep) {
  FRACTURE_CHECK(boxes_in.dim() == 2 && boxes_in.size(1) == 4, "nms: boxes must be (N, 4), got ", boxes_in.sizes());
  FRACTURE_CHECK(scores_in.dim() == 1 && scores_in.size(0) == boxes_in.size(0), "nms: scores must be (",
                 boxes_in.size(0), "), got ", scores_in.sizes());
  auto boxes = boxes_in.detach().to(torch::kCPU, torch::kDouble).contiguous();
  auto scores = scores_in.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t n = boxes.size(0);
  auto b = boxes.accessor<double, 2>();
  auto s = scores.accessor<double, 1>();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return s[i] > s[j]; });
  // Boxes in score order as separate arrays, so the inner loop is a plain vectorisable sweep.
  std::vector<double> x1(n), y1(n), x2(n), y2(n), area(n);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = order[k];
    x1[k] = b[i][0], y1[k] = b[i][1], x2[k] = b[i][2], y2[k] = b[i][3];
    area[k] = (x2[k] - x1[k]) * (y2[k] - y1[k]);
  }
  std::vector<uint8_t> removed(n, 0);
  std::vector<int64_t> keep;
  if (max_keep == 0) return torch::empty({0}, torch::TensorOptions().dtype(torch::kLong).device(boxes_in.device()));
  for (int64_t k = 0; k < n; ++k) {
    if (removed[k]) continue;
    keep.push_back(order[k]);
    // Kept boxes are final in score order, so the first max_keep are the answer: stop there
    // (turns the worst case, thousands of non-overlapping candidates, from O(n^2) into O(max_keep n)).
    if (max_keep >= 0 && int64_t(keep.size()) >= max_keep) break;
    const double ax1 = x1[k], ay1 = y1[k], ax2 = x2[k], ay2 = y2[k], aa = area[k];
    for (int64_t j = k + 1; j < n; ++j) {
      const double iw = std::max(0.0, std::min(ax2, x2[j]) - std::max(ax1, x1[j]));
      const double ih = std::max(0.0, std::min(ay2, y2[j]) - std::max(ay1, y1[j]));
      const double inter = iw * ih;
      const double uni = aa + area[j] - inter;
      const double iou = uni > 0 ? inter / uni : 0.0;
      removed[j] |= uint8_t(iou > iou_thres);
    }
  }
  return torch::tensor(keep, torch::kLong).to(boxes_in.device());
}

std::vector<torch::Tensor> non_max_suppression(const torch::Tensor& prediction, const NmsOptions& o) {
  FRACTURE_CHECK(prediction.dim() == 3 && prediction.size(1) > 4,
                 "non_max_suppression: expected (B, 4 + nc, A), got ", prediction.sizes());
  FRACTURE_CHECK(o.conf_thres >= 0 && o.conf_thres <= 1, "non_max_suppression: conf_thres must be in [0, 1], got ",
                 o.conf_thres);
  FRACTURE_CHECK(o.iou_thres >= 0 && o.iou_thres <= 1, "non_max_suppression: iou_thres must be in [0, 1], got ",
                 o.iou_thres);
  torch::NoGradGuard no_grad;
  const int64_t bs = prediction.size(0), nc = prediction.size(1) - 4;
  const bool multi_label = o.multi_label && nc > 1;
  auto pred = prediction.detach().to(torch::kFloat).transpose(1, 2);  // (B, A, 4 + nc)
  std::vector<torch::Tensor> out;
  for (int64_t bi = 0; bi < bs; ++bi) {
    auto x = pred[bi];
    auto cls = x.narrow(1, 4, nc);
    x = x.index({std::get<0>(cls.max(1)) > o.conf_thres});  // candidates
    torch::Tensor det = torch::zeros({0, 6}, x.options());
    if (x.size(0) > 0) {
      auto box = xywh2xyxy(x.narrow(1, 0, 4));
      cls = x.narrow(1, 4, nc);
      if (multi_label) {
        auto ij = torch::nonzero(cls > o.conf_thres);  // (K, 2): row, class
        auto i = ij.select(1, 0), j = ij.select(1, 1);
        det = torch::cat({box.index({i}), cls.index({i, j}).unsqueeze(1), j.unsqueeze(1).to(x.dtype())}, 1);
      } else {
        auto [conf, j] = cls.max(1, /*keepdim=*/true);
        det = torch::cat({box, conf, j.to(x.dtype())}, 1).index({conf.view(-1) > o.conf_thres});
      }
      if (!o.classes.empty() && det.size(0) > 0) {
        auto keep = torch::zeros({det.size(0)}, torch::TensorOptions().dtype(torch::kBool).device(det.device()));
        for (int64_t c : o.classes) keep = keep | (det.select(1, 5) == static_cast<double>(c));
        det = det.index({keep});
      }
      if (det.size(0) > o.max_nms) det = det.index({det.select(1, 4).argsort(0, true).narrow(0, 0, o.max_nms)});
      if (det.size(0) > 0) {
        auto offset = det.narrow(1, 5, 1) * (o.agnostic ? 0.0 : o.max_wh);  // class-aware in one pass
        auto keep = nms(det.narrow(1, 0, 4) + offset, det.select(1, 4), o.iou_thres, o.max_det);
        det = det.index({keep});
      }
    }
    out.push_back(det);
  }
  return out;
}

}  // namespace fracture::detect
