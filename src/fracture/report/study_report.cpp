#include "fracture/report/study_report.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/json_file.h"
#include "fracture/core/fs.h"

namespace fracture::report {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string f3(double v) {
  if (!std::isfinite(v)) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}
std::string pval(double p) {
  if (!std::isfinite(p)) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, p < 0.001 ? "%.1e" : "%.3f", p);
  return b;
}
std::string ci(const BootstrapResult& r) { return f3(r.estimate) + " (" + f3(r.lower) + "-" + f3(r.upper) + ")"; }


// detection.csv: model, split, then the rows of each run's metrics.csv (class, images, instances, P,
// R, mAP50, mAP50-95), "all" first.
std::string detection_table(const StudyReportInput& in, std::string& md) {
  std::string o = csv::line({"model", "split", "class", "images", "instances", "precision", "recall", "map50",
                             "map50_95"});
  md += "| model | split | class | images | instances | P | R | mAP50 | mAP50-95 |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const StudyDetector& d : in.detectors)
    for (const auto& [split, run] : {std::pair<std::string, fs::path>{"val", d.train_run}, {"test", d.test_run}}) {
      const fs::path f = run / "metrics.csv";
      FRACTURE_CHECK(fs::is_regular_file(f), f.string(), ": missing (the stage did not finish)");
      const auto rows = csv::parse(read_file(f), f.string());
      for (size_t r = 1; r < rows.size(); ++r) {
        std::vector<std::string> row = {d.size, split};
        row.insert(row.end(), rows[r].fields.begin(), rows[r].fields.end());
        o += csv::line(row);
        const auto& x = rows[r].fields;
        if (x.size() < 7) continue;
        md += "| " + d.size + " | " + split + " | " + x[0] + " | " + x[1] + " | " + x[2];
        for (size_t k = 3; k < 7; ++k) md += " | " + f3(std::stod(x[k]));
        md += " |\n";
      }
    }
  return o;
}

// The comparison: compare.csv rows, compare.json, and the Markdown tables.
void write_compare(const StudyReportInput& in, std::string& md) {
  const CompareResult& c = in.compare;
  std::string o = "name,kind,score,val_auroc,threshold";
  for (const auto& [k, v] : c.scores.front().metrics) o += "," + k + "," + k + "_ci_low," + k + "_ci_high";
  o += "\n";
  json scores = json::array();
  md += "| score | kind | AUROC | AP | Brier | sensitivity | specificity | F1 | threshold (val) |\n"
        "|---|---|---|---|---|---|---|---|---|\n";
  for (const ScoreResult& s : c.scores) {
    o += csv::field(s.name) + "," + s.kind + "," + csv::field(s.score) + "," + csv::number(s.val_auroc) + "," +
         csv::number(s.threshold);
    json m = json::object();
    for (const auto& [k, v] : s.metrics) {
      o += "," + csv::number(v.estimate) + "," + csv::number(v.lower) + "," + csv::number(v.upper);
      m[k] = {{"value", v.estimate}, {"ci_low", v.lower}, {"ci_high", v.upper}};
    }
    o += "\n";
    scores.push_back({{"name", s.name}, {"kind", s.kind}, {"score", s.score}, {"val_auroc", s.val_auroc},
                      {"threshold", s.threshold}, {"metrics", m}});
    md += "| " + s.name + " | " + s.kind + " | " + ci(score_metric(s, "auroc")) + " | " + ci(score_metric(s, "ap")) +
          " | " + ci(score_metric(s, "brier")) + " | " + ci(score_metric(s, "recall")) + " | " +
          ci(score_metric(s, "specificity")) + " | " + ci(score_metric(s, "f1")) + " | " + f3(s.threshold) + " |\n";
  }
  md += "\n| A | B | AUROC A | AUROC B | A - B (95% CI) | DeLong p |\n|---|---|---|---|---|---|\n";
  json tests = json::array();
  std::string t = "a,b,auroc_a,auroc_b,diff,ci_low,ci_high,p_value,note\n";
  for (const ModelComparison& p : c.tests) {
    md += "| " + p.model_a + " | " + p.model_b + " | " + f3(p.auc_a) + " | " + f3(p.auc_b) + " | " + f3(p.diff) + " (" +
          f3(p.diff_low) + " to " + f3(p.diff_high) + ") | " + pval(p.p_value) + " |\n";
    tests.push_back({{"a", p.model_a}, {"b", p.model_b}, {"auroc_a", p.auc_a}, {"auroc_b", p.auc_b}, {"diff", p.diff},
                     {"ci_low", p.diff_low}, {"ci_high", p.diff_high}, {"p_value", p.p_value}, {"note", p.note}});
    t += csv::line({p.model_a, p.model_b, csv::number(p.auc_a), csv::number(p.auc_b), csv::number(p.diff),
                    csv::number(p.diff_low), csv::number(p.diff_high), csv::number(p.p_value), p.note});
  }
  json fusion = nullptr;
  if (c.fused)
    fusion = {{"classifier", c.fused_classifier}, {"detector", c.fused_detector},
              {"coef", c.fusion.coef}, {"intercept", c.fusion.intercept},
              {"model", "logistic regression (L2, C=1) on logit(classifier p), logit(detector score); fitted on val"}};
  json j = {{"n_val", c.n_val}, {"n_val_positive", c.n_val_positive}, {"n_test", c.n_test},
            {"n_test_positive", c.n_test_positive}, {"val_not_classified", in.val_not_classified},
            {"test_not_classified", in.test_not_classified}, {"scores", scores}, {"tests", tests},
            {"fusion", fusion}, {"fusion_note", c.fusion_note},
            {"protocol", "thresholds (Youden), the fused pair and the fusion model fitted on the detection val "
                         "images; every figure on the detection test images; CIs: stratified bootstrap, 2000 "
                         "resamples; p: DeLong"}};
  write_file_atomic(in.study / "compare.csv", o);
  write_file_atomic(in.study / "compare_tests.csv", t);
  write_file_atomic(in.study / "compare.json", j.dump(2) + "\n");
}

// The findings in words, from the numbers.
// An external row's development (internal) value of figure `key`; NaN when it has none.
double internal_value(const ExternalRow& r, const std::string& key) {
  for (const auto& [k, v] : r.internal)
    if (k == key) return v;
  return std::nan("");
}

std::string findings(const StudyReportInput& in, const json& cls) {
  std::ostringstream o;
  const json& models = cls.at("models");
  const std::string best = best_classifier(cls);
  FRACTURE_CHECK(!best.empty(), "study: no classifier has a cross-validated AUROC");
  const json& b = models.at(best);
  const double best_auc = b.at("auroc").at("value").get<double>();
  o << "- **Best classifier: " << best << "**, cross-validated AUROC " << f3(best_auc) << " (95% CI "
    << f3(b.at("auroc").at("ci_low").get<double>()) << "-" << f3(b.at("auroc").at("ci_high").get<double>()) << ")";
  for (const json& c : cls.at("comparisons")) {
    const std::string a = c.at("model_a"), bb = c.at("model_b");
    if (a != best && bb != best) continue;
    const double p = c.at("p_value").is_number() ? c.at("p_value").get<double>() : NAN;
    o << "; against " << (a == best ? bb : a) << " DeLong p = " << pval(p);
  }
  o << ".\n";
  const json& cal = b.at("calibration");
  o << "- **Calibration** (" << cal.at("method").get<std::string>() << "): ECE "
    << f3(cal.at("before").at("ece").at("value").get<double>()) << " before, "
    << f3(cal.at("after").at("ece").at("value").get<double>()) << " after; calibration intercept "
    << f3(cal.at("after").at("citl").at("value").get<double>()) << " and slope "
    << f3(cal.at("after").at("slope").at("value").get<double>()) << " after (ideal 0 and 1).";
  if (!cal.at("warning").get<std::string>().empty()) o << " **" << cal.at("warning").get<std::string>() << ".**";
  o << "\n";
  if (const json* op = operating_point(b, "youden"))
    o << "- **Operating point** (Youden's J, chosen per fold on inner validation): threshold "
      << f3(op->at("threshold_mean").get<double>()) << ", sensitivity "
      << f3(op->at("sensitivity").at("value").get<double>()) << ", specificity "
      << f3(op->at("specificity").at("value").get<double>()) << ".\n";
  if (in.has_compare) {
    const CompareResult& c = in.compare;
    for (const ModelComparison& p : c.tests) {
      if (p.model_b != best || p.model_a == "fused") continue;
      const bool sig = std::isfinite(p.p_value) && p.p_value < 0.05;
      o << "- **Detector " << p.model_a << " against classifier " << best << "** on the same " << c.n_test
        << " test images: AUROC " << f3(p.auc_a) << " vs " << f3(p.auc_b) << " (p = " << pval(p.p_value) << "): "
        << (sig ? (p.diff > 0 ? "the detector is better" : "the classifier is better")
                : "no significant difference")
        << ".\n";
    }
    if (c.fused)
      for (const ModelComparison& p : c.tests)
        if (p.model_a == "fused" && p.model_b == c.fused_classifier)
          o << "- **Fused score** (" << c.fused_classifier << " + " << c.fused_detector << "): AUROC " << f3(p.auc_a)
            << " against " << f3(p.auc_b) << " for the classifier alone (p = " << pval(p.p_value) << ").\n";
  }
  if (in.pointing && in.pointing->n_images > 0)
    o << "- **Explanation**: the Grad-CAM peak of " << in.pointing->model << " fell inside a fracture box in "
      << in.pointing->hits << " of " << in.pointing->n_images << " test images ("
      << f3(double(in.pointing->hits) / in.pointing->n_images) << "; chance " << f3(in.pointing->chance) << ").\n";
  for (const ExternalRow& r : in.external) {
    if (r.name != best) continue;
    const double ext = named_figure(r.figures, "auroc", r.name).estimate, intl = internal_value(r, "auroc");
    o << "- **External validation** (" << in.n_external << " images): " << best << " AUROC " << f3(ext) << " against "
      << f3(intl) << " internally (change " << f3(ext - intl) << ").\n";
  }
  return o.str();
}

// external.csv / external.json and the Markdown section: every figure external vs internal.
void write_external(const StudyReportInput& in, std::string& md) {
  md += "\n## External validation\n\n`" + in.external_data + "`: " + std::to_string(in.n_external) + " images (" +
        std::to_string(in.n_external_positive) +
        " fractured), scored with the frozen development models: each classifier is the mean calibrated "
        "probability of its cross-validation fold models (weights and calibrators as fitted on the development "
        "data), judged at the development Youden threshold (mean over folds); nothing is refitted.\n\n"
        "| model | threshold | AUROC | AP | Brier | sensitivity | specificity | ECE | intercept | slope | AUROC change |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::string o = "model,key,external,ci_low,ci_high,internal,change\n";
  json rows = json::array();
  for (const ExternalRow& r : in.external) {
    auto internal = [&](const std::string& k) { return internal_value(r, k); };
    auto fig = [&](const std::string& k) -> const BootstrapResult& { return named_figure(r.figures, k, r.name); };
    json figs = json::object();
    for (const auto& [k, v] : r.figures) {
      const double i = internal(k);
      o += csv::line({r.name, k, csv::number(v.estimate), csv::number(v.lower), csv::number(v.upper), csv::number(i),
                      csv::number(v.estimate - i)});
      figs[k] = {{"value", v.estimate}, {"ci_low", v.lower}, {"ci_high", v.upper}, {"internal", i},
                 {"change", v.estimate - i}};
    }
    rows.push_back({{"model", r.name}, {"threshold", r.threshold}, {"figures", figs}});
    const double d = fig("auroc").estimate - internal("auroc");
    md += "| " + r.name + " | " + f3(r.threshold) + " | " + ci(fig("auroc")) + " | " + ci(fig("ap")) + " | " +
          ci(fig("brier")) + " | " + ci(fig("recall")) + " | " + ci(fig("specificity")) + " | " + ci(fig("ece")) +
          " | " + ci(fig("citl")) + " | " + ci(fig("slope")) + " | " + (d >= 0 ? "+" : "") + f3(d) + " |\n";
  }
  md += "\nChange: external minus internal (cross-validated) value. Intercept and slope: calibration-in-the-large "
        "and calibration slope on the external images (ideal 0 and 1).\n";
  json dets = json::array();
  if (!in.external_detectors.empty()) {
    md += "\n| detector | P | R | mAP50 | mAP50-95 | internal test mAP50-95 |\n|---|---|---|---|---|---|\n";
    for (const StudyDetector& d : in.external_detectors) {
      auto all_row = [](const fs::path& run) {
        const auto rows = csv::parse(read_file(run / "metrics.csv"), (run / "metrics.csv").string());
        FRACTURE_CHECK(rows.size() >= 2 && rows[1].fields.size() >= 7, (run / "metrics.csv").string(), ": no 'all' row");
        return rows[1].fields;
      };
      const auto e = all_row(d.test_run), i = all_row(d.train_run);
      md += "| " + d.size + " | " + f3(std::stod(e[3])) + " | " + f3(std::stod(e[4])) + " | " + f3(std::stod(e[5])) +
            " | " + f3(std::stod(e[6])) + " | " + f3(std::stod(i[6])) + " |\n";
      dets.push_back({{"model", d.size}, {"precision", std::stod(e[3])}, {"recall", std::stod(e[4])},
                      {"map50", std::stod(e[5])}, {"map50_95", std::stod(e[6])},
                      {"internal_test_map50_95", std::stod(i[6])},
                      {"run", fs::relative(d.test_run, in.study).generic_string()}});
    }
  }
  write_file_atomic(in.study / "external.csv", o);
  write_file_atomic(in.study / "external.json",
                    json{{"data", in.external_data}, {"n_images", in.n_external},
                         {"n_positive", in.n_external_positive}, {"classifiers", rows}, {"detectors", dets}}
                            .dump(2) + "\n");
}

}  // namespace

json read_stage_json(const fs::path& f) {
  FRACTURE_CHECK(fs::is_regular_file(f), f.string(), ": missing (the stage did not finish)");
  return read_json_file(f);
}

std::string best_classifier(const json& cls) {
  std::string best;
  double best_auc = -1;
  for (const auto& [name, m] : cls.at("models").items())
    if (m.at("auroc").at("value").is_number() && m.at("auroc").at("value").get<double>() > best_auc) {
      best_auc = m.at("auroc").at("value").get<double>();
      best = name;
    }
  return best;
}

const json* operating_point(const json& model, const std::string& criterion) {
  for (const json& op : model.at("operating_points"))
    if (op.at("criterion") == criterion) return &op;
  return nullptr;
}

std::string best_detector(const fs::path& study, const std::vector<std::string>& sizes) {
  std::string best;
  double best_map = -1;
  for (const std::string& s : sizes) {
    const fs::path m = study / "detect" / s / "metrics.json";
    if (!fs::is_regular_file(m)) continue;
    const double v = read_stage_json(m).at("map50_95").get<double>();
    if (v > best_map) {
      best_map = v;
      best = s;
    }
  }
  return best;
}

std::string write_study_report(const StudyReportInput& in) {
  const json cls = read_stage_json(in.classify_run / "metrics.json");
  std::string md = "# Fracture study\n\n";
  const Config& cfg = *in.cfg;
  const fs::path data = cfg.str("data");
  const bool synthetic = fs::exists(data.parent_path() / ".fracture-synth");
  md += "Data: `" + data.string() + "`" + (synthetic ? " (synthetic radiographs from `fracture synth`)" : "") +
        ". Scale: classifiers " + cfg.str("folds") + "-fold x " + cfg.str("repeats") + " repeats, " +
        cfg.str("epochs") + " epochs at " + cfg.str("imgsz") + " px; detectors " +
        (cfg.is_null("det_epochs") ? cfg.str("epochs") : cfg.str("det_epochs")) + " epochs at " +
        cfg.str("det_imgsz") + " px.\n\n## Findings\n\n";
  if (synthetic)
    md += "> These numbers come from synthetic images at a reduced schedule: they show that the protocol runs "
          "end to end, not how well any model finds real fractures.\n\n";
  md += findings(in, cls);
  md += "\n## Classification (cross-validated)\n\n";
  const fs::path cls_md = in.classify_run / "summary.md";
  if (fs::is_regular_file(cls_md)) {
    std::string t = read_file(cls_md);
    const size_t nl = t.find('\n');  // drop its "# Classification study" title
    md += nl == std::string::npos ? t : t.substr(nl + 1);
  }
  if (!in.detectors.empty()) {
    md += "\n## Detection (val: best weights after training; test: the same weights)\n\n";
    write_file_atomic(in.study / "detection.csv", detection_table(in, md));
  }
  if (in.has_compare) {
    const CompareResult& c = in.compare;
    md += "\n## Detector against classifier on the same images\n\n";
    md += "Test images: " + std::to_string(c.n_test) + " (" + std::to_string(c.n_test_positive) +
          " fractured); val images (thresholds, fused pair and fusion model): " + std::to_string(c.n_val) + " (" +
          std::to_string(c.n_val_positive) + " fractured). Classifier score: its calibrated out-of-fold probability "
          "(each image scored by the fold model that did not train on it); detector score: the highest box "
          "confidence of any class, 0 without a box.";
    if (in.val_not_classified + in.test_not_classified > 0)
      md += " " + std::to_string(in.val_not_classified + in.test_not_classified) +
            " detection images have no classifier score (different image sets): compared on the common images only.";
    md += "\n\n";
    write_compare(in, md);
  }
  if (in.has_external) write_external(in, md);
  if (in.pointing) {
    const StudyPointing& p = *in.pointing;
    md += "\n## Explanation: Grad-CAM pointing game\n\n" + p.model + " (the best classifier), each detection test image "
          "with a fracture box explained by the cross-validation fold model that did not train on it (repeat 0), "
          "Grad-CAM on " + (p.layer.empty() ? std::string("its last feature map") : "layer " + p.layer) +
          ": the map's peak fell inside a true fracture box in " +
          std::to_string(p.hits) + " of " + std::to_string(p.n_images) + " images (" +
          (p.n_images ? f3(double(p.hits) / p.n_images) : std::string("n/a")) + "); a peak placed at random would "
          "land in a box " + f3(p.chance) + " of the time (the boxes' mean share of the image).\n";
    write_file_atomic(in.study / "pointing_game.json",
                      json{{"model", p.model}, {"n_images", p.n_images}, {"hits", p.hits},
                           {"hit_rate", p.n_images ? double(p.hits) / p.n_images : NAN}, {"chance", p.chance},
                           {"method", "Grad-CAM peak inside a fracture box; out-of-fold model per image"}}
                          .dump(2) + "\n");
  }
  write_file_atomic(in.study / "summary.md", md);
  return md;
}

}  // namespace fracture::report
