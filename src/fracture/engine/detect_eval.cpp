#include "fracture/engine/detect_eval.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/detect/loss.h"
#include "fracture/detect/nms.h"
#include "fracture/models/checkpoint.h"
#include "fracture/models/inference.h"
#include "fracture/report/plot.h"
#include "fracture/data/loader.h"

namespace fracture::engine {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path resolve_detector_weights(const fs::path& model) {
  FRACTURE_CHECK(!model.empty(), "detect: model= must name a run directory or a weights file");
  FRACTURE_CHECK(fs::exists(model), "detect: model '", model.string(), "' does not exist");
  if (fs::is_directory(model)) {
    for (const char* f : {"weights/best.safetensors", "weights/last.safetensors", "best.safetensors", "last.safetensors"})
      if (fs::exists(model / f)) return model / f;
    FRACTURE_FAIL("detect: run directory '", model.string(),
                  "' holds no weights/best.safetensors or weights/last.safetensors");
  }
  return model;
}

void write_names(const fs::path& weights_dir, const std::vector<std::string>& names) {
  write_file_atomic(weights_dir / "names.json", json(names).dump(1));
}

LoadedDetector load_detector(const fs::path& model, const torch::Device& device, bool channels_last) {
  LoadedDetector d;
  d.weights = resolve_detector_weights(model);
  models::NamedTensors t = models::read_checkpoint(d.weights);
  int64_t width0 = -1, nc = -1;
  for (const auto& [k, v] : t) {
    if (k == "model.0.conv.weight") width0 = v.size(0);
    if (k == "model.22.cv3.0.2.weight") nc = v.size(0);
  }
  FRACTURE_CHECK(width0 > 0 && nc > 0, d.weights.string(),
                 ": not a YOLOv8 detector state dict (no model.0.conv.weight / model.22.cv3.0.2.weight)");
  if (width0 == 16) d.scale = "n";
  else if (width0 == 32) d.scale = "s";
  else if (width0 == 48) d.scale = "m";
  else FRACTURE_FAIL(d.weights.string(), ": model.0.conv.weight has ", width0, " channels; expected 16 (n), 32 (s) or 48 (m)");
  models::YoloV8Options o;
  o.scale = d.scale;
  o.nc = nc;
  d.net = models::YoloV8(o);
  models::LoadOptions lo;
  lo.head_prefix = "model.22.cv3.";
  lo.strict = true;
  lo.source = d.weights.string();
  models::load_state_dict(*d.net, t, lo);
  d.net->to(device);
  if (channels_last) models::weights_to_channels_last(*d.net);
  d.net->eval();
  fs::path names_file = d.weights.parent_path() / "names.json";
  if (fs::exists(names_file)) {
    json j = json::parse(read_file(names_file));
    for (const auto& s : j) d.names.push_back(s.get<std::string>());
    FRACTURE_CHECK(int64_t(d.names.size()) == nc, names_file.string(), " lists ", d.names.size(),
                   " class names but the weights have ", nc, " classes");
  } else {
    for (int64_t c = 0; c < nc; ++c) d.names.push_back("class" + std::to_string(c));
  }
  return d;
}

LoadedDetector load_detector(const fs::path& model, const torch::Device& device,
                             const models::InferenceOptions& optimize) {
  LoadedDetector d = load_detector(model, device);
  models::optimize_for_inference(*d.net, optimize);  // eval mode, BN folded (+ NHWC, fused oneDNN convs)
  return d;
}

BoxXyxy unletterbox(const BoxXyxy& b, const LetterboxInfo& lb) {
  auto fx = [&](double x) { return std::clamp((x - lb.pad_x) / double(lb.scale), 0.0, double(lb.src_w)); };
  auto fy = [&](double y) { return std::clamp((y - lb.pad_y) / double(lb.scale), 0.0, double(lb.src_h)); };
  return {fx(b.x1), fy(b.y1), fx(b.x2), fy(b.y2)};
}

namespace {

// Rows [x1, y1, x2, y2, conf, cls] of one image's NMS output -> predictions in original pixels.
std::vector<Prediction> to_predictions(const torch::Tensor& det, const LetterboxInfo& lb) {
  auto d = det.to(torch::kCPU, torch::kDouble).contiguous();
  std::vector<Prediction> out;
  const double* p = d.data_ptr<double>();
  for (int64_t r = 0; r < d.size(0); ++r, p += 6) {
    Prediction q;
    q.box = unletterbox({p[0], p[1], p[2], p[3]}, lb);
    q.conf = std::clamp(p[4], 0.0, 1.0);
    q.cls = int(std::lround(p[5]));
    out.push_back(q);
  }
  return out;
}

std::vector<GroundTruth> to_ground_truth(const DetItem& item, int w, int h, int nc) {
  std::vector<GroundTruth> g;
  for (const Box& b : item.boxes) {
    FRACTURE_CHECK(b.cls >= 0 && b.cls < nc, item.label.empty() ? item.image.string() : item.label.string(),
                   ": class ", b.cls, " but the model has ", nc, " classes");
    GroundTruth t;
    t.cls = b.cls;
    t.box = {(b.cx - b.w / 2.0) * w, (b.cy - b.h / 2.0) * h, (b.cx + b.w / 2.0) * w, (b.cy + b.h / 2.0) * h};
    g.push_back(t);
  }
  return g;
}

}  // namespace

DetValOutput validate_detector(models::YoloV8Impl& net, const std::vector<DetItem>& items,
                               const std::vector<std::string>& names, const DetValOptions& opt, Logger& log,
                               const detect::DetectionLoss* loss) {
  const int nc = int(names.size());
  FRACTURE_CHECK(net.options.nc == nc, "detect val: the dataset has ", nc, " classes but the model has ",
                 net.options.nc, " (train or convert a model for this dataset's classes)");
  FRACTURE_CHECK(!items.empty(), "detect val: the split has no images");
  DetectionOptions dopt;
  dopt.imgsz = opt.imgsz;
  dopt.augment = false;
  dopt.channels = 3;
  dopt.clahe = opt.clahe;
  dopt.read = opt.read;
  const int batch = std::max(1, opt.batch);
  // Loader order: the items' own, or with rect by aspect ratio; order[k] is the item at position k.
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<DetItem> reordered;  // rect only: the items in loader order
  if (opt.rect) {
    std::vector<cv::Size> sizes;
    sizes.reserve(items.size());
    for (const DetItem& it : items) sizes.push_back(image_size(it.image, opt.read));
    RectBatches rb = rect_batches(sizes, batch, opt.imgsz, int(net.l22->stride.back()));  // 32
    order = rb.order;
    for (size_t k : order) reordered.push_back(items[k]);
    dopt.shapes = rb.shapes;
  }
  auto src = std::make_shared<DetectionSource>(opt.rect ? std::move(reordered) : items, dopt);
  LoaderOptions lo;
  lo.batch = batch;
  lo.workers = opt.workers;
  lo.shuffle = false;
  lo.channels_last = opt.channels_last;
  Loader loader(src, lo);
  loader.start_epoch(0);

  const bool was_training = net.is_training();
  net.eval();
  torch::NoGradGuard ng;
  const torch::Device device = net.parameters().front().device();
  detect::NmsOptions no;
  no.conf_thres = opt.conf;
  no.iou_thres = opt.iou;
  no.multi_label = opt.multi_label;
  no.max_det = opt.max_det;

  DetValOutput out;
  out.matching = opt.matching;
  out.rect = opt.rect;
  std::vector<ImagePredictions> by_item(items.size());
  DetectionMetrics dm(names, opt.matching);
  torch::Tensor loss_sum;
  int64_t n_batches = 0;
  while (auto b = loader.next()) {
    auto x = b->images.to(device);
    auto feats = net.forward_train(x);       // 3 x (B, 64 + nc, H_i, W_i)
    auto pred = net.l22->decode(feats);      // (B, 4 + nc, A) xywh letterbox pixels, sigmoid scores
    if (loss) {
      auto l = (*loss)(feats, b->targets.to(device), x.size(2), x.size(3)).items.to(torch::kCPU, torch::kDouble);
      loss_sum = loss_sum.defined() ? loss_sum + l : l;
    }
    ++n_batches;
    auto dets = detect::non_max_suppression(pred, no);
    for (size_t k = 0; k < dets.size(); ++k) {
      const LetterboxInfo& lb = b->letterboxes[k];
      const size_t item_index = order[size_t(b->indices[k])];
      const DetItem& item = items[item_index];
      ImagePredictions ip;
      ip.path = item.image.string();
      ip.width = lb.src_w;
      ip.height = lb.src_h;
      ip.preds = to_predictions(dets[k], lb);
      ip.gts = to_ground_truth(item, lb.src_w, lb.src_h, nc);
      by_item[item_index] = std::move(ip);
    }
  }
  // Accumulated in the split's order (Ultralytics uses its loader's, sorted by aspect ratio with
  // rect): only exact ties in confidence can tell the two apart, and then predictions.json rescores
  // to the same figures.
  for (const ImagePredictions& ip : by_item) dm.update(ip.preds, ip.gts);
  out.images = std::move(by_item);
  out.results = dm.compute();
  out.confusion = dm.confusion();
  out.n_images = int64_t(out.images.size());
  if (loss_sum.defined()) {
    loss_sum = loss_sum / double(n_batches);
    for (int i = 0; i < 3; ++i) out.loss.push_back(loss_sum[i].item<double>());
  }
  if (was_training) net.train();
  log.debug("detect val: {} images, mAP50 {:.4f}, mAP50-95 {:.4f}", out.n_images, out.results.map50, out.results.map);
  return out;
}

DetectionMetrics metrics_from_images(const std::vector<ImagePredictions>& images, const std::vector<std::string>& names,
                                     MatchRule matching) {
  DetectionMetrics dm(names, matching);
  for (const auto& im : images) dm.update(im.preds, im.gts);
  return dm;
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
    report::write_png_atomic(report::heatmap(norm, cm_names, cm_names, title, "True", "Predicted"),
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
    std::vector<report::Series> s;
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
    report::PlotOptions o;
    o.title = p.title;
    o.xlabel = p.xlabel;
    o.ylabel = p.ylabel;
    report::write_png_atomic(report::line_plot(s, o), dir / p.file);
  }
}
}  // namespace

void write_val_report(const DetValOutput& out, const std::vector<std::string>& names, const fs::path& dir) {
  const DetectionResults& r = out.results;
  const int nc = int(names.size());
  auto n_img = images_per_class(out.images, nc);
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
  std::vector<std::string> cm_names = names;
  cm_names.push_back("background");
  cm["names"] = cm_names;
  cm["conf"] = out.confusion.conf_thres;
  cm["iou"] = out.confusion.iou_thres;
  cm["matrix_pred_by_true"] = out.confusion.matrix;
  m["confusion_matrix"] = cm;
  if (out.loss.size() == 3) m["loss"] = {{"box", out.loss[0]}, {"cls", out.loss[1]}, {"dfl", out.loss[2]}};
  write_file_atomic(dir / "metrics.json", m.dump(2));
  // The same numbers as one table (overall row first), for spreadsheets and model comparisons.
  {
    std::ostringstream t;
    t << "class,images,instances,precision,recall,map50,map50_95\n";
    t << "all," << out.n_images << "," << r.n_gt << "," << r.mp << "," << r.mr << "," << r.map50 << "," << r.map << "\n";
    for (const auto& c : r.per_class) {
      t << '"' << c.name << '"' << "," << n_img[size_t(c.cls)] << "," << c.n_gt << "," << c.p << "," << c.r << "," << c.ap50
        << "," << c.ap << "\n";
    }
    write_file_atomic(dir / "metrics.csv", t.str());
  }

  // Curves: one entry per class with ground truth, in per_class order.
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
  std::ostringstream csv;
  csv << "conf";
  for (const auto& n : cnames) csv << ",P:" << n << ",R:" << n << ",F1:" << n;
  csv << "\n";
  for (size_t i = 0; i < r.curves.conf_grid.size(); ++i) {
    csv << r.curves.conf_grid[i];
    for (size_t c = 0; c < cnames.size(); ++c)
      csv << "," << r.curves.precision[c][i] << "," << r.curves.recall[c][i] << "," << r.curves.f1[c][i];
    csv << "\n";
  }
  write_file_atomic(dir / "curves.csv", csv.str());
  write_plots(out, cm_names, dir);

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

std::vector<ImagePredictions> read_predictions_json(const fs::path& file) {
  json j = json::parse(read_file(file));
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

std::vector<Prediction> predict_image(models::YoloV8Impl& net, const cv::Mat& img01, const PredictOptions& opt) {
  FRACTURE_CHECK(img01.type() == CV_32FC1 && !img01.empty(), "predict_image: expected a non-empty CV_32FC1 image");
  FRACTURE_CHECK(opt.imgsz > 0 && opt.imgsz % 32 == 0, "detect predict: imgsz must be a positive multiple of 32, got ",
                 opt.imgsz);
  LetterboxInfo lb;
  const int stride = int(net.l22->stride.back());  // 32
  cv::Mat x = opt.rect ? letterbox_min(img01, opt.imgsz, stride, 114.0 / 255.0, &lb)
                       : letterbox(img01, opt.imgsz, 114.0 / 255.0, &lb);
  if (!x.isContinuous()) x = x.clone();
  torch::NoGradGuard ng;
  net.eval();
  const torch::Device device = net.parameters().front().device();
  auto t = torch::from_blob(x.data, {1, 1, x.rows, x.cols}, torch::kFloat32).clone();
  const auto format = opt.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  t = t.expand({1, 3, x.rows, x.cols}).contiguous(format).to(device);  // grey replicated to 3 channels
  auto pred = net.forward(t);                                      // (1, 4 + nc, A)
  detect::NmsOptions no;
  no.conf_thres = opt.conf;
  no.iou_thres = opt.iou;
  no.max_det = opt.max_det;
  no.agnostic = opt.agnostic;
  auto dets = detect::non_max_suppression(pred, no);
  return to_predictions(dets[0], lb);
}

cv::Mat draw_detections(const cv::Mat& img01, const std::vector<Prediction>& preds, const std::vector<std::string>& names) {
  cv::Mat g8, bgr;
  img01.convertTo(g8, CV_8U, 255.0);
  cv::cvtColor(g8, bgr, cv::COLOR_GRAY2BGR);
  static const cv::Scalar palette[] = {{56, 56, 255}, {151, 157, 255}, {31, 112, 255}, {29, 178, 255},
                                       {49, 210, 207}, {10, 249, 72},  {23, 204, 146}, {134, 219, 61}};
  const int lw = std::max(1, int(std::lround((bgr.rows + bgr.cols) / 2.0 * 0.003)));
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
  return bgr;
}

}  // namespace fracture::engine
