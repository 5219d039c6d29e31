#include "fracture/engine/predictor.h"

#include <torch/torch.h>

#include <optional>
#include <sstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "fracture/core/error.h"
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

struct Predictor::Impl {
  Config cfg;
  Frozen f;
  std::unique_ptr<CvEnsemble> ensemble;  // null for a detect run
  std::optional<LoadedDetector> det;
  PredictOptions po;
};

Predictor::Predictor(const Config& cfg, Logger& log) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.cfg = cfg;
  m.f = frozen(cfg.str("model"));
  if (!m.f.cls.empty()) m.ensemble = std::make_unique<CvEnsemble>(m.f.cls, m.f.arch, cfg, log);
  if (!m.f.det_run.empty()) {
    const torch::Device device(cfg.str("device"));
    const Config dc = detail::run_config(m.f.det_run);
    m.det = load_detector(m.f.det_run, device, detect_inference_options(cfg, device, log));
    m.po.imgsz = int(dc.integer("imgsz"));
    m.po.conf = cfg.is_null("conf") ? 0.25 : cfg.real("conf");
    m.po.iou = cfg.real("iou");
    m.po.max_det = cfg.integer("max_det");
    m.po.channels_last = cfg.boolean("channels_last") && device.is_cpu();
    m.po.rect = cfg.boolean("rect");
  }
}

Predictor::~Predictor() = default;

std::string Predictor::summary() const {
  const Impl& m = *impl_;
  std::ostringstream rep;
  if (m.ensemble)
    rep << m.f.arch << " (mean of " << m.ensemble->folds() << " fold models), fractured when p >= " << m.f.threshold
        << "; triage cutoffs " << m.f.sensitive << " (sensitivity >= 0.95) and " << m.f.specific
        << " (specificity >= 0.90)";
  else
    rep << "no classifier (a detect run: boxes only)";
  rep << (m.f.detector.empty() ? "" : "; boxes: " + m.f.detector);
  return rep.str();
}

json Predictor::info() const {
  const Impl& m = *impl_;
  json j = {{"fracture_version", FRACTURE_VERSION}, {"model_dir", fs::absolute(m.cfg.str("model")).string()},
            {"classifier", nullptr}, {"detector", nullptr}};
  if (m.ensemble)
    j["classifier"] = {{"architecture", m.f.arch}, {"fold_models", m.ensemble->folds()},
                       {"cv_run", fs::absolute(m.f.cls).string()}, {"threshold", m.f.threshold},
                       {"threshold_criterion", "youden"},
                       {"triage_cutoffs", {{"high_sensitivity", m.f.sensitive}, {"high_specificity", m.f.specific}}}};
  if (m.det)
    j["detector"] = {{"name", m.f.detector}, {"run", fs::absolute(m.f.det_run).string()}, {"classes", m.det->names},
                     {"imgsz", m.po.imgsz}, {"conf", m.po.conf}, {"iou", m.po.iou}};
  return j;
}

std::vector<ImagePrediction> Predictor::predict(const std::vector<ClsItem>& items) const {
  Impl& m = *impl_;  // the models run (not const), one caller at a time
  std::vector<double> prob;
  std::vector<cv::Mat> cams(items.size());
  if (m.ensemble) {
    prob = m.ensemble->probabilities(items);
    cams = m.ensemble->grad_cam(items);
  }
  std::vector<ImagePrediction> out;
  for (size_t i = 0; i < items.size(); ++i) {
    const fs::path& file = items[i].image;
    const cv::Mat img = to_float01(read_image(file, read_options(m.cfg)));
    std::vector<Prediction> boxes;
    if (m.det) boxes = predict_image(*m.det->net, img, m.po);
    // without a classifier (a detect run) the classifier's fields are null
    ImagePrediction r;
    json& j = r.json;
    j = {{"file", file.string()}, {"width", img.cols}, {"height", img.rows}, {"model", nullptr},
         {"probability", nullptr}, {"threshold", nullptr}, {"fractured", nullptr}, {"triage", nullptr},
         {"triage_cutoffs", nullptr}, {"detector", m.f.detector},
         {"boxes", m.det ? report::boxes_json(boxes, m.det->names) : json::array()}, {"gradcam_peak", nullptr}};
    std::string t = "-";
    if (m.ensemble) {
      t = triage(prob[i], m.f);
      cv::Point peak;
      cv::minMaxLoc(cams[i], nullptr, nullptr, nullptr, &peak);
      j["model"] = m.f.arch;
      j["probability"] = prob[i];
      j["threshold"] = m.f.threshold;
      j["fractured"] = prob[i] >= m.f.threshold;
      j["triage"] = t;
      j["triage_cutoffs"] = {{"high_sensitivity", m.f.sensitive}, {"high_specificity", m.f.specific}};
      j["gradcam_peak"] = {peak.x, peak.y};
    }
    std::vector<uchar> png;
    cv::imencode(".png", report::gradcam_overlay(img, cams[i], boxes, m.det ? m.det->names : std::vector<std::string>{}),
                 png);
    r.overlay_png.assign(reinterpret_cast<const char*>(png.data()), png.size());
    char line[160];
    if (m.ensemble)
      std::snprintf(line, sizeof line, "p=%.4f %-13s %-9s %zu boxes  ", prob[i],
                    prob[i] >= m.f.threshold ? "fractured" : "not_fractured", t.c_str(), boxes.size());
    else
      std::snprintf(line, sizeof line, "%zu boxes  ", boxes.size());
    r.line = line + file.string();
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace fracture::engine
