// Detection metrics; see detection_metrics.h for the behaviour followed.
#include "fracture/eval/detection_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
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

// A candidate (prediction, ground truth) pair and its IoU.
struct Pair {
  double iou;
  int pred;
  int gt;
};

// numpy's `iou.argsort()[::-1]`, as Ultralytics orders candidate pairs: ascending (stable, as
// numpy's sort is for the small arrays of one image), then reversed, so among equal IoUs the later
// pair comes first.
void sort_by_iou_desc(std::vector<Pair>& v) {
  std::stable_sort(v.begin(), v.end(), [](const Pair& a, const Pair& b) { return a.iou < b.iou; });
  std::reverse(v.begin(), v.end());
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
  return inter / (uni + 1e-7);  // Ultralytics' box_iou: eps 1e-7 in the denominator (0 for an empty union)
}

MatchRule parse_match_rule(const std::string& name) {
  if (name == "ultralytics") return MatchRule::ultralytics;
  if (name == "coco") return MatchRule::coco;
  if (name == "hungarian") return MatchRule::hungarian;
  FRACTURE_FAIL("config key 'matching' must be ultralytics, coco or hungarian, got '", name, "'");
}

const char* to_string(MatchRule rule) {
  switch (rule) {
    case MatchRule::coco: return "coco";
    case MatchRule::hungarian: return "hungarian";
    case MatchRule::ultralytics: break;
  }
  return "ultralytics";
}

namespace {

// iou[g][p]: same-class IoU, 0 for different classes (Ultralytics multiplies by correct_class).
std::vector<std::vector<double>> class_iou(const std::vector<Prediction>& preds, const std::vector<GroundTruth>& gts) {
  std::vector<std::vector<double>> iou(gts.size(), std::vector<double>(preds.size(), 0.0));
  for (size_t g = 0; g < gts.size(); ++g)
    for (size_t p = 0; p < preds.size(); ++p)
      if (preds[p].cls == gts[g].cls) iou[g][p] = box_iou(preds[p].box, gts[g].box);
  return iou;
}

// Ultralytics 8.1.0 DetectionValidator.match_predictions, default (non-scipy) path, at one threshold:
//   1. candidates (label, detection) with IoU >= t, in np.nonzero's row-major order;
//   2. sorted by IoU, highest first (argsort()[::-1]: ascending then reversed, so among equal IoUs
//      the later candidate comes first; numpy's default sort is not stable beyond 16 elements, so
//      exact IoU ties between different pairs may order differently there: not seen in practice);
//   3. np.unique(detections, return_index=True) keeps each detection's first (best-IoU) candidate
//      and returns them ORDERED BY DETECTION INDEX;
//   4. np.unique(labels, return_index=True) on that list keeps, for each label, the candidate that
//      comes first, i.e. the one with the LOWEST DETECTION INDEX (the highest confidence after NMS),
//      not the highest IoU. A detection whose best label went to another keeps no match.
void match_ultralytics(const std::vector<std::vector<double>>& iou, double t, std::vector<bool>& tp) {
  std::vector<Pair> cand;  // Pair{iou, pred, gt}
  for (size_t g = 0; g < iou.size(); ++g)
    for (size_t p = 0; p < iou[g].size(); ++p)
      if (iou[g][p] >= t) cand.push_back({iou[g][p], static_cast<int>(p), static_cast<int>(g)});
  if (cand.empty()) return;
  sort_by_iou_desc(cand);  // step 2
  // Step 3: each detection's first candidate, in detection order.
  std::vector<int> first_of_pred(tp.size(), -1);
  for (size_t k = 0; k < cand.size(); ++k)
    if (first_of_pred[cand[k].pred] < 0) first_of_pred[cand[k].pred] = static_cast<int>(k);
  // Step 4: walking detections in index order, each label keeps the first it meets.
  std::vector<bool> label_taken(iou.size(), false);
  for (size_t p = 0; p < tp.size(); ++p) {
    if (first_of_pred[p] < 0) continue;
    const Pair& c = cand[first_of_pred[p]];
    if (label_taken[c.gt]) continue;
    label_taken[c.gt] = true;
    tp[p] = true;
  }
}

// COCO (pycocotools COCOeval.evaluateImg, per category, without crowd or area ranges): detections
// in order of decreasing confidence (a stable sort, as its mergesort) each take the still-unmatched
// ground truth of their class with the highest IoU, if that IoU reaches t; among equal IoUs the later
// ground truth wins (its loop skips only IoUs below the best so far).
void match_coco(const std::vector<Prediction>& preds, const std::vector<std::vector<double>>& iou, double t,
                std::vector<bool>& tp) {
  std::vector<size_t> order(preds.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return preds[a].conf > preds[b].conf; });
  std::vector<bool> gt_used(iou.size(), false);
  for (size_t p : order) {
    int best = -1;
    double best_iou = std::min(t, 1 - 1e-10);
    for (size_t g = 0; g < iou.size(); ++g) {
      if (gt_used[g] || iou[g][p] <= 0 || iou[g][p] < best_iou) continue;  // 0: another class
      best_iou = iou[g][p];
      best = static_cast<int>(g);
    }
    if (best >= 0) {
      gt_used[best] = true;
      tp[p] = true;
    }
  }
}

// Maximum-weight assignment (Hungarian / Kuhn-Munkres, O(n^2 m) with potentials) of rows to
// columns of w (n rows <= m columns, weights >= 0): returns col_of_row. Maximises the sum of w.
std::vector<int> max_weight_assignment(const std::vector<std::vector<double>>& w) {
  const size_t n = w.size(), m = n ? w[0].size() : 0;
  const double inf = std::numeric_limits<double>::infinity();
  // Minimise cost = -w; 1-based arrays as in the classic formulation.
  std::vector<double> u(n + 1, 0), v(m + 1, 0);
  std::vector<size_t> row_of_col(m + 1, 0), way(m + 1, 0);
  for (size_t i = 1; i <= n; ++i) {
    row_of_col[0] = i;
    size_t j0 = 0;
    std::vector<double> minv(m + 1, inf);
    std::vector<bool> used(m + 1, false);
    do {
      used[j0] = true;
      const size_t i0 = row_of_col[j0];
      double delta = inf;
      size_t j1 = 0;
      for (size_t j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double cur = -w[i0 - 1][j - 1] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (size_t j = 0; j <= m; ++j) {
        if (used[j]) {
          u[row_of_col[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (row_of_col[j0] != 0);
    do {
      const size_t j1 = way[j0];
      row_of_col[j0] = row_of_col[j1];
      j0 = j1;
    } while (j0);
  }
  std::vector<int> col_of_row(n, -1);
  for (size_t j = 1; j <= m; ++j)
    if (row_of_col[j]) col_of_row[row_of_col[j] - 1] = static_cast<int>(j - 1);
  return col_of_row;
}

// Optimal assignment (Ultralytics' use_scipy path: scipy linear_sum_assignment maximising the sum
// of IoU over the pairs that reach t, pairs of weight 0 dropped afterwards).
void match_hungarian(const std::vector<std::vector<double>>& iou, double t, std::vector<bool>& tp) {
  const size_t ng = iou.size(), np_ = tp.size();
  const bool rows_are_gts = ng <= np_;
  std::vector<std::vector<double>> w(rows_are_gts ? ng : np_, std::vector<double>(rows_are_gts ? np_ : ng, 0.0));
  bool any = false;
  for (size_t g = 0; g < ng; ++g)
    for (size_t p = 0; p < np_; ++p) {
      const double x = iou[g][p] >= t ? iou[g][p] : 0.0;
      any = any || x > 0;
      (rows_are_gts ? w[g][p] : w[p][g]) = x;
    }
  if (!any) return;
  const std::vector<int> col = max_weight_assignment(w);
  for (size_t r = 0; r < col.size(); ++r) {
    if (col[r] < 0 || w[r][col[r]] <= 0) continue;
    tp[rows_are_gts ? col[r] : r] = true;
  }
}

}  // namespace

std::vector<std::array<bool, kNumIouThresholds>> match_predictions(const std::vector<Prediction>& preds,
                                                                   const std::vector<GroundTruth>& gts,
                                                                   MatchRule rule) {
  std::vector<std::array<bool, kNumIouThresholds>> correct(preds.size());
  for (auto& row : correct) row.fill(false);
  if (preds.empty() || gts.empty()) return correct;
  const auto iou = class_iou(preds, gts);
  const auto thr = iou_thresholds();
  for (int t = 0; t < kNumIouThresholds; ++t) {
    std::vector<bool> tp(preds.size(), false);
    switch (rule) {
      case MatchRule::ultralytics: match_ultralytics(iou, thr[t], tp); break;
      case MatchRule::coco: match_coco(preds, iou, thr[t], tp); break;
      case MatchRule::hungarian: match_hungarian(iou, thr[t], tp); break;
    }
    for (size_t p = 0; p < preds.size(); ++p) correct[p][t] = tp[p];
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

// Ultralytics 8.1.0 ConfusionMatrix.process_batch for detection, step by step: predictions with
// conf > conf_thres; class-agnostic candidates with IoU > iou_thres; sorted by IoU (highest first),
// one per detection (its best), re-sorted by IoU, one per label (its best remaining). A label with a
// match counts matrix[pred cls][label cls], one without matrix[nc][label cls]; a kept prediction
// without a match counts matrix[pred cls][nc], but only when the image had at least one match
// (upstream's `if n:`). DetectionMetrics calls this only for images with labels, as the validator.
void DetectionConfusion::process_batch(const std::vector<Prediction>& preds_in, const std::vector<GroundTruth>& gts) {
  std::vector<Prediction> preds;
  for (const auto& p : preds_in)
    if (p.conf > conf_thres) preds.push_back(p);
  if (gts.empty()) {  // upstream's branch for an image without labels: every kept prediction is a false alarm
    for (const auto& p : preds) matrix[p.cls][nc]++;
    return;
  }
  std::vector<Pair> cand;  // row-major (label, detection), as torch.where
  for (size_t g = 0; g < gts.size(); ++g)
    for (size_t p = 0; p < preds.size(); ++p) {
      const double iou = box_iou(preds[p].box, gts[g].box);
      if (iou > iou_thres) cand.push_back({iou, static_cast<int>(p), static_cast<int>(g)});
    }
  // np.unique(col, return_index=True): the first occurrence of each value, ordered by value.
  auto first_per = [](const std::vector<Pair>& v, bool by_pred) {
    std::map<int, Pair> first;
    for (const Pair& c : v) first.emplace(by_pred ? c.pred : c.gt, c);
    std::vector<Pair> out;
    for (const auto& kv : first) out.push_back(kv.second);
    return out;
  };
  std::vector<Pair> m = cand;
  if (m.size() > 1) {
    sort_by_iou_desc(m);
    m = first_per(m, /*by_pred=*/true);
    sort_by_iou_desc(m);
    m = first_per(m, /*by_pred=*/false);
  }
  std::vector<int> gt_match(gts.size(), -1);
  std::vector<bool> pred_used(preds.size(), false);
  for (const Pair& c : m) {
    gt_match[c.gt] = c.pred;
    pred_used[c.pred] = true;
  }
  for (size_t g = 0; g < gts.size(); ++g) {
    if (gt_match[g] >= 0) matrix[preds[gt_match[g]].cls][gts[g].cls]++;  // right or wrong class
    else matrix[nc][gts[g].cls]++;                                         // missed: background
  }
  if (!m.empty())
    for (size_t p = 0; p < preds.size(); ++p)
      if (!pred_used[p]) matrix[preds[p].cls][nc]++;  // false alarm on background
}

DetectionMetrics::DetectionMetrics(std::vector<std::string> names, MatchRule rule)
    : names_(std::move(names)), rule_(rule), confusion_(static_cast<int>(names_.empty() ? 1 : names_.size())) {
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
  if (preds.empty() && gts.empty()) {  // the validator skips such an image (it still counts as seen)
    n_images_++;
    return;
  }
  auto correct = match_predictions(preds, gts, rule_);
  for (size_t i = 0; i < preds.size(); ++i) {
    tp_.push_back(correct[i]);
    conf_.push_back(preds[i].conf);
    pred_cls_.push_back(preds[i].cls);
  }
  for (const auto& g : gts) target_cls_.push_back(g.cls);
  if (!gts.empty()) confusion_.process_batch(preds, gts);  // the validator's `if nl:`
  n_images_++;
}

DetectionResults DetectionMetrics::compute() const {
  DetectionResults r = ap_per_class(tp_, conf_, pred_cls_, target_cls_, names_);
  r.n_images = n_images_;
  return r;
}

}  // namespace fracture
