#include "fracture/report/study.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "fracture/calibrate/calibration.h"
#include "fracture/calibrate/temperature.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/rng.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/eval/delong.h"

namespace fracture {

namespace {

using json = nlohmann::json;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Names of the main metrics, in the order of ModelSummary::metrics and of the statistic vector.
const char* const kMetricNames[] = {"auroc", "ap", "brier", "accuracy", "precision", "recall", "specificity", "f1"};
constexpr int kNumMetrics = 8;
const char* const kCalibrationNames[] = {"ece_before", "ece_after", "mce_before", "mce_after", "brier_before",
                                         "brier_after"};
constexpr int kNumCalibration = 6;
// Per criterion, in the order of OperatingPoint's metrics.
const char* const kOperatingNames[] = {"sensitivity", "specificity", "precision", "f1", "accuracy"};
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

// Temperature and thresholds of one fold, from its inner validation predictions only.
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
  TemperatureFit fit;
  try {
    fit = fit_temperature_binary(f.val_logits, f.val_labels);
  } catch (const Error& e) {
    FRACTURE_FAIL(where(f), ": temperature scaling on the inner validation split failed: ", e.what());
  }
  c.s.temperature = fit.temperature;
  c.s.temperature_at_bound = fit.at_bound;
  const std::vector<double> val_p = apply_temperature_binary(f.val_logits, fit.temperature);
  for (const auto& [criterion, target] : opt.criteria) {
    double t = kNaN;
    try {
      t = choose_threshold(f.val_labels, val_p, criterion, target).metrics.threshold;
    } catch (const Error&) {
      t = kNaN;  // not met on this fold: counted in n_failed
    }
    c.s.thresholds.push_back(t);
  }
  c.p_raw = apply_temperature_binary(f.logits, 1.0);
  c.p_cal = apply_temperature_binary(f.logits, fit.temperature);
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

ModelSummary summarise_model(const ModelData& m, const StudyOptions& opt) {
  ModelSummary out;
  out.model = m.name;
  out.n_images = static_cast<int>(m.images.size());
  for (int y : m.labels) out.n_positive += y;
  out.n_folds = static_cast<int>(m.cells.size());
  out.n_repeats = static_cast<int>(m.repeats.size());
  out.repeats = m.repeats;
  std::vector<double> temps;
  for (const Cell& c : m.cells) {
    out.folds.push_back(c.s);
    temps.push_back(c.s.temperature);
    out.train_seconds += c.s.train_seconds;
  }
  const MeanSd t = mean_sd(temps);
  out.temperature_mean = t.mean;
  out.temperature_sd = t.sd;

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

// ---- formatting -------------------------------------------------------------------------------

std::string num(double v, const char* fmt = "%.17g") {
  if (!std::isfinite(v)) return "NA";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string fixed3(double v) { return num(v, "%.3f"); }

// "0.712 (0.650-0.770)"
std::string with_ci(double v, double lo, double hi, const char* sep = "-") {
  if (!std::isfinite(v)) return "n/a";
  if (!std::isfinite(lo) || !std::isfinite(hi)) return fixed3(v) + " (CI n/a)";
  return fixed3(v) + " (" + fixed3(lo) + sep + fixed3(hi) + ")";
}
std::string with_ci(const MetricSummary& m) { return with_ci(m.value, m.ci_low, m.ci_high); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) {
    if (ch == '"') q += '"';
    q += ch;
  }
  return q + "\"";
}

json metric_json(const MetricSummary& m) {
  return json{{"value", m.value},         {"ci_low", m.ci_low},   {"ci_high", m.ci_high},
              {"fold_mean", m.fold_mean}, {"fold_sd", m.fold_sd}, {"n_folds", m.n_folds},
              {"n_resamples", m.n_resamples}};
}

const MetricSummary& find_metric(const std::vector<std::pair<std::string, MetricSummary>>& v, const std::string& k) {
  for (const auto& [name, m] : v)
    if (name == k) return m;
  FRACTURE_FAIL("study: summary has no metric '", k, "'");
}

json reliability_json(const CalibrationReport& r) {
  json bins = json::array();
  for (const ReliabilityBin& b : r.bins)
    bins.push_back({{"lower", b.lower}, {"upper", b.upper}, {"count", b.count},
                    {"mean_confidence", b.mean_confidence}, {"accuracy", b.accuracy}});
  return json{{"ece", r.ece}, {"mce", r.mce}, {"bins", bins}};
}

const FoldSummary& find_fold(const StudySummary& s, const FoldPredictions& f) {
  for (const ModelSummary& m : s.models) {
    if (m.model != f.model) continue;
    for (const FoldSummary& fs : m.folds)
      if (fs.repeat == f.repeat && fs.fold == f.fold) return fs;
  }
  FRACTURE_FAIL("write_study_outputs: ", where(f), " is not in the summary (summary and folds do not match)");
}

}  // namespace

// ---- public -----------------------------------------------------------------------------------

IndexBootstrap stratified_bootstrap_indices(const std::vector<int>& labels, int n_resamples, double confidence,
                                            uint64_t seed, const IndexStatistic& statistic) {
  FRACTURE_CHECK(n_resamples >= 2, "stratified_bootstrap_indices: n_resamples must be >= 2, got ", n_resamples);
  FRACTURE_CHECK(confidence > 0.0 && confidence < 1.0,
                 "stratified_bootstrap_indices: confidence must be in (0, 1), got ", confidence);
  FRACTURE_CHECK(!labels.empty(), "stratified_bootstrap_indices: no cases");
  std::vector<size_t> pos_idx, neg_idx;
  for (size_t i = 0; i < labels.size(); ++i) {
    FRACTURE_CHECK(labels[i] == 0 || labels[i] == 1, "stratified_bootstrap_indices: label at index ", i, " is ",
                   labels[i], ", expected 0 or 1");
    (labels[i] == 1 ? pos_idx : neg_idx).push_back(i);
  }
  std::vector<size_t> idx(labels.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  IndexBootstrap r;
  r.estimate = statistic(idx);
  const size_t k = r.estimate.size();
  std::vector<std::vector<double>> samples(k);
  SplitMix64 rng{seed};
  for (int b = 0; b < n_resamples; ++b) {
    size_t j = 0;
    for (size_t t = 0; t < pos_idx.size(); ++t) idx[j++] = pos_idx[rng.below(pos_idx.size())];
    for (size_t t = 0; t < neg_idx.size(); ++t) idx[j++] = neg_idx[rng.below(neg_idx.size())];
    const std::vector<double> v = statistic(idx);
    FRACTURE_CHECK(v.size() == k, "stratified_bootstrap_indices: the statistic returned ", v.size(),
                   " values on a resample but ", k, " on the full data");
    for (size_t c = 0; c < k; ++c)
      if (std::isfinite(v[c])) samples[c].push_back(v[c]);
  }
  const double alpha = 1.0 - confidence;
  for (size_t c = 0; c < k; ++c) {
    r.n_valid.push_back(static_cast<int>(samples[c].size()));
    if (samples[c].size() < 2) {
      r.lower.push_back(kNaN);
      r.upper.push_back(kNaN);
      continue;
    }
    std::sort(samples[c].begin(), samples[c].end());
    r.lower.push_back(percentile_sorted(samples[c], alpha / 2));
    r.upper.push_back(percentile_sorted(samples[c], 1.0 - alpha / 2));
  }
  return r;
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
      ModelComparison c;
      c.model_a = models[a].name;
      c.model_b = models[b].name;
      c.n_images = static_cast<int>(models[a].images.size());
      try {
        const DelongTest t = delong_test(models[a].labels, scores[a], scores[b], options.confidence);
        c.auc_a = t.auc_a;
        c.auc_b = t.auc_b;
        c.diff = t.diff;
        c.diff_low = t.diff_lower;
        c.diff_high = t.diff_upper;
        c.p_value = t.p_value;
      } catch (const Error& e) {
        c.auc_a = roc_auc_score(models[a].labels, scores[a]);
        c.auc_b = roc_auc_score(models[b].labels, scores[b]);
        c.diff = c.auc_a - c.auc_b;
        c.diff_low = c.diff_high = c.p_value = kNaN;
        c.note = e.what();
      }
      s.comparisons.push_back(c);
    }
  return s;
}

std::string format_study_tables(const StudySummary& s) {
  std::ostringstream o;
  const int level = static_cast<int>(std::lround(s.options.confidence * 100));
  o << "### Classification (pooled out-of-fold, mean over repeats; " << level << "% bootstrap CI)\n\n";
  o << "| model | images (pos) | repeats x folds | AUROC | AP | Brier | accuracy | precision | recall | specificity "
       "| F1 | ECE | T |\n";
  o << "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const ModelSummary& m : s.models) {
    o << "| " << m.model << " | " << m.n_images << " (" << m.n_positive << ") | " << m.n_repeats << " x "
      << (m.n_repeats ? m.n_folds / m.n_repeats : 0) << " |";
    for (const char* k : kMetricNames) o << " " << with_ci(find_metric(m.metrics, k)) << " |";
    o << " " << with_ci(find_metric(m.calibration, "ece_after")) << " | " << fixed3(m.temperature_mean) << " (SD "
      << fixed3(m.temperature_sd) << ") |\n";
  }
  o << "\nAUROC and AP on logits; Brier on temperature-scaled probabilities; accuracy to F1 at 0.5 on them.\n";

  o << "\n### Calibration on outer folds (before -> after temperature scaling, T fitted per fold on inner "
       "validation; "
    << s.options.calibration_bins << " bins)\n\n";
  o << "| model | ECE before | ECE after | MCE before | MCE after | Brier before | Brier after | T mean (SD) |\n";
  o << "|---|---|---|---|---|---|---|---|\n";
  for (const ModelSummary& m : s.models) {
    o << "| " << m.model << " |";
    for (const char* k : kCalibrationNames) o << " " << with_ci(find_metric(m.calibration, k)) << " |";
    o << " " << fixed3(m.temperature_mean) << " (" << fixed3(m.temperature_sd) << ") |\n";
  }
  o << "\nMCE is the largest bin gap; being a maximum, its percentile interval can miss the point value.\n";

  o << "\n### Operating points (threshold chosen on each fold's inner validation, applied to its outer fold)\n\n";
  o << "| model | criterion | threshold mean (SD) | folds met / failed | sensitivity | specificity | precision | F1 "
       "| accuracy |\n";
  o << "|---|---|---|---|---|---|---|---|---|\n";
  for (const ModelSummary& m : s.models)
    for (const OperatingPoint& p : m.operating_points)
      o << "| " << m.model << " | " << p.criterion << " | " << fixed3(p.threshold_mean) << " ("
        << fixed3(p.threshold_sd) << ") | " << p.n_folds << " / " << p.n_failed << " | " << with_ci(p.sensitivity)
        << " | " << with_ci(p.specificity) << " | " << with_ci(p.precision) << " | " << with_ci(p.f1) << " | "
        << with_ci(p.accuracy) << " |\n";
  o << "\nA fold where a criterion cannot be met on the inner validation split counts as failed; its images are "
       "left out of that criterion's figures.\n";

  if (!s.comparisons.empty()) {
    o << "\n### AUROC comparisons (DeLong test on the mean logit over repeats)\n\n";
    o << "| model A | model B | AUROC A | AUROC B | A - B (" << level << "% CI) | p |\n";
    o << "|---|---|---|---|---|---|\n";
    for (const ModelComparison& c : s.comparisons)
      o << "| " << c.model_a << " | " << c.model_b << " | " << fixed3(c.auc_a) << " | " << fixed3(c.auc_b) << " | "
        << with_ci(c.diff, c.diff_low, c.diff_high, " to ") << " | "
        << (std::isfinite(c.p_value) ? num(c.p_value, "%.3g") : "n/a (" + c.note + ")") << " |\n";
  }
  return o.str();
}

void write_study_outputs(const std::filesystem::path& dir, const StudySummary& s,
                         const std::vector<FoldPredictions>& folds) {
  write_study_outputs(dir, s, folds, study_curves(s, folds));
}

void write_study_outputs(const std::filesystem::path& dir, const StudySummary& s,
                         const std::vector<FoldPredictions>& folds, const std::vector<StudyCurves>& curves) {
  // oof_predictions.csv: one row per (model, repeat, outer fold, image), in the order of `folds`
  {
    std::ostringstream o;
    o << "image,patient,model,repeat,fold,logit,probability,calibrated_probability,label,temperature\n";
    for (const FoldPredictions& f : folds) {
      const double t = find_fold(s, f).temperature;
      const std::vector<double> p = apply_temperature_binary(f.logits, 1.0);
      const std::vector<double> pc = apply_temperature_binary(f.logits, t);
      for (size_t i = 0; i < f.images.size(); ++i)
        o << csv_field(f.images[i]) << "," << csv_field(f.patients.empty() ? "" : f.patients[i]) << ","
          << csv_field(f.model) << "," << f.repeat << "," << f.fold << "," << num(f.logits[i]) << "," << num(p[i])
          << "," << num(pc[i]) << "," << f.labels[i] << "," << num(t) << "\n";
    }
    write_file_atomic(dir / "oof_predictions.csv", o.str());
  }

  // metrics.json
  {
    json models = json::object();
    for (const ModelSummary& m : s.models) {
      json j;
      for (const auto& [k, v] : m.metrics) j[k] = metric_json(v);
      j["ece"] = m.ece_after;
      j["temperature"] = m.temperature_mean;
      json cal;
      for (const char* stage : {"before", "after"}) {
        json st;
        for (const char* k : {"ece", "mce", "brier"})
          st[k] = metric_json(find_metric(m.calibration, std::string(k) + "_" + stage));
        cal[stage] = st;
      }
      cal["bins"] = s.options.calibration_bins;
      cal["temperature_mean"] = m.temperature_mean;
      cal["temperature_sd"] = m.temperature_sd;
      j["calibration"] = cal;
      json ops = json::array();
      for (const OperatingPoint& p : m.operating_points)
        ops.push_back({{"criterion", p.criterion},
                       {"kind", to_string(p.kind)},
                       {"target", p.target},
                       {"threshold_mean", p.threshold_mean},
                       {"threshold_sd", p.threshold_sd},
                       {"n_folds", p.n_folds},
                       {"n_failed", p.n_failed},
                       {"sensitivity", metric_json(p.sensitivity)},
                       {"specificity", metric_json(p.specificity)},
                       {"precision", metric_json(p.precision)},
                       {"f1", metric_json(p.f1)},
                       {"accuracy", metric_json(p.accuracy)}});
      j["operating_points"] = ops;
      json fl = json::array();
      for (const FoldSummary& f : m.folds) {
        json th = json::object();
        for (size_t q = 0; q < f.thresholds.size() && q < m.operating_points.size(); ++q)
          th[m.operating_points[q].criterion] = f.thresholds[q];
        fl.push_back({{"repeat", f.repeat},
                      {"fold", f.fold},
                      {"n_images", f.n_images},
                      {"n_positive", f.n_positive},
                      {"n_val", f.n_val},
                      {"n_val_positive", f.n_val_positive},
                      {"temperature", f.temperature},
                      {"temperature_at_bound", f.temperature_at_bound},
                      {"thresholds", th},
                      {"best_epoch", f.best_epoch},
                      {"epochs_run", f.epochs_run}});
      }
      j["folds"] = fl;
      j["n_images"] = m.n_images;
      j["n_positive"] = m.n_positive;
      j["n_repeats"] = m.n_repeats;
      j["n_folds"] = m.n_folds;
      models[m.model] = j;
    }
    json comps = json::array();
    for (const ModelComparison& c : s.comparisons)
      comps.push_back({{"model_a", c.model_a}, {"model_b", c.model_b}, {"auroc_a", c.auc_a}, {"auroc_b", c.auc_b},
                       {"diff", c.diff}, {"ci_low", c.diff_low}, {"ci_high", c.diff_high}, {"p_value", c.p_value},
                       {"n_images", c.n_images}, {"test", "delong"}, {"score", "mean logit over repeats"},
                       {"note", c.note}});
    json crit = json::array();
    for (const auto& [k, t] : s.options.criteria) crit.push_back(criterion_name(k, t));
    json opts = {{"n_bootstrap", s.options.n_bootstrap},
                 {"confidence", s.options.confidence},
                 {"seed", s.options.seed},
                 {"calibration_bins", s.options.calibration_bins},
                 {"criteria", crit},
                 {"ci_method", "stratified bootstrap over images, percentile"},
                 {"pooling", "metric on each repeat's out-of-fold predictions, averaged over repeats"}};
    json root = {{"models", models}, {"comparisons", comps}, {"options", opts}};
    write_file_atomic(dir / "metrics.json", root.dump(2) + "\n");
  }

  // timing.json: wall times live apart from metrics.json, so that metrics.json is byte-identical
  // between two runs of the same command (the determinism contract) while times are still kept.
  {
    json t = json::object();
    for (const ModelSummary& m : s.models) {
      json fl = json::array();
      for (const FoldSummary& f : m.folds)
        fl.push_back({{"repeat", f.repeat}, {"fold", f.fold}, {"epochs_run", f.epochs_run},
                      {"train_seconds", f.train_seconds}});
      t[m.model] = {{"train_seconds", m.train_seconds}, {"folds", fl}};
    }
    write_file_atomic(dir / "timing.json", t.dump(2) + "\n");
  }

  // summary.csv / summary.md
  {
    std::ostringstream o;
    o << "model,n_images,n_positive,n_repeats,n_folds";
    for (const char* k : kMetricNames) o << "," << k;
    o << ",ece,temperature\n";
    for (const ModelSummary& m : s.models) {
      o << csv_field(m.model) << "," << m.n_images << "," << m.n_positive << "," << m.n_repeats << "," << m.n_folds;
      for (const char* k : kMetricNames) o << "," << with_ci(find_metric(m.metrics, k));
      o << "," << with_ci(find_metric(m.calibration, "ece_after")) << "," << fixed3(m.temperature_mean) << " (SD "
        << fixed3(m.temperature_sd) << ")\n";
    }
    write_file_atomic(dir / "summary.csv", o.str());
    write_file_atomic(dir / "summary.md", "# Classification study\n\n" + format_study_tables(s));
  }

  // calibration.csv
  {
    std::ostringstream o;
    o << "model,stage,ece,ece_ci_low,ece_ci_high,mce,mce_ci_low,mce_ci_high,brier,brier_ci_low,brier_ci_high,"
         "temperature_mean,temperature_sd,bins\n";
    for (const ModelSummary& m : s.models)
      for (const char* stage : {"before", "after"}) {
        o << csv_field(m.model) << "," << stage;
        for (const char* k : {"ece", "mce", "brier"}) {
          const MetricSummary& v = find_metric(m.calibration, std::string(k) + "_" + stage);
          o << "," << num(v.value) << "," << num(v.ci_low) << "," << num(v.ci_high);
        }
        o << "," << num(m.temperature_mean) << "," << num(m.temperature_sd) << "," << s.options.calibration_bins
          << "\n";
      }
    write_file_atomic(dir / "calibration.csv", o.str());
  }

  // operating_points.csv
  {
    std::ostringstream o;
    o << "model,criterion,threshold_mean,threshold_sd,n_folds,n_failed";
    for (const char* k : kOperatingNames) o << "," << k << "," << k << "_ci_low," << k << "_ci_high";
    o << "\n";
    for (const ModelSummary& m : s.models)
      for (const OperatingPoint& p : m.operating_points) {
        o << csv_field(m.model) << "," << csv_field(p.criterion) << "," << num(p.threshold_mean) << ","
          << num(p.threshold_sd) << "," << p.n_folds << "," << p.n_failed;
        for (const MetricSummary* v : {&p.sensitivity, &p.specificity, &p.precision, &p.f1, &p.accuracy})
          o << "," << num(v->value) << "," << num(v->ci_low) << "," << num(v->ci_high);
        o << "\n";
      }
    write_file_atomic(dir / "operating_points.csv", o.str());
  }

  // comparisons.csv
  {
    std::ostringstream o;
    o << "model_a,model_b,auroc_a,auroc_b,diff,ci_low,ci_high,p_value,n_images,note\n";
    for (const ModelComparison& c : s.comparisons)
      o << csv_field(c.model_a) << "," << csv_field(c.model_b) << "," << num(c.auc_a) << "," << num(c.auc_b) << ","
        << num(c.diff) << "," << num(c.diff_low) << "," << num(c.diff_high) << "," << num(c.p_value) << ","
        << c.n_images << "," << csv_field(c.note) << "\n";
    write_file_atomic(dir / "comparisons.csv", o.str());
  }

  // curves.json: ROC / PR on the first repeat's pooled calibrated probabilities; reliability bins
  {
    json out = json::object();
    for (const StudyCurves& c : curves) {
      json j;
      j["repeat"] = c.repeat;
      j["score"] = "calibrated probability sigmoid(logit / T_fold)";
      if (c.has_roc) {
        j["roc"] = {{"fpr", c.roc.fpr}, {"tpr", c.roc.tpr}, {"thresholds", c.roc.thresholds}};
        j["pr"] = {{"precision", c.pr.precision}, {"recall", c.pr.recall}, {"thresholds", c.pr.thresholds}};
      } else {
        j["roc"] = nullptr;
        j["pr"] = nullptr;
        j["note"] = c.note;
      }
      j["reliability_before"] = reliability_json(c.before);
      j["reliability_after"] = reliability_json(c.after);
      out[c.model] = j;
    }
    write_file_atomic(dir / "curves.json", json{{"models", out}}.dump(2) + "\n");
  }
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
      const double t = find_fold(s, f).temperature;
      const std::vector<double> a = apply_temperature_binary(f.logits, 1.0);
      const std::vector<double> b = apply_temperature_binary(f.logits, t);
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
