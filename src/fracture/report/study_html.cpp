#include "fracture/report/study_html.h"

#include <algorithm>
#include <map>

#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/json_file.h"
#include "fracture/core/fs.h"
#include "fracture/report/plot.h"

namespace fracture::report {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json base_spec(const std::string& title) {
  return {{"$schema", "https://vega.github.io/schema/vega-lite/v6.json"},
          {"title", title},
          {"width", 320},
          {"height", 240},
          {"config", {{"legend", {{"orient", "bottom"}, {"columns", 2}}}}}};
}

json axis(const std::string& field, const std::string& title, bool unit_range) {
  json e = {{"field", field}, {"type", "quantitative"}, {"title", title}};
  if (unit_range) e["scale"] = {{"domain", {0, 1}}};
  return e;
}

json diagonal() {
  return {{"data", {{"values", {{{"a", 0}, {"b", 0}}, {{"a", 1}, {"b", 1}}}}}},
          {"mark", {{"type", "line"}, {"color", "#999"}, {"strokeDash", {4, 4}}}},
          {"encoding", {{"x", {{"field", "a"}, {"type", "quantitative"}}}, {"y", {{"field", "b"}, {"type", "quantitative"}}}}}};
}

json epoch_axis() {
  return {{"field", "epoch"}, {"type", "quantitative"}, {"title", "epoch"}, {"axis", {{"format", "d"}, {"tickMinStep", 1}}}};
}

json nominal(const std::string& field, const std::string& title) {
  return {{"field", field}, {"type", "nominal"}, {"title", title}};
}

// A CSV file as header -> column of numbers (cells that are not numbers: NaN).
std::map<std::string, std::vector<double>> numeric_csv(const fs::path& f) {
  std::map<std::string, std::vector<double>> cols;
  const auto rows = csv::parse(read_file(f), f.string());
  if (rows.empty()) return cols;
  for (size_t r = 1; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[0].fields.size() && c < rows[r].fields.size(); ++c) {
      char* end = nullptr;
      const std::string& s = rows[r].fields[c];
      const double v = std::strtod(s.c_str(), &end);
      cols[rows[0].fields[c]].push_back(end && *end == '\0' && !s.empty() ? v : NAN);
    }
  return cols;
}

std::vector<Figure> classification_figures(const fs::path& study) {
  std::vector<Figure> out;
  const fs::path cv = study / "classify" / "cv";
  if (!fs::is_regular_file(cv / "curves.json")) return out;
  const json curves = read_json_file(cv / "curves.json").at("models");
  json roc = json::array(), pr = json::array(), rel = json::array(), thr = json::array();
  std::vector<Series> thr_series;
  for (const auto& [model, c] : curves.items()) {
    const auto& fpr = c.at("roc").at("fpr");
    const auto& tpr = c.at("roc").at("tpr");
    const auto& th = c.at("roc").at("thresholds");
    Series sens{model + " sensitivity", {}, {}}, spec{model + " specificity", {}, {}};
    for (size_t i = 0; i < fpr.size(); ++i) {
      roc.push_back({{"model", model}, {"fpr", fpr[i]}, {"tpr", tpr[i]}});
      const double t = th[i].get<double>();
      if (t < 0 || t > 1) continue;  // the curve's start (threshold above every score)
      thr.push_back({{"model", model}, {"threshold", t}, {"measure", "sensitivity"}, {"value", tpr[i]}});
      thr.push_back({{"model", model}, {"threshold", t}, {"measure", "specificity"}, {"value", 1.0 - fpr[i].get<double>()}});
      sens.x.push_back(t);
      sens.y.push_back(tpr[i].get<double>());
      spec.x.push_back(t);
      spec.y.push_back(1.0 - fpr[i].get<double>());
    }
    thr_series.push_back(sens);
    thr_series.push_back(spec);
    const auto& p = c.at("pr");
    for (size_t i = 0; i < p.at("recall").size(); ++i)
      pr.push_back({{"model", model}, {"recall", p.at("recall")[i]}, {"precision", p.at("precision")[i]}});
    for (const char* stage : {"before", "after"})
      for (const json& b : c.at(std::string("reliability_") + stage).at("bins"))
        if (b.at("count").get<int>() > 0)
          rel.push_back({{"model", model}, {"calibration", stage}, {"confidence", b.at("mean_confidence")},
                         {"observed", b.at("accuracy")}, {"images", b.at("count")}});
  }
  auto line_chart = [](const std::string& title, const json& values, json x, json y, json extra) {
    json s = base_spec(title);
    json layer = {{"data", {{"values", values}}}, {"mark", {{"type", "line"}}},
                  {"encoding", {{"x", x}, {"y", y}, {"color", nominal("model", "model")}}}};
    for (auto& [k, v] : extra.items()) layer["encoding"][k] = v;
    s["layer"] = {layer, diagonal()};
    return s;
  };
  out.push_back({"roc", "ROC curves", "Out-of-fold calibrated probabilities, pooled over folds (repeat 0).",
                 line_chart("ROC", roc, axis("fpr", "1 - specificity", true), axis("tpr", "sensitivity", true), json::object()),
                 "classify/cv/roc_curve.png", ""});
  json prs = base_spec("Precision-recall");
  prs["data"] = {{"values", pr}};
  prs["mark"] = "line";
  prs["encoding"] = {{"x", axis("recall", "recall", true)}, {"y", axis("precision", "precision", true)},
                     {"color", nominal("model", "model")}};
  out.push_back({"pr", "Precision-recall curves", "Out-of-fold, as the ROC curves.", prs, "classify/cv/pr_curve.png", ""});
  json rs = line_chart("Reliability", rel, axis("confidence", "mean predicted probability", true),
                       axis("observed", "observed fracture rate", true),
                       {{"strokeDash", nominal("calibration", "calibration")}});
  rs["layer"][0]["mark"] = {{"type", "line"}, {"point", true}};
  rs["layer"][0]["encoding"]["tooltip"] = {{{"field", "images"}, {"type", "quantitative"}}};
  out.push_back({"reliability", "Reliability diagrams",
                 "Outer-fold probabilities before and after calibration, 15 equal-width bins (empty bins left out); "
                 "the dashed diagonal is perfect calibration.",
                 rs, "classify/cv/reliability_diagram.png", ""});
  json ts = base_spec("Threshold curves");
  ts["data"] = {{"values", thr}};
  ts["mark"] = "line";
  ts["encoding"] = {{"x", axis("threshold", "threshold on the calibrated probability", true)},
                    {"y", axis("value", "rate", true)}, {"color", nominal("model", "model")},
                    {"strokeDash", nominal("measure", "measure")}};
  PlotOptions po;
  po.title = "Sensitivity and specificity against the threshold";
  po.xlabel = "threshold on the calibrated probability";
  po.ylabel = "rate";
  fs::create_directories(study / "figures");
  write_png_atomic(line_plot(thr_series, po), study / "figures" / "threshold_curves.png");
  out.push_back({"threshold", "Threshold curves", "Sensitivity and specificity of the pooled out-of-fold probabilities.",
                 ts, "figures/threshold_curves.png", ""});
  // training: every fold's losses per epoch
  json tr = json::array();
  std::vector<Series> tr_series;
  double ymax = 0;
  if (fs::is_directory(cv / "folds"))
    for (const auto& m : fs::directory_iterator(cv / "folds")) {
      std::vector<fs::path> folds;
      for (const auto& f : fs::directory_iterator(m.path()))
        if (fs::is_regular_file(f.path() / "results.csv")) folds.push_back(f.path());
      std::sort(folds.begin(), folds.end());
      for (const fs::path& f : folds) {
        auto cols = numeric_csv(f / "results.csv");
        const std::string model = m.path().filename().string(), fold = f.filename().string();
        for (const char* k : {"train_loss", "val_loss"}) {
          Series s{model + " " + fold + " " + k, cols["epoch"], cols[k]};
          for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
            if (std::isnan(s.y[i])) continue;
            tr.push_back({{"model", model}, {"fold", fold}, {"loss", k}, {"epoch", s.x[i]}, {"value", s.y[i]}});
            ymax = std::max(ymax, s.y[i]);
          }
          if (s.x.size() == s.y.size()) tr_series.push_back(s);
        }
      }
    }
  if (!tr.empty()) {
    json s = base_spec("Classifier training");
    s["data"] = {{"values", tr}};
    s["mark"] = {{"type", "line"}, {"point", true}};
    s["encoding"] = {{"x", epoch_axis()},
                     {"y", {{"field", "value"}, {"type", "quantitative"}, {"title", "loss (BCE)"}}},
                     {"color", nominal("model", "model")}, {"strokeDash", nominal("loss", "loss")},
                     {"detail", nominal("fold", "fold")}};
    PlotOptions to;
    to.title = "Classifier training (each fold)";
    to.xlabel = "epoch";
    to.ylabel = "loss";
    to.xmin = 1;
    double emax = 1;
    for (const Series& x : tr_series)
      for (double e : x.x) emax = std::max(emax, e);
    to.xmax = std::max(2.0, emax);
    to.ymax = std::max(0.1, ymax * 1.05);
    write_png_atomic(line_plot(tr_series, to), study / "figures" / "classifier_training.png");
    out.push_back({"cls-training", "Classifier training", "Training and validation loss per epoch, every fold (inner split).",
                   s, "figures/classifier_training.png", ""});
  }
  return out;
}

std::vector<Figure> detection_figures(const fs::path& study, const std::string& size) {
  std::vector<Figure> out;
  const fs::path run = study / "detect" / size;
  if (fs::is_regular_file(run / "curves.json")) {
    const json c = read_json_file(run / "curves.json");
    json v = json::array();
    const auto& grid = c.at("recall_grid");
    for (size_t k = 0; k < c.at("classes").size(); ++k)
      for (size_t i = 0; i < grid.size(); i += 10)
        v.push_back({{"class", c.at("classes")[k]}, {"recall", grid[i]}, {"precision", c.at("pr_curve_iou50")[k][i]}});
    json s = base_spec(size + ": precision-recall (val, IoU 0.5)");
    s["data"] = {{"values", v}};
    s["mark"] = "line";
    s["encoding"] = {{"x", axis("recall", "recall", true)}, {"y", axis("precision", "precision", true)},
                     {"color", nominal("class", "class")}};
    out.push_back({size + "-pr", size + " precision-recall", "Val split, best weights, per class with labels, IoU 0.5.",
                   s, "detect/" + size + "/PR_curve.png", ""});
  }
  if (fs::is_regular_file(run / "results.csv")) {
    auto cols = numeric_csv(run / "results.csv");
    json v = json::array();
    std::vector<Series> series;
    for (const auto& [key, name] : {std::pair<std::string, std::string>{"metrics/mAP50(B)", "mAP50"},
                                    {"metrics/mAP50-95(B)", "mAP50-95"}}) {
      Series sr{name, cols["epoch"], cols[key]};
      for (size_t i = 0; i < sr.x.size() && i < sr.y.size(); ++i)
        v.push_back({{"epoch", sr.x[i]}, {"measure", name}, {"value", sr.y[i]}});
      series.push_back(sr);
    }
    json s = base_spec(size + ": validation mAP per epoch");
    s["data"] = {{"values", v}};
    s["mark"] = {{"type", "line"}, {"point", true}};
    s["encoding"] = {{"x", epoch_axis()},
                     {"y", {{"field", "value"}, {"type", "quantitative"}, {"title", "mAP (EMA weights)"}}},
                     {"color", nominal("measure", "")}};
    PlotOptions po;
    po.title = size + ": validation mAP per epoch";
    po.xlabel = "epoch";
    po.ylabel = "mAP";
    po.xmin = 1;
    po.xmax = std::max<double>(2.0, double(cols["epoch"].size()));
    fs::create_directories(study / "figures");
    write_png_atomic(line_plot(series, po), study / "figures" / (size + "_training.png"));
    out.push_back({size + "-training", size + " training", "Val mAP of the EMA weights after each epoch (results.csv).",
                   s, "figures/" + size + "_training.png", ""});
  }
  if (fs::is_regular_file(run / "metrics.json")) {
    const json cm = read_json_file(run / "metrics.json").at("confusion_matrix");
    const auto& names = cm.at("names");
    json v = json::array();
    for (size_t p = 0; p < names.size(); ++p)
      for (size_t t = 0; t < names.size(); ++t)
        v.push_back({{"predicted", names[p]}, {"true", names[t]}, {"count", cm.at("matrix_pred_by_true")[p][t]}});
    json s = base_spec(size + ": confusion matrix (val)");
    s["data"] = {{"values", v}};
    const json x = {{"field", "true"}, {"type", "nominal"}, {"sort", names}};
    const json y = {{"field", "predicted"}, {"type", "nominal"}, {"sort", names}};
    json rect = {{"mark", "rect"},
                 {"encoding", {{"x", x}, {"y", y},
                               {"color", {{"field", "count"}, {"type", "quantitative"}, {"scale", {{"scheme", "blues"}}}}}}}};
    json text = {{"mark", {{"type", "text"}, {"fontSize", 10}}},
                 {"encoding", {{"x", x}, {"y", y}, {"text", {{"field", "count"}, {"type", "quantitative"}}}}}};
    s["layer"] = json::array({rect, text});
    out.push_back({size + "-confusion", size + " confusion matrix",
                   "Val split: predictions (conf " + cm.at("conf").dump() + ", IoU " + cm.at("iou").dump() +
                       ") against labels; background row and column for misses and false boxes.",
                   s, "detect/" + size + "/confusion_matrix.png", ""});
  }
  return out;
}

std::vector<Figure> sample_figures(const fs::path& study) {
  std::vector<Figure> out;
  const fs::path f = study / "samples" / "samples.json";
  if (!fs::is_regular_file(f)) return out;
  int k = 0;
  for (const json& s : read_json_file(f)) {
    const std::string png = s.at("overlay").get<std::string>();
    out.push_back({"sample-" + std::to_string(k++), s.at("title").get<std::string>(), s.at("caption").get<std::string>(),
                   json(), "samples/" + png, read_file(study / "samples" / png)});
  }
  return out;
}

}  // namespace

std::vector<Figure> study_figures(const fs::path& study, const std::string& section,
                                  const std::vector<std::string>& detectors) {
  if (section == "classification") return classification_figures(study);
  std::vector<Figure> out;
  if (section == "detection")
    for (const std::string& d : detectors)
      for (Figure& f : detection_figures(study, d)) out.push_back(std::move(f));
  if (section == "samples") out = sample_figures(study);
  return out;
}

void write_study_html(const fs::path& study, const std::string& md, const std::vector<std::string>& detectors) {
  // summary.md cut at its "## " headings; figures follow the section they belong to
  std::vector<PageSection> sections(1);
  std::string cur;
  auto close = [&](const std::string& heading) {
    std::string sec;
    if (heading.rfind("## Classification", 0) == 0) sec = "classification";
    else if (heading.rfind("## Detection (", 0) == 0) sec = "detection";
    else if (heading.rfind("## Explanation", 0) == 0) sec = "samples";
    sections.back().markdown = cur;
    if (!sec.empty()) sections.back().figures = study_figures(study, sec, detectors);
  };
  std::string heading;
  size_t pos = 0;
  while (pos < md.size()) {
    size_t nl = md.find('\n', pos);
    if (nl == std::string::npos) nl = md.size();
    const std::string line = md.substr(pos, nl - pos);
    if (line.rfind("## ", 0) == 0) {
      close(heading);
      sections.emplace_back();
      cur.clear();
      heading = line;
    }
    cur += line + "\n";
    pos = nl + 1;
  }
  close(heading);
  write_html_page(study / "report.html", "Fracture study: " + study.filename().string(), sections);
}

}  // namespace fracture::report
