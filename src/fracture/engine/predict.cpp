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

// What the study fixed: the best backbone and its cutoffs, the best detector.
struct Frozen {
  std::string arch;
  double threshold = 0.5, sensitive = 0, specific = 1;  // Youden; sensitivity>=0.95; specificity>=0.90
  std::string detector;  // "" without detectors
};

Frozen frozen(const fs::path& study) {
  const json dev = report::read_stage_json(study / "classify" / "cv" / "metrics.json");
  Frozen f;
  f.arch = report::best_classifier(dev);
  FRACTURE_CHECK(!f.arch.empty(), study.string(), ": the study has no classifier with an AUROC");
  auto cut = [&](const std::string& criterion) {
    for (const json& op : dev.at("models").at(f.arch).at("operating_points"))
      if (op.at("criterion") == criterion && op.at("threshold_mean").is_number()) return op.at("threshold_mean").get<double>();
    FRACTURE_FAIL(study.string(), ": ", f.arch, " has no ", criterion, " operating point (met on no fold)");
  };
  f.threshold = cut("youden");
  f.sensitive = cut("sensitivity>=0.95");
  f.specific = cut("specificity>=0.90");
  f.detector = report::best_detector(study, detail::run_config(study).list("detectors"));
  return f;
}

std::string triage(double p, const Frozen& f) {
  if (p >= f.sensitive && p >= f.specific) return "positive";
  if (p < f.sensitive && p < f.specific) return "negative";
  return "doubtful";
}


}  // namespace

PredictOutcome predict_study(const Config& cfg, Logger& log) {
  const fs::path study = cfg.str("model");
  FRACTURE_CHECK(fs::is_regular_file(study / "study.json"), "model=", study.string(),
                 ": fracture predict takes a study directory (runs/study/<name>); for a single classify or detect run ",
                 "use `fracture classify predict` or `fracture detect predict`");
  const Frozen f = frozen(study);
  const fs::path cls = study / "classify" / "cv";
  std::vector<UnusableFile> skipped;
  const std::vector<ClsItem> items = detail::source_items(cfg, "fracture predict", log, skipped);
  const std::vector<double> prob = cv_ensemble_probabilities(cls, f.arch, items, cfg, log);
  // Grad-CAM: the mean of the fold models' maps, rescaled to [0, 1]
  std::vector<cv::Mat> cams(items.size());
  const std::vector<fs::path> folds = cv_fold_dirs(cls, f.arch);
  for (const fs::path& fold : folds) {
    const std::vector<cv::Mat> m = grad_cam_maps(fold, items, cfg, log);
    for (size_t i = 0; i < items.size(); ++i) cams[i] = cams[i].empty() ? m[i].clone() : cams[i] + m[i];
  }
  for (cv::Mat& c : cams) cv::normalize(c, c, 0.0, 1.0, cv::NORM_MINMAX);

  const torch::Device device(cfg.str("device"));
  std::optional<LoadedDetector> det;
  PredictOptions po;
  if (!f.detector.empty()) {
    const Config dc = detail::run_config(study / "detect" / f.detector);
    det = load_detector(study / "detect" / f.detector, device, detect_inference_options(cfg, device, log));
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
  rep << "fracture predict: " << f.arch << " (mean of " << folds.size() << " fold models), fractured when p >= "
      << f.threshold << "; triage cutoffs " << f.sensitive << " (sensitivity >= 0.95) and " << f.specific
      << " (specificity >= 0.90)" << (f.detector.empty() ? "" : "; boxes: " + f.detector) << "\n";
  for (size_t i = 0; i < items.size(); ++i) {
    const fs::path& file = items[i].image;
    const cv::Mat img = to_float01(read_image(file, read_options(cfg)));
    std::vector<Prediction> boxes;
    if (det) boxes = predict_image(*det->net, img, po);
    const std::string t = triage(prob[i], f);
    cv::Point peak;
    cv::minMaxLoc(cams[i], nullptr, nullptr, nullptr, &peak);
    json j = {{"file", file.string()},
              {"width", img.cols},
              {"height", img.rows},
              {"model", f.arch},
              {"probability", prob[i]},
              {"threshold", f.threshold},
              {"fractured", prob[i] >= f.threshold},
              {"triage", t},
              {"triage_cutoffs", {{"high_sensitivity", f.sensitive}, {"high_specificity", f.specific}}},
              {"detector", f.detector},
              {"boxes", det ? report::boxes_json(boxes, det->names) : json::array()},
              {"gradcam_peak", {peak.x, peak.y}}};
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
    std::snprintf(line, sizeof line, "p=%.4f %-13s %-9s %zu boxes  ", prob[i],
                  prob[i] >= f.threshold ? "fractured" : "not_fractured", t.c_str(), boxes.size());
    rep << line << file.string() << "\n";
  }
  write_file_atomic(out.run_dir / "predictions.json", all.dump(1) + "\n");
  if (!skipped.empty()) rep << skipped.size() << " unusable files left out (skipped.csv)\n";
  out.report = rep.str();
  return out;
}

}  // namespace fracture::engine
