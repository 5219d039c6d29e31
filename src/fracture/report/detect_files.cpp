#include "fracture/report/detect_files.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/json_file.h"
#include "fracture/core/fs.h"
#include "fracture/report/plot.h"

namespace fracture::report {

namespace fs = std::filesystem;
using nlohmann::json;

void write_names(const fs::path& weights_dir, const std::vector<std::string>& names) {
  write_file_atomic(weights_dir / "names.json", json(names).dump(1));
}

std::vector<std::string> read_names(const fs::path& weights_dir, int64_t nc) {
  std::vector<std::string> names;
  const fs::path names_file = weights_dir / "names.json";
  if (fs::exists(names_file)) {
    json j = read_json_file(names_file);
    for (const auto& s : j) names.push_back(s.get<std::string>());
    FRACTURE_CHECK(int64_t(names.size()) == nc, names_file.string(), " lists ", names.size(),
                   " class names but the weights have ", nc, " classes");
  } else {
    for (int64_t c = 0; c < nc; ++c) names.push_back("class" + std::to_string(c));
  }
  return names;
}

std::vector<int64_t> images_per_class(const std::vector<ImagePredictions>& images, int nc) {
  std::vector<int64_t> n(size_t(std::max(nc, 0)), 0);
  for (const auto& im : images) {
    std::vector<bool> seen(n.size(), false);
    for (const auto& g : im.gts)
      if (g.cls >= 0 && g.cls < nc && !seen[size_t(g.cls)]) {
        seen[size_t(g.cls)] = true;
        ++n[size_t(g.cls)];
      }
  }
  return n;
}

namespace {

json box_json(const BoxXyxy& b) { return json::array({b.x1, b.y1, b.x2, b.y2}); }

// Ultralytics' plots of a validation: confusion_matrix.png (each true class's column normalised to
// sum 1, Ultralytics' normalize=True; names + background), and from the curve data PR_curve.png (P
// vs R at IoU 0.5), F1_curve.png, P_curve.png and R_curve.png (vs confidence), one thin line per
// class with ground truth and the class mean in bold (none when no class has ground truth).
void write_plots(const DetValOutput& out, const std::vector<std::string>& cm_names, const fs::path& dir) {
  const auto& cmat = out.confusion.matrix;
  if (!cmat.empty() && cm_names.size() == cmat.size()) {
    const size_t n = cmat.size();
    std::vector<std::vector<double>> norm(n, std::vector<double>(n, 0.0));
    for (size_t t = 0; t < n; ++t) {
      double col = 0;
      for (size_t p = 0; p < n; ++p) col += double(cmat[p][t]);
      for (size_t p = 0; p < n && col > 0; ++p) norm[p][t] = double(cmat[p][t]) / col;
    }
    char title[96];
    std::snprintf(title, sizeof title, "Confusion matrix (columns normalised; conf %.2f, IoU %.2f)",
                  out.confusion.conf_thres, out.confusion.iou_thres);
    write_png_atomic(heatmap(norm, cm_names, cm_names, title, "True", "Predicted"),
                             dir / "confusion_matrix.png");
  }
  const DetectionResults& r = out.results;
  const auto& cv_ = r.curves;
  const size_t nc = r.per_class.size();
  if (nc == 0 || cv_.conf_grid.empty()) return;
  auto mean_of = [&](const std::vector<std::vector<double>>& rows) {
    std::vector<double> m(rows.front().size(), 0.0);
    for (const auto& row : rows)
      for (size_t i = 0; i < m.size(); ++i) m[i] += row[i] / double(rows.size());
    return m;
  };
  auto fmt = [](const char* f, double a, double b = 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, f, a, b);
    return std::string(buf);
  };
  struct Plot {
    const char* file;
    const char* title;
    const char* xlabel;
    const char* ylabel;
    const std::vector<double>& x;
    const std::vector<std::vector<double>>& y;
  };
  const Plot plots[] = {{"PR_curve.png", "Precision-Recall curve (IoU 0.5)", "Recall", "Precision", cv_.recall_grid, cv_.pr_curve},
                        {"F1_curve.png", "F1-Confidence curve", "Confidence", "F1", cv_.conf_grid, cv_.f1},
                        {"P_curve.png", "Precision-Confidence curve", "Confidence", "Precision", cv_.conf_grid, cv_.precision},
                        {"R_curve.png", "Recall-Confidence curve", "Confidence", "Recall", cv_.conf_grid, cv_.recall}};
  for (const auto& p : plots) {
    if (p.y.size() != nc || p.x.empty()) continue;
    std::vector<Series> s;
    const auto mean = mean_of(p.y);
    const std::string file = p.file;
    if (file == "PR_curve.png") {
      s.push_back({fmt("all classes %.3f mAP@0.5", r.map50), p.x, mean, true});
    } else {
      const size_t best = size_t(std::max_element(mean.begin(), mean.end()) - mean.begin());
      s.push_back({fmt(file == "R_curve.png" ? "all classes %.2f at %.3f" : "all classes max %.2f at %.3f", mean[best],
                       p.x[best]),
                   p.x, mean, true});
    }
    for (size_t c = 0; c < nc; ++c) {
      const std::string label = file == "PR_curve.png" ? r.per_class[c].name + fmt(" %.3f", r.per_class[c].ap50)
                                                        : r.per_class[c].name;
      s.push_back({label, p.x, p.y[c], false});
    }
    PlotOptions o;
    o.title = p.title;
    o.xlabel = p.xlabel;
    o.ylabel = p.ylabel;
    write_png_atomic(line_plot(s, o), dir / p.file);
  }
}

// metrics.json: overall and per-class figures, the confusion matrix, the rule and geometry used.
void write_metrics_json(const DetValOutput& out, const std::vector<std::string>& cm_names,
                        const std::vector<int64_t>& n_img, const fs::path& dir) {
  const DetectionResults& r = out.results;
  json m;
  m["precision"] = r.mp;
  m["recall"] = r.mr;
  m["map50"] = r.map50;
  m["map75"] = r.map75;
  m["map50_95"] = r.map;
  m["fitness"] = r.fitness();
  m["conf_at_best_f1"] = r.conf_at_best_f1;
  m["images"] = out.n_images;
  m["instances"] = r.n_gt;
  m["matching"] = to_string(out.matching);  // how predictions were paired with ground truth (key `matching`)
  m["rect"] = out.rect;  // rectangular validation batches (key `rect`) or imgsz squares
  json pc = json::object();
  for (const auto& c : r.per_class) {
    json e;
    e["class"] = c.cls;
    e["images"] = n_img[size_t(c.cls)];
    e["instances"] = c.n_gt;
    e["predictions"] = c.n_pred;
    e["precision"] = c.p;
    e["recall"] = c.r;
    e["f1"] = c.f1;
    e["map50"] = c.ap50;
    e["map50_95"] = c.ap;
    pc[c.name] = e;
  }
  m["per_class"] = pc;
  json cm;
  cm["names"] = cm_names;
  cm["conf"] = out.confusion.conf_thres;
  cm["iou"] = out.confusion.iou_thres;
  cm["matrix_pred_by_true"] = out.confusion.matrix;
  m["confusion_matrix"] = cm;
  if (out.loss.size() == 3) m["loss"] = {{"box", out.loss[0]}, {"cls", out.loss[1]}, {"dfl", out.loss[2]}};
  write_file_atomic(dir / "metrics.json", m.dump(2));
}

// The same numbers as one table (overall row first), for spreadsheets and model comparisons. Numbers
// %.6g (ostream's default, as before csv.h); class names always quoted.
void write_metrics_csv(const DetValOutput& out, const std::vector<int64_t>& n_img, const fs::path& dir) {
  const DetectionResults& r = out.results;
  auto g = [](double v) { return csv::number(v, 6); };
  std::string t = csv::line({"class", "images", "instances", "precision", "recall", "map50", "map50_95"});
  t += csv::line({"all", std::to_string(out.n_images), std::to_string(r.n_gt), g(r.mp), g(r.mr), g(r.map50), g(r.map)});
  for (const auto& c : r.per_class)
    t += csv::field(c.name, /*always_quote=*/true) + "," + std::to_string(n_img[size_t(c.cls)]) + "," +
         std::to_string(c.n_gt) + "," + g(c.p) + "," + g(c.r) + "," + g(c.ap50) + "," + g(c.ap) + "\n";
  write_file_atomic(dir / "metrics.csv", t);
}

// curves.json and curves.csv: one entry per class with ground truth, in per_class order.
void write_curves(const DetectionResults& r, const fs::path& dir) {
  json cj;
  cj["conf_grid"] = r.curves.conf_grid;
  cj["recall_grid"] = r.curves.recall_grid;
  std::vector<std::string> cnames;
  for (const auto& c : r.per_class) cnames.push_back(c.name);
  cj["classes"] = cnames;
  cj["precision"] = r.curves.precision;
  cj["recall"] = r.curves.recall;
  cj["f1"] = r.curves.f1;
  cj["pr_curve_iou50"] = r.curves.pr_curve;
  write_file_atomic(dir / "curves.json", cj.dump());
  std::vector<std::string> head = {"conf"};
  for (const auto& n : cnames)
    for (const char* k : {"P:", "R:", "F1:"}) head.push_back(k + n);
  std::string text = csv::line(head);
  auto g = [](double v) { return csv::number(v, 6); };  // ostream's default, as before csv.h
  for (size_t i = 0; i < r.curves.conf_grid.size(); ++i) {
    std::vector<std::string> row = {g(r.curves.conf_grid[i])};
    for (size_t c = 0; c < cnames.size(); ++c)
      for (const auto* v : {&r.curves.precision, &r.curves.recall, &r.curves.f1}) row.push_back(g((*v)[c][i]));
    text += csv::line(row);
  }
  write_file_atomic(dir / "curves.csv", text);
}

// predictions.json: every image's detections and labels.
void write_predictions_json(const DetValOutput& out, const std::vector<std::string>& names, const fs::path& dir) {
  json pj = json::array();
  for (const auto& im : out.images) {
    json e;
    e["file"] = im.path;
    e["width"] = im.width;
    e["height"] = im.height;
    json boxes = json::array();
    for (const auto& p : im.preds)
      boxes.push_back({{"xyxy", box_json(p.box)}, {"conf", p.conf}, {"class", p.cls}, {"name", names[size_t(p.cls)]}});
    e["boxes"] = boxes;
    json gts = json::array();
    for (const auto& g : im.gts) gts.push_back({{"xyxy", box_json(g.box)}, {"class", g.cls}});
    e["labels"] = gts;
    pj.push_back(e);
  }
  write_file_atomic(dir / "predictions.json", pj.dump(1));
}

}  // namespace

void write_val_report(const DetValOutput& out, const std::vector<std::string>& names, const fs::path& dir) {
  std::vector<std::string> cm_names = names;
  cm_names.push_back("background");
  const std::vector<int64_t> n_img = images_per_class(out.images, int(names.size()));
  write_metrics_csv(out, n_img, dir);
  write_curves(out.results, dir);
  write_plots(out, cm_names, dir);
  write_predictions_json(out, names, dir);
  write_metrics_json(out, cm_names, n_img, dir);  // last: a study takes metrics.json as "this evaluation is done"
}

std::vector<ImagePredictions> read_predictions_json(const fs::path& file) {
  json j = read_json_file(file);
  std::vector<ImagePredictions> out;
  auto box = [](const json& a) { return BoxXyxy{a[0].get<double>(), a[1].get<double>(), a[2].get<double>(), a[3].get<double>()}; };
  for (const auto& e : j) {
    ImagePredictions im;
    im.path = e.at("file").get<std::string>();
    im.width = e.at("width").get<int>();
    im.height = e.at("height").get<int>();
    for (const auto& b : e.at("boxes")) im.preds.push_back({box(b.at("xyxy")), b.at("conf").get<double>(), b.at("class").get<int>()});
    for (const auto& g : e.at("labels")) im.gts.push_back({box(g.at("xyxy")), g.at("class").get<int>()});
    out.push_back(std::move(im));
  }
  return out;
}

std::string format_val_table(const DetValOutput& out, const std::vector<std::string>& names) {
  const DetectionResults& r = out.results;
  auto n_img = images_per_class(out.images, int(names.size()));
  std::string s;
  char line[256];
  std::snprintf(line, sizeof line, "%22s%11s%11s%11s%11s%11s%11s\n", "Class", "Images", "Instances", "Box(P", "R",
                "mAP50", "mAP50-95)");
  s += line;
  std::snprintf(line, sizeof line, "%22s%11lld%11lld%11.3g%11.3g%11.3g%11.3g\n", "all", (long long)out.n_images,
                (long long)r.n_gt, r.mp, r.mr, r.map50, r.map);
  s += line;
  for (const auto& c : r.per_class) {
    std::snprintf(line, sizeof line, "%22s%11lld%11lld%11.3g%11.3g%11.3g%11.3g\n", c.name.substr(0, 22).c_str(),
                  (long long)n_img[size_t(c.cls)], (long long)c.n_gt, c.p, c.r, c.ap50, c.ap);
    s += line;
  }
  return s;
}

std::string detect_results_row(const DetectEpochRow& r) {
  auto f = [](double v) { return csv::number(v, 8); };
  std::string row = std::to_string(r.epoch + 1);
  for (double v : r.train_loss) row += "," + f(v);
  for (double v : {r.precision, r.recall, r.map50, r.map50_95}) row += "," + f(v);
  for (double v : r.val_loss) row += "," + f(v);
  for (double v : r.lr) row += "," + f(v);
  return row + "," + f(r.elapsed);
}

namespace {
const char* const kResultsHeader =
    "epoch,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
    "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2,time";
}  // namespace

void write_detect_results(const fs::path& run, const std::vector<std::string>& rows) {
  std::string csv = std::string(kResultsHeader) + "\n";
  for (const auto& r : rows) csv += r + "\n";
  write_file_atomic(run / "results.csv", csv);
}

std::vector<std::string> read_detect_results(const fs::path& run, int max_rows) {
  std::istringstream in(read_file(run / "results.csv"));
  std::string line;
  std::vector<std::string> rows;
  std::getline(in, line);  // header
  while (std::getline(in, line) && int(rows.size()) < max_rows)
    if (!line.empty()) rows.push_back(line);
  return rows;
}

namespace {
// Ultralytics' annotator line width: 0.3 % of the mean image side, at least 1 pixel.
int box_line_width(const cv::Mat& img) { return std::max(1, int(std::lround((img.rows + img.cols) / 2.0 * 0.003))); }
}  // namespace

void draw_boxes(cv::Mat& bgr, const std::vector<Prediction>& preds, const std::vector<std::string>& names) {
  static const cv::Scalar palette[] = {{56, 56, 255}, {151, 157, 255}, {31, 112, 255}, {29, 178, 255},
                                       {49, 210, 207}, {10, 249, 72},  {23, 204, 146}, {134, 219, 61}};
  const int lw = box_line_width(bgr);
  const double fs_ = std::max(0.3, lw / 3.0);
  for (const auto& p : preds) {
    const cv::Scalar col = palette[size_t(p.cls) % 8];
    cv::Point a(int(std::lround(p.box.x1)), int(std::lround(p.box.y1)));
    cv::Point b(int(std::lround(p.box.x2)), int(std::lround(p.box.y2)));
    cv::rectangle(bgr, a, b, col, lw, cv::LINE_AA);
    char label[160];
    std::snprintf(label, sizeof label, "%s %.2f",
                  (p.cls >= 0 && size_t(p.cls) < names.size() ? names[size_t(p.cls)] : std::to_string(p.cls)).c_str(), p.conf);
    int base = 0;
    cv::Size ts = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, fs_, std::max(1, lw - 1), &base);
    const bool above = a.y - ts.height - 3 >= 0;
    cv::Point t0(a.x, above ? a.y - ts.height - 3 : a.y), t1(a.x + ts.width, above ? a.y : a.y + ts.height + 3);
    cv::rectangle(bgr, t0, t1, col, cv::FILLED, cv::LINE_AA);
    cv::putText(bgr, label, cv::Point(a.x, above ? a.y - 2 : a.y + ts.height + 1), cv::FONT_HERSHEY_SIMPLEX, fs_,
                cv::Scalar(255, 255, 255), std::max(1, lw - 1), cv::LINE_AA);
  }
}

cv::Mat gradcam_overlay(const cv::Mat& img01, const cv::Mat& cam, const std::vector<Prediction>& preds,
                        const std::vector<std::string>& names, const std::vector<GroundTruth>& truths) {
  cv::Mat g8, bgr, heat8, heat;
  img01.convertTo(g8, CV_8U, 255.0);
  cv::cvtColor(g8, bgr, cv::COLOR_GRAY2BGR);
  if (!cam.empty()) {
    cam.convertTo(heat8, CV_8U, 255.0);
    cv::applyColorMap(heat8, heat, cv::COLORMAP_JET);
    cv::addWeighted(bgr, 0.6, heat, 0.4, 0.0, bgr);
  }
  const int lw = box_line_width(bgr);
  for (const GroundTruth& g : truths) {  // thin green, drawn first: the predictions stay on top
    cv::rectangle(bgr, cv::Point(int(std::lround(g.box.x1)), int(std::lround(g.box.y1))),
                  cv::Point(int(std::lround(g.box.x2)), int(std::lround(g.box.y2))), cv::Scalar(0, 200, 0), lw,
                  cv::LINE_AA);
  }
  draw_boxes(bgr, preds, names);
  return bgr;
}

cv::Mat draw_detections(const cv::Mat& img01, const std::vector<Prediction>& preds, const std::vector<std::string>& names) {
  return gradcam_overlay(img01, cv::Mat(), preds, names);  // no map, no true boxes
}

json boxes_json(const std::vector<Prediction>& preds, const std::vector<std::string>& names) {
  json boxes = json::array();
  for (const auto& d : preds)
    boxes.push_back({{"xyxy", box_json(d.box)},
                     {"class", d.cls},
                     {"name", names[size_t(d.cls)]},
                     {"confidence", d.conf}});
  return boxes;
}

json predicted_json(const PredictedImage& p, const std::vector<std::string>& names) {
  json j;
  j["file"] = p.file;
  j["width"] = p.width;
  j["height"] = p.height;
  j["boxes"] = boxes_json(p.preds, names);
  return j;
}

void write_predicted_image(const fs::path& run, const std::string& stem, const PredictedImage& p,
                           const std::vector<std::string>& names, const cv::Mat& img01) {
  write_file_atomic(run / (stem + ".json"), predicted_json(p, names).dump(2));
  std::vector<uchar> png;
  cv::imencode(".png", draw_detections(img01, p.preds, names), png);
  write_file_atomic(run / (stem + ".png"), std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

void write_predict_summary(const fs::path& run, const std::vector<PredictedImage>& images,
                           const std::vector<std::string>& names) {
  json all = json::array();
  for (const auto& p : images) all.push_back(predicted_json(p, names));
  write_file_atomic(run / "predictions.json", all.dump(1));
}

}  // namespace fracture::report
