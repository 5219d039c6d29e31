#include "fracture/report/study_files.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/report/classify_files.h"

namespace fracture {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

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

json metric_json(const MetricSummary& m) {
  return json{{"value", m.value},         {"ci_low", m.ci_low},   {"ci_high", m.ci_high},
              {"fold_mean", m.fold_mean}, {"fold_sd", m.fold_sd}, {"n_folds", m.n_folds},
              {"n_resamples", m.n_resamples}};
}

// The fitted calibration parameters of a model, mean (SD) over folds: "T 1.234 (0.101)",
// "A -0.812 (0.050), B 1.230 (0.120)" or "none".
std::string calibration_params(const StudySummary& s, const ModelSummary& m) {
  switch (s.options.calibration) {
    case CalibrationMethod::temperature:
      return "T " + fixed3(m.temperature_mean) + " (" + fixed3(m.temperature_sd) + ")";
    case CalibrationMethod::platt:
      return "A " + fixed3(m.platt_a_mean) + " (" + fixed3(m.platt_a_sd) + "), B " + fixed3(m.platt_b_mean) + " (" +
             fixed3(m.platt_b_sd) + ")";
    case CalibrationMethod::none: break;
  }
  return "none";
}

json reliability_json(const CalibrationReport& r) {
  json bins = json::array();
  for (const ReliabilityBin& b : r.bins)
    bins.push_back({{"lower", b.lower}, {"upper", b.upper}, {"count", b.count},
                    {"mean_confidence", b.mean_confidence}, {"accuracy", b.accuracy}});
  return json{{"ece", r.ece}, {"mce", r.mce}, {"bins", bins}};
}

// oof_predictions.csv: one row per (model, repeat, outer fold, image), in the order of `folds`
void write_oof_predictions(const fs::path& dir, const StudySummary& s, const std::vector<FoldPredictions>& folds) {
  std::ostringstream o;
  o << "image,patient,model,repeat,fold,logit,probability,calibrated_probability,label,calibration,temperature,"
       "platt_a,platt_b\n";
  for (const FoldPredictions& f : folds) {
    const Calibrator& c = fold_summary(s, f).calibration;
    const std::vector<double> p = Calibrator{}.apply(f.logits);
    const std::vector<double> pc = c.apply(f.logits);
    // the fold's calibrator: its method and the parameters it has (empty fields for the others)
    const std::string params =
        std::string(to_string(c.method)) + "," +
        (c.method == CalibrationMethod::temperature ? num(c.temperature) : "") + "," +
        (c.method == CalibrationMethod::platt ? num(c.a) + "," + num(c.b) : ",");
    for (size_t i = 0; i < f.images.size(); ++i)
      o << csv::field(f.images[i]) << "," << csv::field(f.patients.empty() ? "" : f.patients[i]) << ","
        << csv::field(f.model) << "," << f.repeat << "," << f.fold << "," << num(f.logits[i]) << "," << num(p[i])
        << "," << num(pc[i]) << "," << f.labels[i] << "," << params << "\n";
  }
  write_file_atomic(dir / "oof_predictions.csv", o.str());
}

// metrics.json
void write_metrics_json(const fs::path& dir, const StudySummary& s) {
  json models = json::object();
  for (const ModelSummary& m : s.models) {
    json j;
    for (const auto& [k, v] : m.metrics) j[k] = metric_json(v);
    j["ece"] = m.ece_after;
    j["temperature"] = m.temperature_mean;
    json cal;
    for (const char* stage : {"before", "after"}) {
      json st;
      for (const char* k : {"ece", "mce", "brier", "citl", "slope"})
        st[k] = metric_json(find_metric(m.calibration, std::string(k) + "_" + stage));
      cal[stage] = st;
    }
    cal["method"] = to_string(s.options.calibration);
    cal["bins"] = s.options.calibration_bins;
    cal["temperature_mean"] = m.temperature_mean;
    cal["temperature_sd"] = m.temperature_sd;
    cal["platt_a_mean"] = m.platt_a_mean;
    cal["platt_a_sd"] = m.platt_a_sd;
    cal["platt_b_mean"] = m.platt_b_mean;
    cal["platt_b_sd"] = m.platt_b_sd;
    cal["warning"] = m.calibration_warning;
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
                    {"calibration", report::calibrator_json(f.calibration)},
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
               {"calibration", to_string(s.options.calibration)},
               {"criteria", crit},
               {"ci_method", "stratified bootstrap over images, percentile"},
               {"pooling", "metric on each repeat's out-of-fold predictions, averaged over repeats"}};
  json root = {{"models", models}, {"comparisons", comps}, {"options", opts}};
  write_file_atomic(dir / "metrics.json", root.dump(2) + "\n");
}

// timing.json: wall times live apart from metrics.json, so that metrics.json is byte-identical
// between two runs of the same command (the determinism contract) while times are still kept.
void write_timing_json(const fs::path& dir, const StudySummary& s) {
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
void write_summary_tables(const fs::path& dir, const StudySummary& s) {
  std::ostringstream o;
  o << "model,n_images,n_positive,n_repeats,n_folds";
  for (const char* k : kStudyMetrics) o << "," << k;
  o << ",ece,calibration\n";
  for (const ModelSummary& m : s.models) {
    o << csv::field(m.model) << "," << m.n_images << "," << m.n_positive << "," << m.n_repeats << "," << m.n_folds;
    for (const char* k : kStudyMetrics) o << "," << with_ci(find_metric(m.metrics, k));
    o << "," << with_ci(find_metric(m.calibration, "ece_after")) << "," << csv::field(calibration_params(s, m))
      << "\n";
  }
  write_file_atomic(dir / "summary.csv", o.str());
  write_file_atomic(dir / "summary.md", "# Classification study\n\n" + format_study_tables(s));
}

// calibration.csv
void write_calibration_csv(const fs::path& dir, const StudySummary& s) {
  std::ostringstream o;
  const char* const figures[] = {"ece", "mce", "brier", "citl", "slope"};
  o << "model,stage";
  for (const char* k : figures) o << "," << k << "," << k << "_ci_low," << k << "_ci_high";
  o << ",method,temperature_mean,temperature_sd,platt_a_mean,platt_a_sd,platt_b_mean,platt_b_sd,bins\n";
  for (const ModelSummary& m : s.models)
    for (const char* stage : {"before", "after"}) {
      o << csv::field(m.model) << "," << stage;
      for (const char* k : figures) {
        const MetricSummary& v = find_metric(m.calibration, std::string(k) + "_" + stage);
        o << "," << num(v.value) << "," << num(v.ci_low) << "," << num(v.ci_high);
      }
      o << "," << to_string(s.options.calibration) << "," << num(m.temperature_mean) << "," << num(m.temperature_sd)
        << "," << num(m.platt_a_mean) << "," << num(m.platt_a_sd) << "," << num(m.platt_b_mean) << ","
        << num(m.platt_b_sd) << "," << s.options.calibration_bins << "\n";
    }
  write_file_atomic(dir / "calibration.csv", o.str());
}

// operating_points.csv
void write_operating_points_csv(const fs::path& dir, const StudySummary& s) {
  std::ostringstream o;
  o << "model,criterion,threshold_mean,threshold_sd,n_folds,n_failed";
  for (const char* k : kStudyOperating) o << "," << k << "," << k << "_ci_low," << k << "_ci_high";
  o << "\n";
  for (const ModelSummary& m : s.models)
    for (const OperatingPoint& p : m.operating_points) {
      o << csv::field(m.model) << "," << csv::field(p.criterion) << "," << num(p.threshold_mean) << ","
        << num(p.threshold_sd) << "," << p.n_folds << "," << p.n_failed;
      for (const MetricSummary* v : {&p.sensitivity, &p.specificity, &p.precision, &p.f1, &p.accuracy})
        o << "," << num(v->value) << "," << num(v->ci_low) << "," << num(v->ci_high);
      o << "\n";
    }
  write_file_atomic(dir / "operating_points.csv", o.str());
}

// comparisons.csv
void write_comparisons_csv(const fs::path& dir, const StudySummary& s) {
  std::ostringstream o;
  o << "model_a,model_b,auroc_a,auroc_b,diff,ci_low,ci_high,p_value,n_images,note\n";
  for (const ModelComparison& c : s.comparisons)
    o << csv::field(c.model_a) << "," << csv::field(c.model_b) << "," << num(c.auc_a) << "," << num(c.auc_b) << ","
      << num(c.diff) << "," << num(c.diff_low) << "," << num(c.diff_high) << "," << num(c.p_value) << ","
      << c.n_images << "," << csv::field(c.note) << "\n";
  write_file_atomic(dir / "comparisons.csv", o.str());
}

// curves.json: ROC / PR on the first repeat's pooled calibrated probabilities; reliability bins
void write_curves_json(const fs::path& dir, const std::vector<StudyCurves>& curves) {
  json out = json::object();
  for (const StudyCurves& c : curves) {
    json j;
    j["repeat"] = c.repeat;
    j["score"] = "calibrated probability (each fold's calibrator)";
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

}  // namespace

std::string format_study_tables(const StudySummary& s) {
  std::ostringstream o;
  const int level = static_cast<int>(std::lround(s.options.confidence * 100));
  o << "### Classification (pooled out-of-fold, mean over repeats; " << level << "% bootstrap CI)\n\n";
  o << "| model | images (pos) | repeats x folds | AUROC | AP | Brier | accuracy | precision | recall | specificity "
       "| F1 | ECE | calibration |\n";
  o << "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const ModelSummary& m : s.models) {
    o << "| " << m.model << " | " << m.n_images << " (" << m.n_positive << ") | " << m.n_repeats << " x "
      << (m.n_repeats ? m.n_folds / m.n_repeats : 0) << " |";
    for (const char* k : kStudyMetrics) o << " " << with_ci(find_metric(m.metrics, k)) << " |";
    o << " " << with_ci(find_metric(m.calibration, "ece_after")) << " | " << calibration_params(s, m) << " |\n";
  }
  const std::string method = to_string(s.options.calibration);
  o << "\nAUROC and AP on logits; Brier on calibrated probabilities (" << method
    << "); accuracy to F1 at 0.5 on them.\n";

  o << "\n### Calibration on outer folds (before -> after " << method
    << " calibration, fitted per fold on inner validation; " << s.options.calibration_bins << " bins)\n\n";
  o << "| model | ECE before | ECE after | MCE before | MCE after | Brier before | Brier after | intercept before "
       "| intercept after | slope before | slope after | fitted (mean, SD) |\n";
  o << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const ModelSummary& m : s.models) {
    o << "| " << m.model << " |";
    for (const char* k : kStudyCalibration) o << " " << with_ci(find_metric(m.calibration, k)) << " |";
    o << " " << calibration_params(s, m) << " |\n";
  }
  o << "\nIntercept: calibration-in-the-large (0 is ideal; below 0 the probabilities are too high). Slope: "
       "calibration slope (1 is ideal; below 1 too extreme). MCE is the largest bin gap; being a maximum, its "
       "percentile interval can miss the point value.\n";
  for (const ModelSummary& m : s.models)
    if (!m.calibration_warning.empty()) o << "\n**Warning:** " << m.calibration_warning << ".\n";

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
  write_oof_predictions(dir, s, folds);
  write_metrics_json(dir, s);
  write_timing_json(dir, s);
  write_summary_tables(dir, s);
  write_calibration_csv(dir, s);
  write_operating_points_csv(dir, s);
  write_comparisons_csv(dir, s);
  write_curves_json(dir, curves);
}

}  // namespace fracture
