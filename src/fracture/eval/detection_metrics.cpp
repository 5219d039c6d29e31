// Detection metrics; see detection_metrics.h for the behaviour followed.
#include "fracture/eval/detection_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "fracture/core/error.h"

namespace fracture {

namespace {

constexpr double kEps = 1e-16;  // Ultralytics' eps in recall and F1
constexpr int kGrid = 1000;     // confidence / recall grid for curves

std::vector<double> linspace01(int n) {
  std::vector<double> x(n);
  const double step = 1.0 / (n - 1);
  for (int i = 0; i < n; ++i) x[i] = i * step;
  x[n - 1] = 1.0;
  return x;
}

double trapz(const std::vector<double>& y, const std::vector<double>& x) {
  double s = 0;
  for (size_t i = 0; i + 1 < x.size(); ++i) s += (x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2.0;
  return s;
}

// compute_ap that also returns the sentinel-padded envelope (mrec, mpre) for the PR plot.
double compute_ap_curve(const std::vector<double>& recall, const std::vector<double>& precision,
                        std::vector<double>* mrec_out, std::vector<double>* mpre_out) {
  FRACTURE_CHECK(recall.size() == precision.size(), "compute_ap: recall has ", recall.size(),
                 " points but precision has ", precision.size());
  std::vector<double> mrec, mpre;
  mrec.push_back(0.0);
  mpre.push_back(1.0);
  for (size_t i = 0; i < recall.size(); ++i) {
    mrec.push_back(recall[i]);
    mpre.push_back(precision[i]);
  }
  mrec.push_back(1.0);
  mpre.push_back(0.0);
  for (size_t i = mpre.size() - 1; i-- > 0;) mpre[i] = std::max(mpre[i], mpre[i + 1]);  // envelope
  std::vector<double> x(101), y(101);
  for (int i = 0; i <= 100; ++i) x[i] = i * 0.01;  // 101-point interp (COCO)
  x[100] = 1.0;
  for (int i = 0; i <= 100; ++i) y[i] = np_interp(x[i], mrec, mpre, mpre.front(), mpre.back());
  if (mrec_out) *mrec_out = mrec;
  if (mpre_out) *mpre_out = mpre;
  return trapz(y, x);
}

// Ultralytics smooth(y, f=0.1): box filter of odd width round(n * f * 2) // 2 + 1, edges padded
// with the end values.
std::vector<double> smooth(const std::vector<double>& y, double f) {
  const int n = static_cast<int>(y.size());
  const int nf = static_cast<int>(std::round(n * f * 2)) / 2 + 1;
  const int pad = nf / 2;
  std::vector<double> yp;
  yp.reserve(n + 2 * pad);
  for (int i = 0; i < pad; ++i) yp.push_back(y.front());
  for (double v : y) yp.push_back(v);
  for (int i = 0; i < pad; ++i) yp.push_back(y.back());
  std::vector<double> out(yp.size() - nf + 1);
  for (size_t k = 0; k < out.size(); ++k) {
    double s = 0;
    for (int j = 0; j < nf; ++j) s += yp[k + j];
    out[k] = s / nf;
  }
  return out;
}

void check_box(const BoxXyxy& b, const char* what, int64_t image, size_t index) {
  FRACTURE_CHECK(std::isfinite(b.x1) && std::isfinite(b.y1) && std::isfinite(b.x2) && std::isfinite(b.y2),
                 "DetectionMetrics: image ", image, " ", what, " ", index, ": box is not finite");
  FRACTURE_CHECK(b.x2 >= b.x1 && b.y2 >= b.y1, "DetectionMetrics: image ", image, " ", what, " ", index,
                 ": box must be xyxy with x2 >= x1 and y2 >= y1, got (", b.x1, ", ", b.y1, ", ", b.x2, ", ", b.y2,
                 ")");
}

// Greedy one-to-one matching by decreasing IoU over candidate (pred, gt) pairs.
struct Pair {
  double iou;
  int pred;
  int gt;
};
void sort_pairs(std::vector<Pair>& pairs) {
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
    if (a.iou != b.iou) return a.iou > b.iou;
    if (a.pred != b.pred) return a.pred < b.pred;
    return a.gt < b.gt;
  });
}

}  // namespace

std::array<double, kNumIouThresholds> iou_thresholds() {
  std::array<double, kNumIouThresholds> t{};
  for (int i = 0; i < kNumIouThresholds; ++i) t[i] = (50.0 + 5.0 * i) / 100.0;
  return t;
}

double box_iou(const BoxXyxy& a, const BoxXyxy& b) {
  const double iw = std::max(0.0, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
  const double ih = std::max(0.0, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
  const double inter = iw * ih;
  const double uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

std::vector<std::array<bool, kNumIouThresholds>> match_predictions(const std::vector<Prediction>& preds,
                                                                   const std::vector<GroundTruth>& gts) {
  std::vector<std::array<bool, kNumIouThresholds>> correct(preds.size());
  for (auto& row : correct) row.fill(false);
  if (preds.empty() || gts.empty()) return correct;
  // Same-class IoU (0 for different classes, as Ultralytics' iou * correct_class).
  std::vector<Pair> all;
  for (size_t p = 0; p < preds.size(); ++p)
    for (size_t g = 0; g < gts.size(); ++g)
      if (preds[p].cls == gts[g].cls) {
        const double iou = box_iou(preds[p].box, gts[g].box);
        if (iou > 0) all.push_back({iou, static_cast<int>(p), static_cast<int>(g)});
      }
  sort_pairs(all);
  const auto thr = iou_thresholds();
  for (int t = 0; t < kNumIouThresholds; ++t) {
    std::vector<bool> pred_used(preds.size(), false), gt_used(gts.size(), false);
    for (const Pair& pr : all) {
      if (pr.iou < thr[t]) break;  // sorted: the rest are below the threshold too
      if (pred_used[pr.pred] || gt_used[pr.gt]) continue;
      pred_used[pr.pred] = gt_used[pr.gt] = true;
      correct[pr.pred][t] = true;
    }
  }
  return correct;
}

double np_interp(double x, const std::vector<double>& xp, const std::vector<double>& fp, double left, double right) {
  FRACTURE_CHECK(!xp.empty() && xp.size() == fp.size(), "np_interp: xp and fp must be non-empty and equal in size");
  const size_t n = xp.size();
  if (x < xp[0]) return left;
  if (x > xp[n - 1]) return right;
  if (x == xp[n - 1]) return fp[n - 1];
  // Largest j with xp[j] <= x (so xp[j] <= x < xp[j + 1]).
  const size_t j = static_cast<size_t>(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
  if (x == xp[j]) return fp[j];
  const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
  return slope * (x - xp[j]) + fp[j];
}

double compute_ap(const std::vector<double>& recall, const std::vector<double>& precision) {
  return compute_ap_curve(recall, precision, nullptr, nullptr);
}

DetectionResults ap_per_class(const std::vector<std::array<bool, kNumIouThresholds>>& tp,
                              const std::vector<double>& conf, const std::vector<int>& pred_cls,
                              const std::vector<int>& target_cls, const std::vector<std::string>& names) {
  FRACTURE_CHECK(tp.size() == conf.size() && conf.size() == pred_cls.size(), "ap_per_class: tp (", tp.size(),
                 "), conf (", conf.size(), ") and pred_cls (", pred_cls.size(), ") must have the same length");
  const int nc = static_cast<int>(names.size());
  for (size_t i = 0; i < target_cls.size(); ++i)
    FRACTURE_CHECK(target_cls[i] >= 0 && target_cls[i] < nc, "ap_per_class: target_cls[", i, "] = ", target_cls[i],
                   " is outside [0, ", nc, ")");

  // Sort predictions by decreasing confidence (stable: ties keep their input order).
  std::vector<size_t> order(conf.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return conf[a] > conf[b]; });

  std::vector<int64_t> n_gt(nc, 0);
  for (int c : target_cls) n_gt[c]++;

  DetectionResults res;
  DetectionCurves& cv = res.curves;
  cv.conf_grid = linspace01(kGrid);
  cv.recall_grid = cv.conf_grid;
  res.n_gt = static_cast<int64_t>(target_cls.size());

  for (int c = 0; c < nc; ++c) {
    if (n_gt[c] == 0) continue;  // only classes with ground truth
    ClassResult cr;
    cr.cls = c;
    cr.name = names[c];
    cr.n_gt = n_gt[c];
    std::vector<double> p_curve(kGrid, 0.0), r_curve(kGrid, 0.0), pr(kGrid, 0.0);
    std::vector<size_t> idx;
    for (size_t k : order)
      if (pred_cls[k] == c) idx.push_back(k);
    cr.n_pred = static_cast<int64_t>(idx.size());
    cr.ap_iou.fill(0.0);
    if (!idx.empty()) {
      const size_t n = idx.size();
      std::vector<double> neg_conf(n);
      for (size_t i = 0; i < n; ++i) neg_conf[i] = -conf[idx[i]];  // increasing, for np_interp
      for (int t = 0; t < kNumIouThresholds; ++t) {
        std::vector<double> recall(n), precision(n);
        double tpc = 0, fpc = 0;
        for (size_t i = 0; i < n; ++i) {
          if (tp[idx[i]][t]) tpc += 1; else fpc += 1;
          recall[i] = tpc / (static_cast<double>(n_gt[c]) + kEps);
          FRACTURE_CHECK(tpc <= static_cast<double>(n_gt[c]), "ap_per_class: class ", c, " has more true positives at IoU ",
                         iou_thresholds()[t], " than its ", n_gt[c], " ground-truth boxes");
          precision[i] = tpc / (tpc + fpc);
        }
        std::vector<double> mrec, mpre;
        cr.ap_iou[t] = compute_ap_curve(recall, precision, &mrec, &mpre);
        if (t == 0) {
          for (int g = 0; g < kGrid; ++g) {
            r_curve[g] = np_interp(-cv.conf_grid[g], neg_conf, recall, 0.0, recall.back());
            p_curve[g] = np_interp(-cv.conf_grid[g], neg_conf, precision, 1.0, precision.back());
            pr[g] = np_interp(cv.recall_grid[g], mrec, mpre, mpre.front(), mpre.back());
          }
        }
      }
    }
    std::vector<double> f1_curve(kGrid);
    for (int g = 0; g < kGrid; ++g) f1_curve[g] = 2 * p_curve[g] * r_curve[g] / (p_curve[g] + r_curve[g] + kEps);
    cr.ap50 = cr.ap_iou[0];
    cr.ap = std::accumulate(cr.ap_iou.begin(), cr.ap_iou.end(), 0.0) / kNumIouThresholds;
    cv.precision.push_back(p_curve);
    cv.recall.push_back(r_curve);
    cv.f1.push_back(f1_curve);
    cv.pr_curve.push_back(pr);
    res.per_class.push_back(cr);
  }

  const size_t k = res.per_class.size();
  if (k == 0) return res;  // no ground truth at all: every metric stays 0, as Ultralytics
  std::vector<double> mean_f1(kGrid, 0.0);
  for (size_t c = 0; c < k; ++c)
    for (int g = 0; g < kGrid; ++g) mean_f1[g] += cv.f1[c][g] / static_cast<double>(k);
  const std::vector<double> sm = smooth(mean_f1, 0.1);
  const int best = static_cast<int>(std::max_element(sm.begin(), sm.end()) - sm.begin());  // first max
  res.conf_at_best_f1 = cv.conf_grid[best];
  for (size_t c = 0; c < k; ++c) {
    ClassResult& cr = res.per_class[c];
    cr.p = cv.precision[c][best];
    cr.r = cv.recall[c][best];
    cr.f1 = cv.f1[c][best];
    res.mp += cr.p / k;
    res.mr += cr.r / k;
    res.map50 += cr.ap_iou[0] / k;
    res.map75 += cr.ap_iou[5] / k;
    res.map += cr.ap / k;
  }
  return res;
}

DetectionConfusion::DetectionConfusion(int nc_, double conf_thres_, double iou_thres_)
    : nc(nc_), conf_thres(conf_thres_), iou_thres(iou_thres_) {
  FRACTURE_CHECK(nc_ > 0, "DetectionConfusion: nc must be positive, got ", nc_);
  matrix.assign(nc + 1, std::vector<int64_t>(nc + 1, 0));
}

void DetectionConfusion::process_batch(const std::vector<Prediction>& preds_in, const std::vector<GroundTruth>& gts) {
  std::vector<Prediction> preds;
  for (const auto& p : preds_in)
    if (p.conf > conf_thres) preds.push_back(p);
  std::vector<Pair> pairs;  // class-agnostic
  for (size_t p = 0; p < preds.size(); ++p)
    for (size_t g = 0; g < gts.size(); ++g) {
      const double iou = box_iou(preds[p].box, gts[g].box);
      if (iou > iou_thres) pairs.push_back({iou, static_cast<int>(p), static_cast<int>(g)});
    }
  sort_pairs(pairs);
  std::vector<int> gt_match(gts.size(), -1);
  std::vector<bool> pred_used(preds.size(), false);
  for (const Pair& pr : pairs) {
    if (pred_used[pr.pred] || gt_match[pr.gt] >= 0) continue;
    pred_used[pr.pred] = true;
    gt_match[pr.gt] = pr.pred;
  }
  for (size_t g = 0; g < gts.size(); ++g) {
    if (gt_match[g] >= 0) matrix[preds[gt_match[g]].cls][gts[g].cls]++;  // right or wrong class
    else matrix[nc][gts[g].cls]++;                                         // missed: background
  }
  for (size_t p = 0; p < preds.size(); ++p)
    if (!pred_used[p]) matrix[preds[p].cls][nc]++;  // false alarm on background
}

DetectionMetrics::DetectionMetrics(std::vector<std::string> names)
    : names_(std::move(names)), confusion_(static_cast<int>(names_.empty() ? 1 : names_.size())) {
  FRACTURE_CHECK(!names_.empty(), "DetectionMetrics: at least one class name is needed");
}

void DetectionMetrics::update(const std::vector<Prediction>& preds, const std::vector<GroundTruth>& gts) {
  const int nc = static_cast<int>(names_.size());
  for (size_t i = 0; i < preds.size(); ++i) {
    check_box(preds[i].box, "prediction", n_images_, i);
    FRACTURE_CHECK(preds[i].cls >= 0 && preds[i].cls < nc, "DetectionMetrics: image ", n_images_, " prediction ", i,
                   ": class ", preds[i].cls, " is outside [0, ", nc, ")");
    FRACTURE_CHECK(preds[i].conf >= 0 && preds[i].conf <= 1, "DetectionMetrics: image ", n_images_, " prediction ",
                   i, ": confidence must be in [0, 1], got ", preds[i].conf);
  }
  for (size_t i = 0; i < gts.size(); ++i) {
    check_box(gts[i].box, "ground truth", n_images_, i);
    FRACTURE_CHECK(gts[i].cls >= 0 && gts[i].cls < nc, "DetectionMetrics: image ", n_images_, " ground truth ", i,
                   ": class ", gts[i].cls, " is outside [0, ", nc, ")");
  }
  auto correct = match_predictions(preds, gts);
  for (size_t i = 0; i < preds.size(); ++i) {
    tp_.push_back(correct[i]);
    conf_.push_back(preds[i].conf);
    pred_cls_.push_back(preds[i].cls);
  }
  for (const auto& g : gts) target_cls_.push_back(g.cls);
  confusion_.process_batch(preds, gts);
  n_images_++;
}

DetectionResults DetectionMetrics::compute() const {
  DetectionResults r = ap_per_class(tp_, conf_, pred_cls_, target_cls_, names_);
  r.n_images = n_images_;
  return r;
}

}  // namespace fracture
