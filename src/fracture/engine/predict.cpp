#include "fracture/engine/predict.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/rundir.h"
#include "fracture/data/image.h"
#include "fracture/engine/classify_run.h"
#include "fracture/engine/detect_eval.h"
#include "fracture/engine/detect_run.h"
#include "fracture/report/data_files.h"
#include "fracture/report/detect_files.h"
#include "fracture/report/study_report.h"

namespace fracture::engine {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// What the run fixed: the best backbone of a classify cv run and its cutoffs, and a detector run.
struct Frozen {
  fs::path cls;          // the classify cv run; "" for a detect run
  std::string arch;
  double threshold = 0.5, sensitive = 0, specific = 1;  // Youden; sensitivity>=0.95; specificity>=0.90
  fs::path det_run;      // "" without a detector
  std::string detector;  // its name (the study's size, or the run folder's name)
};

void frozen_classifier(const fs::path& cv, Frozen& f) {
  const json dev = report::read_stage_json(cv / "metrics.json");
  f.cls = cv;
  f.arch = report::best_classifier(dev);
  FRACTURE_CHECK(!f.arch.empty(), cv.string(), ": no classifier with an AUROC");
  auto cut = [&](const std::string& criterion) {
    const json* op = report::operating_point(dev.at("models").at(f.arch), criterion);
    FRACTURE_CHECK(op && op->at("threshold_mean").is_number(), cv.string(), ": ", f.arch, " has no ", criterion,
                   " operating point (met on no fold)");
    return op->at("threshold_mean").get<double>();
  };
  f.threshold = cut("youden");
  f.sensitive = cut("sensitivity>=0.95");
  f.specific = cut("specificity>=0.90");
}

// model=: a study (classifier and detector), a classify cv run (classifier) or a detect train run
// (boxes only).
Frozen frozen(const fs::path& dir) {
  Frozen f;
  if (fs::is_regular_file(dir / "study.json")) {
    frozen_classifier(dir / "classify" / "cv", f);
    f.detector = report::best_detector(dir, detail::run_config(dir).list("detectors"));
    if (!f.detector.empty()) f.det_run = dir / "detect" / f.detector;
    return f;
  }
  if (fs::is_regular_file(dir / "run.json")) {
    const json run = report::read_stage_json(dir / "run.json");
    FRACTURE_CHECK(run.value("mode", "") == "cv", "model=", dir.string(), ": a classify ", run.value("mode", "?"),
                   " run; fracture predict needs cross-validated cutoffs (a classify cv run or a study); for one "
                   "trained model use `fracture classify predict`");
    frozen_classifier(dir, f);
    return f;
  }
  if (fs::is_regular_file(dir / "weights" / "best.safetensors") && fs::is_regular_file(dir / "args.yaml")) {
    f.det_run = dir;
    f.detector = dir.filename().string();
    return f;
  }
  FRACTURE_FAIL("model=", dir.string(), ": fracture predict takes a study directory (runs/study/<name>), a classify cv ",
                "run (runs/classify/cv) or a detect train run (runs/detect/train)");
}

std::string triage(double p, const Frozen& f) {
  if (p >= f.sensitive && p >= f.specific) return "positive";
  if (p < f.sensitive && p < f.specific) return "negative";
  return "doubtful";
}


}  // namespace

PredictOutcome predict_study(const Config& cfg, Logger& log) {
  const Frozen f = frozen(cfg.str("model"));
  const bool classify = !f.cls.empty();
  std::vector<UnusableFile> skipped;
  const std::vector<ClsItem> items = detail::source_items(cfg, "fracture predict", log, skipped);
  std::vector<double> prob;
  std::vector<cv::Mat> cams(items.size());
  std::vector<fs::path> folds;
  if (classify) {
    prob = cv_ensemble_probabilities(f.cls, f.arch, items, cfg, log);
    // Grad-CAM: the mean of the fold models' maps, rescaled to [0, 1]
    folds = cv_fold_dirs(f.cls, f.arch);
    for (const fs::path& fold : folds) {
      const std::vector<cv::Mat> m = grad_cam_maps(fold, items, cfg, log);
      for (size_t i = 0; i < items.size(); ++i) cams[i] = cams[i].empty() ? m[i].clone() : cams[i] + m[i];
    }
    for (cv::Mat& c : cams) cv::normalize(c, c, 0.0, 1.0, cv::NORM_MINMAX);
  }

  const torch::Device device(cfg.str("device"));
  std::optional<LoadedDetector> det;
  PredictOptions po;
  if (!f.det_run.empty()) {
    const Config dc = detail::run_config(f.det_run);
    det = load_detector(f.det_run, device, detect_inference_options(cfg, device, log));
    po.imgsz = int(dc.integer("imgsz"));
    po.conf = cfg.is_null("conf") ? 0.25 : cfg.real("conf");
    po.iou = cfg.real("iou");
    po.max_det = cfg.integer("max_det");
    po.channels_last = cfg.boolean("channels_last") && device.is_cpu();
    po.rect = cfg.boolean("rect");
  }
  PredictOutcome out;
  out.run_dir = make_run_dir(cfg.str("project"), "predict", cfg.str("name").empty() ? "predict" : cfg.str("name"));
  write_run_args(out.run_dir, cfg);
  report::write_skipped(out.run_dir, skipped);
  const fs::path src = cfg.str("source");
  json all = json::array();
  std::ostringstream rep;
  rep << "fracture predict: ";
  if (classify)
    rep << f.arch << " (mean of " << folds.size() << " fold models), fractured when p >= " << f.threshold
        << "; triage cutoffs " << f.sensitive << " (sensitivity >= 0.95) and " << f.specific << " (specificity >= 0.90)";
  else
    rep << "no classifier (a detect run: boxes only)";
  rep << (f.detector.empty() ? "" : "; boxes: " + f.detector) << "\n";
  for (size_t i = 0; i < items.size(); ++i) {
    const fs::path& file = items[i].image;
    const cv::Mat img = to_float01(read_image(file, read_options(cfg)));
    std::vector<Prediction> boxes;
    if (det) boxes = predict_image(*det->net, img, po);
    // without a classifier (a detect run) the classifier's fields are null
    json j = {{"file", file.string()}, {"width", img.cols}, {"height", img.rows}, {"model", nullptr},
              {"probability", nullptr}, {"threshold", nullptr}, {"fractured", nullptr}, {"triage", nullptr},
              {"triage_cutoffs", nullptr}, {"detector", f.detector},
              {"boxes", det ? report::boxes_json(boxes, det->names) : json::array()}, {"gradcam_peak", nullptr}};
    std::string t = "-";
    if (classify) {
      t = triage(prob[i], f);
      cv::Point peak;
      cv::minMaxLoc(cams[i], nullptr, nullptr, nullptr, &peak);
      j["model"] = f.arch;
      j["probability"] = prob[i];
      j["threshold"] = f.threshold;
      j["fractured"] = prob[i] >= f.threshold;
      j["triage"] = t;
      j["triage_cutoffs"] = {{"high_sensitivity", f.sensitive}, {"high_specificity", f.specific}};
      j["gradcam_peak"] = {peak.x, peak.y};
    }
    std::string stem = fs::is_directory(src) ? fs::relative(file, src).replace_extension().string() : file.stem().string();
    std::replace(stem.begin(), stem.end(), '/', '_');
    j["overlay"] = stem + ".png";
    write_file_atomic(out.run_dir / (stem + ".json"), j.dump(2) + "\n");
    std::vector<uchar> png;
    cv::imencode(".png", report::gradcam_overlay(img, cams[i], boxes, det ? det->names : std::vector<std::string>{}), png);
    write_file_atomic(out.run_dir / (stem + ".png"),
                      std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
    all.push_back(j);
    char line[160];
    if (classify)
      std::snprintf(line, sizeof line, "p=%.4f %-13s %-9s %zu boxes  ", prob[i],
                    prob[i] >= f.threshold ? "fractured" : "not_fractured", t.c_str(), boxes.size());
    else
      std::snprintf(line, sizeof line, "%zu boxes  ", boxes.size());
    rep << line << file.string() << "\n";
  }
  write_file_atomic(out.run_dir / "predictions.json", all.dump(1) + "\n");
  if (!skipped.empty()) rep << skipped.size() << " unusable files left out (skipped.csv)\n";
  out.report = rep.str();
  return out;
}

}  // namespace fracture::engine
