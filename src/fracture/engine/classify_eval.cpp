// Classification engine, evaluation half: `classify val` and `classify predict` on a trained run
// directory (a train run, one of its models, a cv run or one cv fold folder).
#include <torch/torch.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "fracture/calibrate/calibrator.h"
#include "fracture/calibrate/platt.h"
#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/rundir.h"
#include "fracture/data/image.h"
#include "fracture/data/screen.h"
#include "fracture/data/splits.h"
#include "fracture/engine/classify.h"
#include "fracture/engine/classify_run.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/models/gradcam.h"
#include "fracture/models/inference.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/report/classify_files.h"
#include "fracture/report/data_files.h"

namespace fracture::engine {

namespace {

namespace fs = std::filesystem;
using detail::load_dataset;
using detail::run_config;
using detail::value_text;


// ---- trained runs (val / predict) ----

struct TrainedModel {
  fs::path run;          ///< the run directory (args.yaml)
  std::string arch;
  fs::path weights;      ///< best.safetensors
  Calibrator calibration;  ///< calibration.json of the model's folder
  std::string mode;      ///< "cv" or "train"
  std::string what;      ///< description for the output
  int repeat = 0, fold = 0;  ///< cv: which fold (its rows in splits.csv)
};

// "r<R>f<F>" -> (R, F); throws naming the folder otherwise.
void parse_fold_name(const fs::path& dir, int& repeat, int& fold) {
  const std::string n = dir.filename().string();
  char r = 0, f = 0, extra = 0;
  FRACTURE_CHECK(std::sscanf(n.c_str(), "%c%d%c%d%c", &r, &repeat, &f, &fold, &extra) == 4 && r == 'r' && f == 'f' &&
                     repeat >= 0 && fold >= 0,
                 dir.string(), ": a cv fold folder is named r<repeat>f<fold>, got '", n, "'");
}

// model=RUN_DIR: a train run (one model), a train run's model folder (model=all), a cv run (fold r0f0
// of its first model), or one cv fold folder folds/<model>/r<R>f<F>.
TrainedModel resolve_trained(fs::path p) {
  if (!p.empty() && !p.has_filename()) p = p.parent_path();  // "run/" -> "run"
  FRACTURE_CHECK(!p.empty(), "key 'model' must name a classify run directory (model=runs/classify/train)");
  FRACTURE_CHECK(fs::is_directory(p), "model=", p.string(), ": no such run directory (val and predict take a ",
                 "classify train or cv run directory)");
  TrainedModel m;
  fs::path model_dir;
  if (fs::is_regular_file(p / "fold.json") && fs::is_regular_file(p / "best.safetensors")) {
    m.run = p.parent_path().parent_path().parent_path();
    m.arch = p.parent_path().filename().string();
    m.weights = p / "best.safetensors";
    model_dir = p;
    m.mode = "cv";
    m.what = "cv fold " + p.filename().string() + " of " + m.arch;
    parse_fold_name(p, m.repeat, m.fold);
  } else if (fs::is_directory(p / "weights") && !fs::exists(p / "run.json")) {
    m.run = p.parent_path();
    m.arch = p.filename().string();
    m.weights = p / "weights" / "best.safetensors";
    model_dir = p;
    m.mode = "train";
    m.what = "train run, model " + m.arch;
  } else {
    const report::ClassifyRunInfo info = report::read_run_json(p);
    m.run = p;
    m.mode = info.mode;
    const std::vector<std::string>& models = info.models;
    FRACTURE_CHECK(!models.empty(), (p / "run.json").string(), ": no models");
    m.arch = models[0];
    if (m.mode == "cv") {
      model_dir = cv_fold_dir(p, m.arch, 0, 0);
      m.weights = model_dir / "best.safetensors";
      m.what = "cv run: fold r0f0 of " + m.arch + " (pass model=RUN/folds/<model>/r<R>f<F> for another)";
    } else {
      model_dir = models.size() == 1 ? p : p / m.arch;
      m.weights = model_dir / "weights" / "best.safetensors";
      m.what = "train run, model " + m.arch;
    }
  }
  FRACTURE_CHECK(fs::is_regular_file(m.weights), m.weights.string(), ": missing (the run did not finish this model)");
  m.calibration = report::read_calibrator(model_dir / "calibration.json");
  return m;
}

models::Classifier load_trained(const TrainedModel& m, const ClassifyOptions& opt, Logger& log, bool optimise = true) {
  models::ClassifierOptions mo;
  mo.num_classes = 1;
  mo.in_channels = 3;
  auto net = models::make_classifier(m.arch, mo);
  models::load_state_dict(*net, models::read_safetensors(m.weights), m.weights.string(), /*strict=*/true);
  net->to(torch::Device(opt.device));
  // val / predict only: BatchNorm folded; with channels_last (CPU) NHWC weights, which predict_logits'
  // NHWC batches then meet, and fused oneDNN convolutions where built in. Logits equal to float rounding.
  models::InferenceOptions io;
  io.channels_last = opt.channels_last;
  io.winograd = opt.winograd;
  io.log = &log;  // debug notes where a convolution runs ATen's kernels instead of a fused one
  if (optimise) models::optimize_for_inference(*net, io);
  else net->eval();
  return net;
}

// Options of the trained run (imgsz, resize, clahe, dicom window), with this command's batch, workers,
// device, channels_last, winograd and cache (how to compute, not what was trained) and truncated
// (the same answer the up-front screen gives: a file it lets through is read the same way).
ClassifyOptions trained_options(const Config& run_cfg, const Config& cfg, const std::string& arch) {
  Config c = run_cfg;
  c.set("model", arch, "trained run");
  c.set("weights", "null", "trained run");
  for (const char* k : {"batch", "workers", "device", "channels_last", "winograd", "cache", "truncated"})
    c.set(k, value_text(cfg, k), "command line");
  return classify_options(c);
}

// Images predict_logits could not read (strict=false): one warning each, and a skipped.csv row.
void note_lost(const std::vector<std::string>& lost, const std::string& split, Logger& log,
               std::vector<UnusableFile>& skipped) {
  for (const std::string& l : lost) {
    log.warn("image left out (strict=false; it could not be read during the run): {}", l);
    skipped.push_back(unusable_from_message(l, split));
  }
}

bool readable_image(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  char buf[256] = {};
  f.read(buf, sizeof buf);
  const std::string fmt = sniff_format(std::string_view(buf, size_t(f.gcount())));
  return fmt == "png" || fmt == "jpeg" || fmt == "bmp" || fmt == "tiff" || fmt == "dicom";
}
}  // namespace

namespace detail {
std::vector<ClsItem> source_items(const Config& cfg, const std::string& who, Logger& log,
                                  std::vector<UnusableFile>& skipped) {
  const fs::path src = cfg.str("source");
  FRACTURE_CHECK(!src.empty(), who, ": key 'source' is required (an image, a folder or a DICOM file)");
  FRACTURE_CHECK(fs::exists(src), "source=", src.string(), ": no such file or folder");
  std::vector<ClsItem> items;
  if (!fs::is_directory(src)) return {ClsItem{src, 0, "", ""}};
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(src); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && readable_image(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  const std::vector<bool> usable = screen_files(files, screen_options(cfg), &skipped);
  for (size_t i = 0; i < files.size(); ++i)
    if (usable[i]) items.push_back(ClsItem{files[i], 0, "", ""});
  warn_unusable(log, src.string(), skipped, files.size());
  FRACTURE_CHECK(!items.empty(), "source=", src.string(), ": no PNG, JPEG, BMP, TIFF or DICOM images in the folder");
  return items;
}
}  // namespace detail

namespace {

// Grad-CAM maps of a loaded classifier (grad_cam_maps' arithmetic) for `items`.
std::vector<cv::Mat> grad_cam_of(models::ClassifierImpl& net, const std::vector<ClsItem>& items,
                                 const ClassifyOptions& opt, const std::string& layer) {
  std::vector<cv::Mat> maps(items.size());
  if (items.empty()) return maps;
  ClassificationOptions data = opt.data;
  data.augment = false;
  LoaderOptions lo;
  lo.batch = opt.batch;
  lo.workers = opt.workers;
  lo.shuffle = false;
  lo.channels_last = opt.channels_last;
  Loader loader(std::make_shared<ClassificationSource>(items, data), lo);
  loader.start_epoch(0);
  while (auto b = loader.next()) {
    const torch::Tensor cam = models::grad_cam(net, b->images.to(torch::Device(opt.device)), 0, layer);
    for (size_t i = 0; i < b->indices.size(); ++i) {
      const LetterboxInfo& lb = b->letterboxes[i];
      const torch::Tensor c = cam[int64_t(i)].contiguous();
      const cv::Mat input(int(c.size(0)), int(c.size(1)), CV_32FC1, const_cast<float*>(c.data_ptr<float>()));
      // the original image's region of the input (no padding), resized to the original's pixels
      const cv::Rect roi(lb.pad_x, lb.pad_y, std::min(lb.new_w, input.cols - lb.pad_x),
                         std::min(lb.new_h, input.rows - lb.pad_y));
      cv::Mat out;
      cv::resize(input(roi), out, cv::Size(lb.src_w, lb.src_h), 0, 0, cv::INTER_LINEAR);
      double lo_v = 0, hi_v = 0;
      cv::minMaxLoc(out, &lo_v, &hi_v);
      if (hi_v > lo_v) out = (out - lo_v) / (hi_v - lo_v); else out.setTo(0);
      maps[size_t(b->indices[i])] = out;
    }
  }
  return maps;
}

}  // namespace

std::string detail::gradcam_layer(const Config& cfg) {
  return cfg.is_null("gradcam_layer") ? "" : cfg.str("gradcam_layer");
}

std::vector<cv::Mat> grad_cam_maps(const fs::path& model_dir, const std::vector<ClsItem>& items, const Config& cfg,
                                   Logger& log) {
  if (items.empty()) return std::vector<cv::Mat>(items.size());
  const TrainedModel m = resolve_trained(model_dir);
  const ClassifyOptions opt = trained_options(run_config(m.run), cfg, m.arch);
  // an inner layer differentiates the backbone after it: the unoptimised network
  const std::string layer = detail::gradcam_layer(cfg);
  auto net = load_trained(m, opt, log, /*optimise=*/layer.empty());
  return grad_cam_of(*net, items, opt, layer);
}

struct CvEnsemble::Impl {
  struct Fold {
    TrainedModel model;
    models::Classifier net{nullptr};      // optimised for inference
    models::Classifier cam_net{nullptr};  // Grad-CAM at an inner layer: unoptimised, loaded when first used
  };
  std::vector<Fold> folds;
  ClassifyOptions opt;
  std::string layer;
  Logger* log = nullptr;
};

CvEnsemble::CvEnsemble(const fs::path& cv_run, const std::string& arch, const Config& cfg, Logger& log)
    : impl_(std::make_unique<Impl>()) {
  impl_->opt = trained_options(run_config(cv_run), cfg, arch);
  impl_->layer = detail::gradcam_layer(cfg);
  impl_->log = &log;
  for (const fs::path& f : cv_fold_dirs(cv_run, arch)) {
    Impl::Fold fold;
    fold.model = resolve_trained(f);
    fold.net = load_trained(fold.model, impl_->opt, log);
    if (impl_->layer.empty()) fold.cam_net = fold.net;  // Grad-CAM at the last feature map: the same network
    impl_->folds.push_back(std::move(fold));
  }
}

CvEnsemble::~CvEnsemble() = default;
size_t CvEnsemble::folds() const { return impl_->folds.size(); }

std::vector<double> CvEnsemble::probabilities(const std::vector<ClsItem>& items) const {
  std::vector<double> mean(items.size(), 0.0);
  const double n = double(impl_->folds.size());
  for (const Impl::Fold& f : impl_->folds) {
    const std::vector<double> p = f.model.calibration.apply(predict_logits(*f.net, items, impl_->opt));
    for (size_t i = 0; i < p.size(); ++i) mean[i] += p[i] / n;
  }
  return mean;
}

std::vector<cv::Mat> CvEnsemble::grad_cam(const std::vector<ClsItem>& items) const {
  std::vector<cv::Mat> cams(items.size());
  for (Impl::Fold& f : impl_->folds) {
    if (!f.cam_net) f.cam_net = load_trained(f.model, impl_->opt, *impl_->log, /*optimise=*/false);
    const std::vector<cv::Mat> m = grad_cam_of(*f.cam_net, items, impl_->opt, impl_->layer);
    for (size_t i = 0; i < items.size(); ++i) cams[i] = cams[i].empty() ? m[i].clone() : cams[i] + m[i];
  }
  for (cv::Mat& c : cams)
    if (!c.empty()) cv::normalize(c, c, 0.0, 1.0, cv::NORM_MINMAX);
  return cams;
}

fs::path cv_fold_dir(const fs::path& cv_run, const std::string& arch, int repeat, int fold) {
  return cv_run / "folds" / arch / ("r" + std::to_string(repeat) + "f" + std::to_string(fold));
}

std::vector<fs::path> cv_fold_dirs(const fs::path& cv_run, const std::string& arch) {
  const fs::path dir = cv_run / "folds" / arch;
  FRACTURE_CHECK(fs::is_directory(dir), dir.string(), ": no fold models of ", arch, " (not a finished cv run)");
  std::vector<fs::path> folds;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) folds.push_back(e.path());
  std::sort(folds.begin(), folds.end());
  FRACTURE_CHECK(!folds.empty(), dir.string(), ": no fold folders");
  return folds;
}

std::vector<double> cv_ensemble_probabilities(const fs::path& cv_run, const std::string& arch,
                                              const std::vector<ClsItem>& items, const Config& cfg, Logger& log) {
  return CvEnsemble(cv_run, arch, cfg, log).probabilities(items);
}

PointingGame score_pointing(const std::vector<cv::Mat>& maps, const std::vector<std::vector<Box>>& boxes) {
  FRACTURE_CHECK(maps.size() == boxes.size(), "pointing game: ", maps.size(), " maps vs ", boxes.size(), " box lists");
  PointingGame g;
  for (size_t i = 0; i < maps.size(); ++i) {
    const std::vector<Box>& bx = boxes[i];
    if (bx.empty()) continue;
    const cv::Mat& m = maps[i];
    cv::Point peak;
    cv::minMaxLoc(m, nullptr, nullptr, nullptr, &peak);
    const double u = (peak.x + 0.5) / m.cols, v = (peak.y + 0.5) / m.rows;  // pixel centre, normalised
    bool hit = false;
    for (const Box& k : bx) hit = hit || (std::fabs(u - k.cx) <= k.w / 2 && std::fabs(v - k.cy) <= k.h / 2);
    // chance: the share of the image covered by the union of its boxes, on a 200 x 200 grid
    const int grid = 200;
    int inside = 0;
    for (int r = 0; r < grid; ++r)
      for (int c = 0; c < grid; ++c) {
        const double x = (c + 0.5) / grid, y = (r + 0.5) / grid;
        for (const Box& k : bx)
          if (std::fabs(x - k.cx) <= k.w / 2 && std::fabs(y - k.cy) <= k.h / 2) {
            ++inside;
            break;
          }
      }
    ++g.n_images;
    g.hits += hit;
    g.chance += double(inside) / double(grid * grid);
  }
  if (g.n_images) g.chance /= g.n_images;
  return g;
}

PointingGame pointing_game(const fs::path& model_dir, const std::vector<ClsItem>& items,
                           const std::vector<std::vector<Box>>& boxes, const Config& cfg, Logger& log) {
  FRACTURE_CHECK(items.size() == boxes.size(), "pointing game: ", items.size(), " images vs ", boxes.size(),
                 " box lists");
  return score_pointing(grad_cam_maps(model_dir, items, cfg, log), boxes);
}

ClassifyOutcome classify_val(const Config& cfg, Logger& log) {
  const TrainedModel m = resolve_trained(cfg.str("model"));
  const Config run_cfg = run_config(m.run);
  const ClassifyOptions opt = trained_options(run_cfg, cfg, m.arch);
  const std::string split = cfg.str("split");
  FRACTURE_CHECK(split == "train" || split == "val" || split == "test", "key 'split' must be train, val or test, got '",
                 split, "'");
  // Images: without data=, the run's own split file (the images it used): a train run's roles, or
  // for a cv fold that fold's roles (test = its held-out outer fold, val = its inner validation,
  // train = what it trained on). With data=, that dataset's split column.
  std::vector<ClsItem> items;
  std::string source;
  std::vector<UnusableFile> skipped;
  const bool own_data = cfg.str("data").empty();
  // The trained run's data keys (and its DICOM window, as the model saw it); how to screen and
  // skip (strict, validate, truncated) from this command.
  Config dc = run_cfg;
  for (const char* k : {"strict", "validate", "workers", "truncated"}) dc.set(k, value_text(cfg, k), "command line");
  if (own_data) {
    const ClsDataset ds = load_dataset(dc, log, &skipped);
    std::set<std::string> chosen;
    for (const auto& row : read_split_csv(m.run / "splits.csv"))
      if (row.repeat == m.repeat && row.fold == m.fold && row.role == split) chosen.insert(row.image);
    for (const auto& it : ds.items)
      if (chosen.count(it.image.string())) items.push_back(it);
    source = run_cfg.str("data") + " (roles of " + (m.run / "splits.csv").string() +
             (m.mode == "cv" ? ", repeat " + std::to_string(m.repeat) + " fold " + std::to_string(m.fold) : "") + ")";
  } else {
    dc.set("data", cfg.str("data"), "command line");
    const ClsDataset ds = load_dataset(dc, log, &skipped);
    for (const auto& it : ds.items)
      if (it.split == split) items.push_back(it);
    source = dc.str("data");
    if (m.mode == "cv")
      log.warn("{}: a cross-validation fold model was trained on part of the dataset; images of split '{}' it saw "
               "in training make these metrics optimistic",
               m.what, split);
  }
  FRACTURE_CHECK(!items.empty(), source, ": no images in split '", split, "'");
  std::vector<int> y;
  for (const auto& it : items) y.push_back(it.label);
  int pos = 0;
  for (int v : y) pos += v;
  FRACTURE_CHECK(pos > 0 && pos < int(y.size()), source, ": split '", split, "' needs both classes for the metrics, got ",
                 pos, " fractured of ", y.size());

  auto net = load_trained(m, opt, log);
  std::vector<std::string> lost;
  std::vector<double> z = predict_logits(*net, items, opt, cfg.boolean("strict") ? nullptr : &lost);
  note_lost(lost, split, log, skipped);
  if (keep_finite(z, items, y) > 0) {
    pos = int(std::count(y.begin(), y.end(), 1));
    FRACTURE_CHECK(pos > 0 && pos < int(y.size()), source, ": split '", split, "' lost a class to unreadable images: ",
                   pos, " fractured of ", y.size(), " left");
  }
  const std::vector<double> p = Calibrator{}.apply(z);
  const std::vector<double> pc = m.calibration.apply(z);
  const double thr = cfg.real("threshold");
  FRACTURE_CHECK(thr >= 0 && thr <= 1, "key 'threshold' must be in [0, 1], got ", thr);

  BootstrapOptions bo;
  bo.seed = uint64_t(cfg.integer("seed"));
  using Fn = std::function<double(const std::vector<int>&, const std::vector<double>&)>;
  auto at = [thr](double ThresholdMetrics::*field) -> Fn {
    return [thr, field](const std::vector<int>& l, const std::vector<double>& s) {
      return metrics_at_threshold(l, s, thr).*field;
    };
  };
  struct Row {
    const char* key;
    const std::vector<double>* scores;
    Fn fn;
  };
  const std::vector<Row> rows = {
      {"auroc", &z, roc_auc_score},
      {"ap", &z, average_precision_score},
      {"brier", &pc, brier_score_loss},
      {"accuracy", &pc, at(&ThresholdMetrics::accuracy)},
      {"precision", &pc, at(&ThresholdMetrics::precision)},
      {"recall", &pc, at(&ThresholdMetrics::recall)},
      {"specificity", &pc, at(&ThresholdMetrics::specificity)},
      {"f1", &pc, at(&ThresholdMetrics::f1)},
      {"ece_before", &p, expected_calibration_error},
      {"ece", &pc, expected_calibration_error},
      {"citl", &pc, [](const std::vector<int>& l, const std::vector<double>& s) {
         return calibration_line(l, s).intercept_in_the_large;
       }},
      {"slope", &pc, [](const std::vector<int>& l, const std::vector<double>& s) { return calibration_line(l, s).slope; }},
  };
  report::ClassifyValReport vr;
  for (const auto& r : rows) vr.metrics.emplace_back(r.key, bootstrap_ci(y, *r.scores, r.fn, bo));
  const fs::path run = make_run_dir(cfg.str("project"), "classify", cfg.str("name").empty() ? "val" : cfg.str("name"));
  report::write_skipped(run, skipped);
  vr.model = m.arch;
  vr.trained_run = fs::absolute(m.run).string();
  vr.weights = fs::absolute(m.weights).string();
  vr.which = m.what;
  vr.data = source;
  vr.split = split;
  vr.n_images = y.size();
  vr.n_positive = pos;
  vr.calibration = m.calibration;
  vr.threshold = thr;
  vr.ci_seed = bo.seed;
  report::write_classify_val_metrics(run, vr);
  std::vector<report::ScoredImage> scored;
  for (size_t i = 0; i < items.size(); ++i) scored.push_back({items[i].image.string(), y[i], z[i], p[i], pc[i]});
  report::write_val_predictions(run, scored);
  ClassifyOutcome out;
  out.run_dir = run;
  std::ostringstream rep;
  rep << "classify val: " << m.what << " on split '" << split << "' of " << source << ": " << y.size() << " images ("
      << pos << " fractured); calibration " << m.calibration.describe() << ", threshold " << thr
      << " on the calibrated probability\n\n"
      << report::format_classify_val_table(vr);
  out.report = rep.str();
  return out;
}

ClassifyOutcome classify_predict(const Config& cfg, Logger& log) {
  const TrainedModel m = resolve_trained(cfg.str("model"));
  const Config run_cfg = run_config(m.run);
  const ClassifyOptions opt = trained_options(run_cfg, cfg, m.arch);
  const fs::path src = cfg.str("source");
  std::vector<UnusableFile> skipped;
  std::vector<ClsItem> items = detail::source_items(cfg, "fracture classify predict", log, skipped);
  const double thr = cfg.real("threshold");
  FRACTURE_CHECK(thr >= 0 && thr <= 1, "key 'threshold' must be in [0, 1], got ", thr);
  auto net = load_trained(m, opt, log);
  std::vector<std::string> lost;
  std::vector<double> z = predict_logits(*net, items, opt, cfg.boolean("strict") ? nullptr : &lost);
  note_lost(lost, "", log, skipped);
  keep_finite(z, items);
  const std::vector<double> p = Calibrator{}.apply(z);
  const std::vector<double> pc = m.calibration.apply(z);
  const fs::path run =
      make_run_dir(cfg.str("project"), "classify", cfg.str("name").empty() ? "predict" : cfg.str("name"));
  report::write_skipped(run, skipped);
  std::ostringstream rep;
  rep << "classify predict: " << m.what << ", calibration " << m.calibration.describe() << ", fractured when calibrated p >= "
      << thr << "\n";
  std::vector<report::ScoredImage> scored;
  for (size_t i = 0; i < items.size(); ++i) {
    const bool fractured = pc[i] >= thr;
    char line[64];
    std::snprintf(line, sizeof line, "p=%.4f calibrated=%.4f %-13s ", p[i], pc[i],
                  fractured ? "fractured" : "not_fractured");
    rep << line << items[i].image.string() << "\n";
    scored.push_back({items[i].image.string(), -1, z[i], p[i], pc[i]});
  }
  report::write_predictions(run, scored, thr);
  log.debug("predicted {} images", items.size());
  ClassifyOutcome out;
  out.run_dir = run;
  out.report = rep.str();
  return out;
}

}  // namespace fracture::engine
