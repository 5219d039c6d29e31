#include "fracture/report/study.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <unordered_map>

#include "fracture/calibrate/calibration.h"
#include "fracture/calibrate/platt.h"
#include "fracture/core/error.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/eval/delong.h"

namespace fracture {

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// The statistic vector of case_stats: kNumMetrics main metrics, kNumCalibration calibration figures,
// then kNumOperating per criterion (names in study.h).
const auto& kMetricNames = kStudyMetrics;
constexpr int kNumMetrics = 8;
const auto& kCalibrationNames = kStudyCalibration;
constexpr int kNumCalibration = 10;
constexpr int kNumOperating = 5;

std::string where(const FoldPredictions& f) {
  return detail::cat("study: model '", f.model, "' repeat ", f.repeat, " fold ", f.fold);
}

// Cases of one evaluation set (a fold's outer set, or a repeat's OOF set restricted to a resample).
struct Cases {
  std::vector<int> y;
  std::vector<double> logit, p_raw, p_cal;
  // per case: the thresholds of the case's fold, one per criterion, NaN where the criterion failed
  std::vector<const std::vector<double>*> thr;
  size_t n_criteria = 0;
  void clear() {
    y.clear();
    logit.clear();
    p_raw.clear();
    p_cal.clear();
    thr.clear();
  }
};

template <class F>
double or_nan(F f) {
  try {
    const double v = f();
    return std::isfinite(v) ? v : kNaN;
  } catch (const Error&) {
    return kNaN;
  }
}

// Every figure of one evaluation set: kNumMetrics main metrics, kNumCalibration calibration figures,
// then kNumOperating per criterion. NaN where undefined.
std::vector<double> case_stats(const Cases& c, int bins) {
  const size_t nc = c.n_criteria;
  std::vector<double> out(kNumMetrics + kNumCalibration + kNumOperating * nc, kNaN);
  out[0] = or_nan([&] { return roc_auc_score(c.y, c.logit); });
  out[1] = or_nan([&] { return average_precision_score(c.y, c.logit); });
  out[2] = or_nan([&] { return brier_score_loss(c.y, c.p_cal); });
  const ThresholdMetrics m = metrics_at_threshold(c.y, c.p_cal, 0.5);
  out[3] = m.accuracy;
  out[4] = m.precision;
  out[5] = m.recall;
  out[6] = m.specificity;
  out[7] = m.f1;
  const CalibrationReport before = calibration_report(c.y, c.p_raw, bins);
  const CalibrationReport after = calibration_report(c.y, c.p_cal, bins);
  double* cal = &out[kNumMetrics];
  cal[0] = before.ece;
  cal[1] = after.ece;
  cal[2] = before.mce;
  cal[3] = after.mce;
  cal[4] = or_nan([&] { return brier_score_loss(c.y, c.p_raw); });
  cal[5] = out[2];
  const auto line = [&](const std::vector<double>& p, bool slope) {
    return or_nan([&] {
      const CalibrationLine l = calibration_line(c.y, p);
      return slope ? l.slope : l.intercept_in_the_large;
    });
  };
  cal[6] = line(c.p_raw, false);
  cal[7] = line(c.p_cal, false);
  cal[8] = line(c.p_raw, true);
  cal[9] = line(c.p_cal, true);
  for (size_t k = 0; k < nc; ++k) {
    Confusion q;
    size_t used = 0;
    for (size_t i = 0; i < c.y.size(); ++i) {
      const double t = (*c.thr[i])[k];
      if (std::isnan(t)) continue;  // the case's fold failed this criterion
      ++used;
      const bool pred = c.p_cal[i] >= t;
      if (c.y[i] == 1) (pred ? q.tp : q.fn)++; else (pred ? q.fp : q.tn)++;
    }
    if (used == 0) continue;
    const ThresholdMetrics tm = metrics_from_counts(q, 0);
    double* op = &out[kNumMetrics + kNumCalibration + kNumOperating * k];
    op[0] = tm.recall;
    op[1] = tm.specificity;
    op[2] = tm.precision;
    op[3] = tm.f1;
    op[4] = tm.accuracy;
  }
  return out;
}

// One trained (repeat, fold) cell with what was fitted on its inner validation split.
struct Cell {
  const FoldPredictions* f = nullptr;
  FoldSummary s;
  std::vector<double> p_raw, p_cal;
};

struct ModelData {
  std::string name;
  std::vector<Cell> cells;                  // sorted by (repeat, fold)
  std::vector<int> repeats;                 // distinct, increasing
  std::vector<std::string> images;          // sorted
  std::vector<int> labels;                  // per image
  std::vector<std::vector<int>> cell_of;    // [repeat][image] -> cell index
  std::vector<std::vector<int>> pos_of;     // [repeat][image] -> position in the cell's outer arrays
  std::vector<std::vector<size_t>> order;   // [repeat]: image indices by decreasing logit (ties by index)
};

void check_fold(const FoldPredictions& f) {
  const std::string w = where(f);
  FRACTURE_CHECK(!f.model.empty(), "study: a fold (repeat ", f.repeat, " fold ", f.fold, ") has an empty model name");
  FRACTURE_CHECK(f.repeat >= 0 && f.fold >= 0, w, ": repeat and fold must be >= 0");
  FRACTURE_CHECK(!f.images.empty(), w, ": no outer test images");
  FRACTURE_CHECK(f.labels.size() == f.images.size() && f.logits.size() == f.images.size(), w, ": images has ",
                 f.images.size(), " entries, labels ", f.labels.size(), ", logits ", f.logits.size(),
                 " (expected equal)");
  FRACTURE_CHECK(f.patients.empty() || f.patients.size() == f.images.size(), w, ": patients has ", f.patients.size(),
                 " entries for ", f.images.size(), " images (expected equal, or none)");
  FRACTURE_CHECK(!f.val_labels.empty() && f.val_labels.size() == f.val_logits.size(), w, ": val_labels has ",
                 f.val_labels.size(), " entries and val_logits ", f.val_logits.size(),
                 " (expected equal and non-empty)");
  for (size_t i = 0; i < f.images.size(); ++i) {
    FRACTURE_CHECK(f.labels[i] == 0 || f.labels[i] == 1, w, ": label of image '", f.images[i], "' is ", f.labels[i],
                   ", expected 0 or 1");
    FRACTURE_CHECK(std::isfinite(f.logits[i]), w, ": logit of image '", f.images[i], "' is not finite");
  }
  for (size_t i = 0; i < f.val_labels.size(); ++i) {
    FRACTURE_CHECK(f.val_labels[i] == 0 || f.val_labels[i] == 1, w, ": val label at index ", i, " is ",
                   f.val_labels[i], ", expected 0 or 1");
    FRACTURE_CHECK(std::isfinite(f.val_logits[i]), w, ": val logit at index ", i, " is not finite");
  }
}

// Calibrator and thresholds of one fold, from its inner validation predictions only.
Cell fit_cell(const FoldPredictions& f, const StudyOptions& opt) {
  Cell c;
  c.f = &f;
  c.s.repeat = f.repeat;
  c.s.fold = f.fold;
  c.s.n_images = static_cast<int>(f.images.size());
  for (int y : f.labels) c.s.n_positive += y;
  c.s.n_val = static_cast<int>(f.val_labels.size());
  for (int y : f.val_labels) c.s.n_val_positive += y;
  c.s.best_epoch = f.best_epoch;
  c.s.epochs_run = f.epochs_run;
  c.s.train_seconds = f.train_seconds;
  try {
    c.s.calibration = fit_calibrator(opt.calibration, f.val_logits, f.val_labels);
  } catch (const Error& e) {
    FRACTURE_FAIL(where(f), ": ", to_string(opt.calibration), " calibration on the inner validation split failed: ",
                  e.what());
  }
  const std::vector<double> val_p = c.s.calibration.apply(f.val_logits);
  for (const auto& [criterion, target] : opt.criteria) {
    double t = kNaN;
    try {
      t = choose_threshold(f.val_labels, val_p, criterion, target).metrics.threshold;
    } catch (const Error&) {
      t = kNaN;  // not met on this fold: counted in n_failed
    }
    c.s.thresholds.push_back(t);
  }
  c.p_raw = Calibrator{}.apply(f.logits);
  c.p_cal = c.s.calibration.apply(f.logits);
  return c;
}

std::vector<ModelData> organise(const std::vector<FoldPredictions>& folds, const StudyOptions& opt) {
  FRACTURE_CHECK(!folds.empty(), "study: no fold predictions");
  std::vector<ModelData> models;
  std::map<std::string, size_t> model_index;
  for (const FoldPredictions& f : folds) {
    check_fold(f);
    auto it = model_index.find(f.model);
    if (it == model_index.end()) {
      it = model_index.emplace(f.model, models.size()).first;
      models.emplace_back();
      models.back().name = f.model;
    }
    models[it->second].cells.push_back(fit_cell(f, opt));
  }
  for (ModelData& m : models) {
    std::sort(m.cells.begin(), m.cells.end(), [](const Cell& a, const Cell& b) {
      return a.s.repeat != b.s.repeat ? a.s.repeat < b.s.repeat : a.s.fold < b.s.fold;
    });
    for (size_t k = 1; k < m.cells.size(); ++k)
      FRACTURE_CHECK(m.cells[k].s.repeat != m.cells[k - 1].s.repeat || m.cells[k].s.fold != m.cells[k - 1].s.fold,
                     where(*m.cells[k].f), ": this (model, repeat, fold) appears twice");
    for (const Cell& c : m.cells)
      if (m.repeats.empty() || m.repeats.back() != c.s.repeat) m.repeats.push_back(c.s.repeat);

    // Per repeat: image -> (cell, position); each image exactly once per repeat.
    std::vector<std::unordered_map<std::string, std::pair<int, int>>> seen(m.repeats.size());
    std::unordered_map<std::string, std::pair<int, const FoldPredictions*>> label_of;
    size_t r = 0;
    for (size_t k = 0; k < m.cells.size(); ++k) {
      const FoldPredictions& f = *m.cells[k].f;
      while (m.repeats[r] != f.repeat) ++r;
      for (size_t i = 0; i < f.images.size(); ++i) {
        auto [pos, fresh] = seen[r].emplace(f.images[i], std::make_pair(static_cast<int>(k), static_cast<int>(i)));
        FRACTURE_CHECK(fresh, where(f), ": image '", f.images[i], "' is scored twice in this repeat (also in fold ",
                       m.cells[pos->second.first].s.fold, "); each image must be in exactly one outer fold per repeat");
        auto [lab, first] = label_of.emplace(f.images[i], std::make_pair(f.labels[i], &f));
        FRACTURE_CHECK(first || lab->second.first == f.labels[i], where(f), ": image '", f.images[i], "' has label ",
                       f.labels[i], " but label ", lab->second.first, " in ", where(*lab->second.second));
      }
    }
    for (const auto& [img, cp] : seen[0]) m.images.push_back(img);
    std::sort(m.images.begin(), m.images.end());
    for (size_t rr = 1; rr < m.repeats.size(); ++rr) {
      for (const auto& [img, cp] : seen[rr])
        FRACTURE_CHECK(seen[0].count(img), "study: model '", m.name, "' repeat ", m.repeats[rr], " fold ",
                       m.cells[cp.first].s.fold, " scores image '", img, "' that repeat ", m.repeats[0],
                       " never scores; every repeat must cover the same images");
      FRACTURE_CHECK(seen[rr].size() == seen[0].size(), "study: model '", m.name, "' repeat ", m.repeats[rr],
                     " scores ", seen[rr].size(), " images but repeat ", m.repeats[0], " scores ", seen[0].size(),
                     "; every repeat must cover the same images");
    }
    m.labels.resize(m.images.size());
    m.cell_of.assign(m.repeats.size(), std::vector<int>(m.images.size()));
    m.pos_of.assign(m.repeats.size(), std::vector<int>(m.images.size()));
    for (size_t i = 0; i < m.images.size(); ++i) {
      m.labels[i] = label_of.at(m.images[i]).first;
      for (size_t rr = 0; rr < m.repeats.size(); ++rr) {
        const auto& cp = seen[rr].at(m.images[i]);
        m.cell_of[rr][i] = cp.first;
        m.pos_of[rr][i] = cp.second;
      }
    }
    m.order.resize(m.repeats.size());
    for (size_t rr = 0; rr < m.repeats.size(); ++rr) {
      std::vector<double> z(m.images.size());
      for (size_t i = 0; i < z.size(); ++i) z[i] = m.cells[m.cell_of[rr][i]].f->logits[m.pos_of[rr][i]];
      std::vector<size_t>& o = m.order[rr];
      o.resize(z.size());
      for (size_t i = 0; i < o.size(); ++i) o[i] = i;
      std::stable_sort(o.begin(), o.end(), [&](size_t a, size_t b) { return z[a] > z[b]; });
    }
    int pos = 0;
    for (int y : m.labels) pos += y;
    FRACTURE_CHECK(pos > 0 && pos < static_cast<int>(m.labels.size()), "study: model '", m.name, "' has ", pos,
                   " positive of ", m.labels.size(), " images; the study needs both classes");
  }
  // every backbone on the same images with the same labels
  for (size_t a = 1; a < models.size(); ++a) {
    const ModelData& m0 = models[0];
    const ModelData& m1 = models[a];
    if (m0.images != m1.images) {
      std::string only0, only1;
      for (const std::string& s : m0.images)
        if (!std::binary_search(m1.images.begin(), m1.images.end(), s)) { only0 = s; break; }
      for (const std::string& s : m1.images)
        if (!std::binary_search(m0.images.begin(), m0.images.end(), s)) { only1 = s; break; }
      FRACTURE_FAIL("study: models '", m0.name, "' (", m0.images.size(), " images) and '", m1.name, "' (",
                    m1.images.size(), " images) were scored on different image sets",
                    only0.empty() ? "" : detail::cat("; '", only0, "' only in '", m0.name, "'"),
                    only1.empty() ? "" : detail::cat("; '", only1, "' only in '", m1.name, "'"),
                    "; every backbone must score the same images");
    }
    for (size_t i = 0; i < m0.images.size(); ++i)
      FRACTURE_CHECK(m0.labels[i] == m1.labels[i], "study: image '", m0.images[i], "' has label ", m0.labels[i],
                     " for model '", m0.name, "' but ", m1.labels[i], " for model '", m1.name, "'");
  }
  return models;
}

// The OOF cases of repeat r for a resample given as multiplicities per image (count[i] copies of
// image i), emitted in decreasing-logit order: the metrics depend only on the multiset, and the
// sorts inside roc_auc_score / average_precision_score are cheap on ordered input.
void gather(const ModelData& m, size_t r, const std::vector<int>& count, Cases& c) {
  c.clear();
  c.n_criteria = m.cells.empty() ? 0 : m.cells[0].s.thresholds.size();
  for (size_t i : m.order[r]) {
    const Cell& cell = m.cells[m.cell_of[r][i]];
    const size_t p = m.pos_of[r][i];
    for (int k = 0; k < count[i]; ++k) {
      c.y.push_back(m.labels[i]);
      c.logit.push_back(cell.f->logits[p]);
      c.p_raw.push_back(cell.p_raw[p]);
      c.p_cal.push_back(cell.p_cal[p]);
      c.thr.push_back(&cell.s.thresholds);
    }
  }
}

// Mean over repeats (where defined) of case_stats on each repeat's OOF cases at the image indices idx.
std::vector<double> repeat_average(const ModelData& m, const std::vector<size_t>& idx, int bins) {
  std::vector<double> sum;
  std::vector<int> count;
  std::vector<int> mult(m.images.size(), 0);
  for (size_t i : idx) ++mult[i];
  Cases c;
  for (size_t r = 0; r < m.repeats.size(); ++r) {
    gather(m, r, mult, c);
    const std::vector<double> v = case_stats(c, bins);
    if (sum.empty()) {
      sum.assign(v.size(), 0.0);
      count.assign(v.size(), 0);
    }
    for (size_t k = 0; k < v.size(); ++k)
      if (!std::isnan(v[k])) {
        sum[k] += v[k];
        ++count[k];
      }
  }
  for (size_t k = 0; k < sum.size(); ++k) sum[k] = count[k] ? sum[k] / count[k] : kNaN;
  return sum;
}

// mean_sd over the folds where a value exists; NaN mean and SD when there is none.
MeanSd mean_sd_or_nan(const std::vector<double>& vals) {
  if (vals.empty()) return {kNaN, kNaN, 0};
  return mean_sd(vals);
}

MetricSummary make_summary(const IndexBootstrap& boot, size_t k, const std::vector<std::vector<double>>& per_fold) {
  MetricSummary s;
  s.value = boot.estimate[k];
  s.ci_low = boot.lower[k];
  s.ci_high = boot.upper[k];
  s.n_resamples = boot.n_valid[k];
  std::vector<double> vals;
  for (const auto& f : per_fold)
    if (!std::isnan(f[k])) vals.push_back(f[k]);
  s.n_folds = static_cast<int>(vals.size());
  const MeanSd ms = mean_sd_or_nan(vals);
  s.fold_mean = ms.mean;
  s.fold_sd = ms.sd;
  return s;
}

// Words for a calibration that made the pooled ECE or Brier worse than sigmoid(logit); "" otherwise.
std::string calibration_warning(const ModelSummary& m) {
  std::string w;
  char buf[160];
  if (m.ece_after > m.ece_before) {
    std::snprintf(buf, sizeof buf, "ECE %.3f -> %.3f", m.ece_before, m.ece_after);
    w = buf;
  }
  if (m.brier_after > m.brier_before) {
    std::snprintf(buf, sizeof buf, "Brier %.4f -> %.4f", m.brier_before, m.brier_after);
    w += (w.empty() ? "" : ", ") + std::string(buf);
  }
  if (w.empty()) return w;
  return detail::cat(to_string(m.folds.empty() ? CalibrationMethod::none : m.folds[0].calibration.method),
                     " calibration made ", m.model, " worse on the outer folds (", w, ")");
}

ModelSummary summarise_model(const ModelData& m, const StudyOptions& opt) {
  ModelSummary out;
  out.model = m.name;
  out.n_images = static_cast<int>(m.images.size());
  for (int y : m.labels) out.n_positive += y;
  out.n_folds = static_cast<int>(m.cells.size());
  out.n_repeats = static_cast<int>(m.repeats.size());
  out.repeats = m.repeats;
  std::vector<double> temps, as, bs;
  for (const Cell& c : m.cells) {
    out.folds.push_back(c.s);
    const Calibrator& k = c.s.calibration;
    if (k.method == CalibrationMethod::temperature) temps.push_back(k.temperature);
    if (k.method == CalibrationMethod::platt) {
      as.push_back(k.a);
      bs.push_back(k.b);
    }
    out.train_seconds += c.s.train_seconds;
  }
  const MeanSd t = mean_sd_or_nan(temps), a = mean_sd_or_nan(as), b = mean_sd_or_nan(bs);
  out.temperature_mean = t.mean;
  out.temperature_sd = t.sd;
  out.platt_a_mean = a.mean;
  out.platt_a_sd = a.sd;
  out.platt_b_mean = b.mean;
  out.platt_b_sd = b.sd;

  // per (repeat, fold) cell: the same figures on the fold's outer set
  std::vector<std::vector<double>> per_fold;
  for (const Cell& cell : m.cells) {
    Cases c;
    const FoldPredictions& f = *cell.f;
    c.y = f.labels;
    c.logit = f.logits;
    c.p_raw = cell.p_raw;
    c.p_cal = cell.p_cal;
    c.n_criteria = cell.s.thresholds.size();
    c.thr.assign(f.images.size(), &cell.s.thresholds);
    per_fold.push_back(case_stats(c, opt.calibration_bins));
  }
  const int bins = opt.calibration_bins;
  const IndexBootstrap boot = stratified_bootstrap_indices(
      m.labels, opt.n_bootstrap, opt.confidence, opt.seed,
      [&](const std::vector<size_t>& idx) { return repeat_average(m, idx, bins); });

  for (int k = 0; k < kNumMetrics; ++k) out.metrics.emplace_back(kMetricNames[k], make_summary(boot, k, per_fold));
  for (int k = 0; k < kNumCalibration; ++k)
    out.calibration.emplace_back(kCalibrationNames[k], make_summary(boot, kNumMetrics + k, per_fold));
  out.ece_before = boot.estimate[kNumMetrics + 0];
  out.ece_after = boot.estimate[kNumMetrics + 1];
  out.mce_before = boot.estimate[kNumMetrics + 2];
  out.mce_after = boot.estimate[kNumMetrics + 3];
  out.brier_before = boot.estimate[kNumMetrics + 4];
  out.brier_after = boot.estimate[kNumMetrics + 5];
  out.calibration_warning = calibration_warning(out);

  for (size_t q = 0; q < opt.criteria.size(); ++q) {
    OperatingPoint op;
    op.kind = opt.criteria[q].first;
    op.target = opt.criteria[q].second;
    op.criterion = criterion_name(op.kind, op.target);
    std::vector<double> th;
    for (const Cell& c : m.cells) {
      if (std::isnan(c.s.thresholds[q])) ++op.n_failed; else th.push_back(c.s.thresholds[q]);
    }
    op.n_folds = static_cast<int>(th.size());
    const MeanSd tms = mean_sd_or_nan(th);
    op.threshold_mean = tms.mean;
    op.threshold_sd = tms.sd;
    const size_t base = kNumMetrics + kNumCalibration + kNumOperating * q;
    op.sensitivity = make_summary(boot, base + 0, per_fold);
    op.specificity = make_summary(boot, base + 1, per_fold);
    op.precision = make_summary(boot, base + 2, per_fold);
    op.f1 = make_summary(boot, base + 3, per_fold);
    op.accuracy = make_summary(boot, base + 4, per_fold);
    out.operating_points.push_back(op);
  }
  return out;
}

// One score per image: the mean logit over repeats (images in sorted order).
std::vector<double> mean_logits(const ModelData& m) {
  std::vector<double> s(m.images.size(), 0.0);
  for (size_t r = 0; r < m.repeats.size(); ++r)
    for (size_t i = 0; i < m.images.size(); ++i)
      s[i] += m.cells[m.cell_of[r][i]].f->logits[m.pos_of[r][i]];
  for (double& v : s) v /= static_cast<double>(m.repeats.size());
  return s;
}

}  // namespace

// ---- public -----------------------------------------------------------------------------------

const FoldSummary& fold_summary(const StudySummary& s, const FoldPredictions& f) {
  for (const ModelSummary& m : s.models) {
    if (m.model != f.model) continue;
    for (const FoldSummary& fs : m.folds)
      if (fs.repeat == f.repeat && fs.fold == f.fold) return fs;
  }
  FRACTURE_FAIL(where(f), " is not in the summary (summary and folds do not match)");
}

const MetricSummary& find_metric(const std::vector<std::pair<std::string, MetricSummary>>& v, const std::string& k) {
  for (const auto& [name, m] : v)
    if (name == k) return m;
  FRACTURE_FAIL("study: summary has no metric '", k, "'");
}

std::string criterion_name(ThresholdCriterion criterion, double target) {
  auto fmt = [](double v, bool two_decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, two_decimals ? "%.2f" : "%g", v);
    if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.10g", v);
    return std::string(buf);
  };
  switch (criterion) {
    case ThresholdCriterion::youden:
    case ThresholdCriterion::max_f1: return to_string(criterion);
    case ThresholdCriterion::fixed: return "fixed=" + fmt(target, false);
    default: return to_string(criterion) + ">=" + fmt(target, true);
  }
}

ModelComparison delong_comparison(const std::string& model_a, const std::string& model_b, const std::vector<int>& y,
                                  const std::vector<double>& a, const std::vector<double>& b, double confidence) {
  ModelComparison c;
  c.model_a = model_a;
  c.model_b = model_b;
  c.n_images = static_cast<int>(y.size());
  const DelongTest t = delong_test_or_nan(y, a, b, confidence, &c.note);
  c.auc_a = t.auc_a;
  c.auc_b = t.auc_b;
  c.diff = t.diff;
  c.diff_low = t.diff_lower;
  c.diff_high = t.diff_upper;
  c.p_value = t.p_value;
  return c;
}

StudySummary summarise_study(const std::vector<FoldPredictions>& folds, const StudyOptions& options) {
  FRACTURE_CHECK(options.n_bootstrap >= 2, "study: n_bootstrap must be >= 2, got ", options.n_bootstrap);
  FRACTURE_CHECK(options.confidence > 0 && options.confidence < 1, "study: confidence must be in (0, 1), got ",
                 options.confidence);
  FRACTURE_CHECK(options.calibration_bins >= 1, "study: calibration_bins must be >= 1, got ",
                 options.calibration_bins);
  for (const auto& [criterion, target] : options.criteria) {
    const bool has_target = criterion == ThresholdCriterion::sensitivity ||
                            criterion == ThresholdCriterion::specificity || criterion == ThresholdCriterion::precision;
    FRACTURE_CHECK(!has_target || (target > 0 && target <= 1), "study: threshold criterion ", to_string(criterion),
                   " needs a target in (0, 1], got ", target);
    FRACTURE_CHECK(criterion != ThresholdCriterion::fixed || std::isfinite(target),
                   "study: the fixed threshold must be finite, got ", target);
  }
  const std::vector<ModelData> models = organise(folds, options);
  StudySummary s;
  s.options = options;
  for (const ModelData& m : models) s.models.push_back(summarise_model(m, options));
  std::vector<std::vector<double>> scores;
  for (const ModelData& m : models) scores.push_back(mean_logits(m));
  for (size_t a = 0; a < models.size(); ++a)
    for (size_t b = a + 1; b < models.size(); ++b) {
      ModelComparison c = delong_comparison(models[a].name, models[b].name, models[a].labels, scores[a], scores[b],
                                            options.confidence);
      s.comparisons.push_back(c);
    }
  return s;
}

std::vector<StudyCurves> study_curves(const StudySummary& s, const std::vector<FoldPredictions>& folds) {
  std::vector<StudyCurves> curves;
  for (const ModelSummary& m : s.models) {
    if (m.repeats.empty()) continue;
    StudyCurves c;
    c.model = m.model;
    c.repeat = m.repeats.front();
    std::vector<int> y;
    std::vector<double> p_raw, p_cal;
    for (const FoldPredictions& f : folds) {
      if (f.model != m.model || f.repeat != c.repeat) continue;
      const std::vector<double> a = Calibrator{}.apply(f.logits);
      const std::vector<double> b = fold_summary(s, f).calibration.apply(f.logits);
      y.insert(y.end(), f.labels.begin(), f.labels.end());
      p_raw.insert(p_raw.end(), a.begin(), a.end());
      p_cal.insert(p_cal.end(), b.begin(), b.end());
    }
    try {
      c.roc = roc_curve(y, p_cal);
      c.pr = precision_recall_curve(y, p_cal);
      c.auroc = roc_auc_score(y, p_cal);
      c.ap = average_precision_score(y, p_cal);
      c.has_roc = true;
    } catch (const Error& e) {
      c.note = e.what();
    }
    c.prevalence = y.empty() ? 0.0 : double(std::count(y.begin(), y.end(), 1)) / double(y.size());
    c.before = calibration_report(y, p_raw, s.options.calibration_bins);
    c.after = calibration_report(y, p_cal, s.options.calibration_bins);
    curves.push_back(std::move(c));
  }
  return curves;
}

}  // namespace fracture
