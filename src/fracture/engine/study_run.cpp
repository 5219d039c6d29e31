// fracture study: classify cv, detect train + test per detector, then the comparison, into one
// study directory (layout in study_run.h).
#include "fracture/engine/study_run.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/rundir.h"
#include "fracture/data/classification.h"
#include "fracture/data/dataset.h"
#include "fracture/data/image.h"
#include "fracture/data/splits.h"
#include "fracture/data/yolo.h"
#include "fracture/engine/classify_run.h"
#include "fracture/engine/detect_run.h"
#include "fracture/engine/detect_train.h"
#include "fracture/report/compare.h"
#include "fracture/report/detect_files.h"
#include "fracture/report/study_report.h"
#include "fracture/report/study_html.h"
#include "fracture/report/plot.h"

namespace fracture::engine {

namespace {

namespace fs = std::filesystem;

// The key a path is matched by across stages (the classify CSV and the detectors' predictions.json
// name the same files, perhaps spelled differently).
std::string image_key(const std::string& p) { return fs::weakly_canonical(fs::path(p)).string(); }

// study.json marks a folder as a study (resume= refuses folders without it).
void mark_study(const fs::path& run) { write_file_atomic(run / "study.json", "{\"task\": \"study\"}\n"); }

// The study directory: new (args.yaml written) or the resumed one with its config. shard=i/n with
// name=X: the shared directory <project>/study/X, joined (keys checked as on resume) when a shard
// made it before, else made here; shards starting together write the same args.yaml (shard left out).
fs::path study_dir(Config& cfg, Logger& log) {
  const bool sharded = !cfg.is_null("shard");
  if (sharded && cfg.str("resume").empty()) {
    FRACTURE_CHECK(!cfg.str("name").empty(), "shard=", cfg.str("shard"), " needs name= (the study directory ",
                   "project/study/<name> every shard shares)");
    const fs::path dir = shared_run_dir(cfg, "study");
    if (fs::is_regular_file(dir / "study.json")) cfg.set("resume", dir.string(), "shard");
  }
  if (cfg.str("resume").empty()) {
    cfg = detail::absolute_paths(cfg);
    fs::path run;
    if (sharded) {
      run = make_shared_run_dir(cfg, "study");
    } else {
      run = make_run_dir(cfg.str("project"), "study", cfg.str("name").empty() ? "study" : cfg.str("name"));
      write_run_args(run, cfg);
    }
    mark_study(run);
    return run;
  }
  const std::string shard = sharded ? cfg.str("shard") : std::string();
  fs::path run = cfg.str("resume");
  if (!run.has_filename()) run = run.parent_path();
  // without study.json, a study killed between its args.yaml and study.json holds args.yaml alone
  // (any other folder with an args.yaml, a dataset made by synth or another run, holds more)
  const bool marked = fs::is_regular_file(run / "study.json");
  FRACTURE_CHECK((marked && fs::is_regular_file(run / "args.yaml")) || stopped_at_birth(run), "resume=",
                 run.string(), ": not a fracture study directory (no args.yaml and study.json)");
  if (!marked) {
    log.info("resume: {} stopped before it began (no study.json): running it from the start", run.string());
    mark_study(run);
  }
  if (!sharded) remove_killed_writes(run, log);  // other shards may be writing into a shared study
  cfg = detail::resumed_config(cfg, run, log);
  if (sharded) cfg.set("shard", shard, "cli");
  return run;
}

// The config that resumes a stage's run: the defaults, the keys a resumed run may change, resume=.
Config stage_resume(const Config& cfg, const fs::path& run) {
  Config c = Config::defaults();
  for (const char* k : {"device", "workers", "threads", "verbose", "cache", "shard"}) c.set(k, detail::value_text(cfg, k), "study");
  c.set("resume", run.string(), "study");
  return c;
}

// Stage 1: the classifiers' cross-validation (resumed fold by fold when it was started).
fs::path classify_stage(const Config& cfg, const fs::path& study, Logger& log) {
  const fs::path run = study / "classify" / "cv";
  Config c = cfg;
  c.set("resume", "", "study");
  if (fs::is_regular_file(run / "run.json")) {
    c = stage_resume(cfg, run);
    log.info("study: classification stage: {} exists, finished folds are kept", run.string());
  } else {
    // made but killed before its splits: nothing finished (a shard leaves it: another may be writing it)
    if (fs::exists(run) && cfg.is_null("shard")) fs::remove_all(run);
    c.set("project", study.string(), "study");
    c.set("name", "cv", "study");
    if (c.is_null("model")) c.set("model", "all", "study");
    if (!cfg.str("cls_data").empty()) c.set("data", cfg.str("cls_data"), "study");
  }
  const ClassifyOutcome out = classify_cv(c, log);
  FRACTURE_CHECK(out.run_dir == run, "study: the classification run went to ", out.run_dir.string(), ", expected ",
                 run.string());
  return run;
}

// `detect val` of a study detector's best weights on `data`'s `split` into <study>/detect/<name>
// (skipped when it has metrics.json; a folder without one is redone).
void evaluate_detector(const Config& cfg, const fs::path& study, const std::string& size, const std::string& data,
                       const std::string& split, const std::string& name, Logger& log) {
  const fs::path out = study / "detect" / name;
  if (fs::is_regular_file(out / "metrics.json")) return;
  if (fs::exists(out)) fs::remove_all(out);
  const Config trained = detail::run_config(study / "detect" / size);
  Config v = cfg;
  v.set("resume", "", "study");
  v.set("model", (study / "detect" / size).string(), "study");
  v.set("data", data.empty() ? trained.str("data") : data, "study");
  v.set("split", split, "study");
  v.set("imgsz", trained.str("imgsz"), "study");
  v.set("batch", trained.str("batch"), "study");
  v.set("project", study.string(), "study");
  v.set("name", name, "study");
  v.set("conf", "null", "study");
  detect_val(v, log);
}

// Stage 2: one detector trained (or resumed), then its best weights on the test split.
void detect_stage(const Config& cfg, const fs::path& study, const std::string& size, Logger& log) {
  const fs::path run = study / "detect" / size;
  if (!fs::is_regular_file(run / "metrics.json")) {
    Config c = cfg;
    if (fs::is_regular_file(run / "weights" / "last_state.json")) {
      c = stage_resume(cfg, run);
      log.info("study: {}: resuming from its last checkpoint", size);
    } else {
      if (fs::exists(run)) fs::remove_all(run);  // made but killed before its first checkpoint
      c.set("resume", "", "study");
      c.set("shard", "null", "study");  // a detector is one job, trained whole by one shard
      c.set("project", study.string(), "study");
      c.set("name", size, "study");
      c.set("model", size, "study");
      c.set("epochs", detail::value_text(cfg, cfg.is_null("det_epochs") ? "epochs" : "det_epochs"), "study");
      c.set("batch", detail::value_text(cfg, cfg.is_null("det_batch") ? "batch" : "det_batch"), "study");
      c.set("imgsz", detail::value_text(cfg, "det_imgsz"), "study");
      for (const char* k : {"translate", "scale", "hsv_v"}) c.set(k, "null", "study");  // the detection defaults
    }
    const DetectTrainResult r = detect_train(c, log);
    FRACTURE_CHECK(r.run_dir == run, "study: detector ", size, " went to ", r.run_dir.string(), ", expected ",
                   run.string());
  } else {
    log.info("study: {}: trained before (metrics.json), kept", size);
  }
  evaluate_detector(cfg, study, size, "", "test", size + "_test", log);
}

// One image score per detector: the highest box confidence (any class), 0 without a box.
std::map<std::string, double> detector_scores(const fs::path& predictions) {
  std::map<std::string, double> s;
  for (const ImagePredictions& im : report::read_predictions_json(predictions)) {
    double m = 0;
    for (const Prediction& p : im.preds) m = std::max(m, double(p.conf));
    s[image_key(im.path)] = m;
  }
  return s;
}

// Per image of the classification study: the label and, per classifier, the calibrated
// out-of-fold probability averaged over repeats.
struct OofScores {
  std::map<std::string, int> label;
  std::map<std::string, std::map<std::string, double>> prob;  // model -> image -> mean calibrated p
  std::vector<std::string> models;                            // in file order
};
OofScores read_oof(const fs::path& file) {
  const std::vector<csv::Record> rows = csv::parse(read_file(file), file.string());
  FRACTURE_CHECK(!rows.empty(), file.string(), ": empty");
  std::map<std::string, size_t> col;
  for (size_t k = 0; k < rows[0].fields.size(); ++k) col[rows[0].fields[k]] = k;
  for (const char* need : {"image", "model", "calibrated_probability", "label"})
    FRACTURE_CHECK(col.count(need), file.string(), ": no column '", need, "'");
  OofScores o;
  std::map<std::string, std::map<std::string, int>> count;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r].fields;
    FRACTURE_CHECK(f.size() == rows[0].fields.size(), file.string(), ":", rows[r].line, ": ", f.size(),
                   " fields, expected ", rows[0].fields.size());
    const std::string img = image_key(f[col["image"]]), model = f[col["model"]];
    if (!o.prob.count(model)) o.models.push_back(model);
    o.prob[model][img] += std::stod(f[col["calibrated_probability"]]);
    ++count[model][img];
    o.label[img] = std::stoi(f[col["label"]]);
  }
  for (auto& [model, m] : o.prob)
    for (auto& [img, p] : m) p /= count[model][img];
  return o;
}

// External validation: each classifier's fold models (weights and calibrators frozen) on the
// external images, judged at the development data's Youden threshold (mean over folds), beside the
// development figures; detectors on the external data.yaml's test split (else val) when it has boxes.
void external_stage(const Config& cfg, const fs::path& study, const fs::path& cls, const std::vector<std::string>& sizes,
                    report::StudyReportInput& rin, Logger& log) {
  const std::string ext = cfg.str("external");
  Config ec = detail::run_config(cls);  // the development data's reading keys (positive, fracture_classes, ...)
  for (const char* k : {"strict", "validate", "workers", "truncated"}) ec.set(k, detail::value_text(cfg, k), "study");
  ec.set("data", ext, "study");
  const ClsDataset ds = detail::load_dataset(ec, log);
  std::vector<int> y;
  for (const auto& it : ds.items) y.push_back(it.label);
  rin.has_external = true;
  rin.external_data = ext;
  rin.n_external = int(y.size());
  rin.n_external_positive = int(std::count(y.begin(), y.end(), 1));
  const nlohmann::json dev = report::read_stage_json(cls / "metrics.json");
  CompareOptions co;
  co.seed = uint64_t(cfg.integer("seed"));
  for (const auto& [arch, m] : dev.at("models").items()) {
    report::ExternalRow row;
    row.name = arch;
    const nlohmann::json* op = report::operating_point(m, "youden");
    FRACTURE_CHECK(op, (cls / "metrics.json").string(), ": no youden operating point for ", arch);
    const nlohmann::json& youden = *op;
    row.threshold = youden.at("threshold_mean").get<double>();
    log.info("study: external validation of {} on {} ({} images)", arch, ext, y.size());
    const std::vector<double> p = cv_ensemble_probabilities(cls, arch, ds.items, cfg, log);
    row.figures = score_figures(y, p, row.threshold, co, /*calibration=*/true);
    auto val = [](const nlohmann::json& j) { return j.at("value").is_number() ? j.at("value").get<double>() : NAN; };
    for (const char* k : {"auroc", "ap"}) row.internal.emplace_back(k, val(m.at(k)));
    row.internal.emplace_back("brier", val(m.at("calibration").at("after").at("brier")));
    for (const char* k : {"accuracy", "precision", "specificity", "f1"}) row.internal.emplace_back(k, val(youden.at(k)));
    row.internal.emplace_back("recall", val(youden.at("sensitivity")));
    for (const char* k : {"ece", "citl", "slope"}) row.internal.emplace_back(k, val(m.at("calibration").at("after").at(k)));
    rin.external.push_back(row);
  }
  if (fs::path(ext).extension() != ".yaml" || sizes.empty()) return;  // no boxes: classifiers only
  const std::string split = load_yolo(ext, false, log, nullptr).splits.count("test") ? "test" : "val";
  for (const std::string& size : sizes) {
    const fs::path run = study / "detect" / (size + "_external");
    evaluate_detector(cfg, study, size, ext, split, size + "_external", log);
    rin.external_detectors.push_back({size, study / "detect" / (size + "_test"), run});
  }
}

// image key -> the outer fold that held the image out in repeat 0 of the classifiers' CV.
std::map<std::string, int> repeat0_test_folds(const fs::path& cls) {
  std::map<std::string, int> fold_of;
  for (const SplitRow& r : read_split_csv(cls / "splits.csv"))
    if (r.repeat == 0 && r.role == "test") fold_of[image_key(r.image)] = r.fold;
  return fold_of;
}

// The report's sample radiographs: up to three detection test images that are fractured and three
// that are not (in file order), each drawn with its true boxes (green), the best detector's test
// boxes, and the Grad-CAM map of the best classifier's fold model that held it out (repeat 0), with
// that image's out-of-fold probability: samples/<stem>.png and samples/samples.json, made anew.
// `best`: the best classifier; `fold_of`: repeat0_test_folds.
void samples_stage(const Config& cfg, const fs::path& study, const fs::path& cls, const std::string& best,
                   const std::map<std::string, int>& fold_of, const std::vector<std::string>& sizes,
                   const OofScores& oof, Logger& log) {
  const std::string det = report::best_detector(study, sizes);
  const fs::path preds = study / "detect" / (det + "_test") / "predictions.json";
  if (det.empty() || !fs::is_regular_file(preds) || !oof.prob.count(best)) return;
  const std::vector<std::string> names =
      report::read_stage_json(study / "detect" / det / "weights" / "names.json").get<std::vector<std::string>>();
  const fs::path out = study / "samples";
  fs::remove_all(out);
  fs::create_directories(out);
  nlohmann::json list = nlohmann::json::array();
  int taken[2] = {0, 0};
  for (const ImagePredictions& im : report::read_predictions_json(preds)) {
    const std::string key = image_key(im.path);
    const auto lab = oof.label.find(key);
    const auto fold = fold_of.find(key);
    if (lab == oof.label.end() || fold == fold_of.end() || taken[lab->second] >= 3) continue;
    ++taken[lab->second];
    const ClsItem item{im.path, lab->second, "", "test"};
    const cv::Mat cam = grad_cam_maps(cv_fold_dir(cls, best, 0, fold->second), {item}, cfg, log)[0];
    const cv::Mat img = to_float01(read_image(im.path, read_options(cfg)));
    const std::string stem = fs::path(im.path).stem().string();
    std::vector<Prediction> shown;  // the test run keeps every box from conf 0.001 (for mAP); drawn: predict's 0.25
    for (const Prediction& b : im.preds)
      if (b.conf >= 0.25) shown.push_back(b);
    report::write_png_atomic(report::gradcam_overlay(img, cam, shown, names, im.gts), out / (stem + ".png"));
    const double p = oof.prob.at(best).at(key);
    char cap[320];
    std::snprintf(cap, sizeof cap,
                  "%s: %s; %s out-of-fold probability %.3f (Grad-CAM of its held-out fold model); %zu %s box%s "
                  "(conf >= 0.25) over %zu true box%s (green).",
                  fs::path(im.path).filename().string().c_str(), lab->second ? "fractured" : "not fractured",
                  best.c_str(), p, shown.size(), det.c_str(), shown.size() == 1 ? "" : "es", im.gts.size(),
                  im.gts.size() == 1 ? "" : "es");
    list.push_back({{"file", im.path}, {"overlay", stem + ".png"}, {"label", lab->second}, {"probability", p},
                    {"title", std::string(lab->second ? "Fractured: " : "Not fractured: ") + stem}, {"caption", cap}});
    if (taken[0] + taken[1] == 6) break;
  }
  write_file_atomic(out / "samples.json", list.dump(1) + "\n");
  log.info("study: {} sample radiographs with boxes and Grad-CAM in {}", list.size(), out.string());
}

// Grad-CAM pointing game of the best classifier on the detection test images with fracture boxes,
// each image explained by the repeat-0 fold model that held it out (out-of-fold, as the comparison).
// `best`: the best classifier; `fold_of`: repeat0_test_folds.
void pointing_stage(const Config& cfg, const fs::path& cls, const std::string& best,
                    const std::map<std::string, int>& fold_of, report::StudyReportInput& rin, Logger& log) {
  const DetDataset det = load_yolo(cfg.str("data"), cfg.boolean("strict"), log, nullptr);
  if (!det.splits.count("test")) return;
  const std::vector<bool> frac = fracture_class_mask(det, cfg.list("fracture_classes"));
  std::map<int, std::pair<std::vector<ClsItem>, std::vector<std::vector<Box>>>> by_fold;
  for (const DetItem& d : det.splits.at("test")) {
    std::vector<Box> boxes;
    for (const Box& b : d.boxes)
      if (b.cls >= 0 && size_t(b.cls) < frac.size() && frac[size_t(b.cls)]) boxes.push_back(b);
    const auto f = fold_of.find(image_key(d.image.string()));
    if (boxes.empty() || f == fold_of.end()) continue;
    by_fold[f->second].first.push_back(ClsItem{d.image, 1, d.patient_id, "test"});
    by_fold[f->second].second.push_back(boxes);
  }
  report::StudyPointing p;
  p.model = best;
  p.layer = detail::gradcam_layer(cfg);
  for (const auto& [fold, ib] : by_fold) {
    const PointingGame g =
        pointing_game(cv_fold_dir(cls, best, 0, fold), ib.first, ib.second, cfg, log);
    p.hits += g.hits;
    p.chance += g.chance * g.n_images;
    p.n_images += g.n_images;
  }
  if (p.n_images) p.chance /= p.n_images;
  rin.pointing = p;
  log.info("study: Grad-CAM pointing game of {}: {}/{} peaks inside a fracture box (chance {:.3f})", best, p.hits,
           p.n_images, p.chance);
}

}  // namespace

StudyOutcome run_study(const Config& cli, Logger& log) {
  Config cfg = cli;
  FRACTURE_CHECK(!cfg.str("data").empty() || !cfg.str("resume").empty(),
                 "fracture study: key 'data' is required (a detection dataset: data.yaml with train, val and test)");
  for (const std::string& s : cfg.list("detectors"))  // checked before a study directory is made
    FRACTURE_CHECK(s == "yolov8n" || s == "yolov8s" || s == "yolov8m", "key 'detectors': expected yolov8n, yolov8s ",
                   "or yolov8m, got '", s, "'");
  const fs::path study = study_dir(cfg, log);
  const std::vector<std::string> sizes = cfg.list("detectors");
  log.info("study: {} (classifiers: {}; detectors: {})", study.string(),
           cfg.is_null("model") ? "all" : cfg.str("model"), cfg.str("detectors"));

  // shard=i/n: this process's share of the independent jobs, then the rest only when every job is done
  int shard = 0, shards = 1;
  if (!cfg.is_null("shard")) std::tie(shard, shards) = detail::parse_shard(cfg.str("shard"));
  const fs::path cls = classify_stage(cfg, study, log);
  for (size_t k = 0; k < sizes.size(); ++k)
    if (int(k % size_t(shards)) == shard) detect_stage(cfg, study, sizes[k], log);
  if (shards > 1) {
    int left = fs::is_regular_file(cls / "metrics.json") ? 0 : 1;
    for (const std::string& s : sizes)
      left += !fs::is_regular_file(study / "detect" / s / "metrics.json") ||
              !fs::is_regular_file(study / "detect" / (s + "_test") / "metrics.json");
    if (left > 0) {
      log.info("study: shard {}/{} done; {} stage(s) still running in other shards (the shard that finishes last "
               "writes the report; `fracture study resume={}` does it by hand)", shard, shards, left, study.string());
      return {study, ""};
    }
  }

  // Detector against classifier on the images both scored: the detection val and test splits.
  report::StudyReportInput rin;
  rin.study = study;
  rin.classify_run = cls;
  rin.cfg = &cfg;
  const OofScores oof = read_oof(cls / "oof_predictions.csv");
  if (!sizes.empty()) {
    std::vector<std::map<std::string, double>> val, test;
    for (const std::string& s : sizes) {
      val.push_back(detector_scores(study / "detect" / s / "predictions.json"));
      test.push_back(detector_scores(study / "detect" / (s + "_test") / "predictions.json"));
      rin.detectors.push_back({s, study / "detect" / s, study / "detect" / (s + "_test")});
    }
    CompareInput in;
    std::vector<std::string> val_images, test_images;
    auto common = [&](const std::map<std::string, double>& det, std::vector<std::string>& out, int& missing) {
      for (const auto& [img, sc] : det)
        if (oof.label.count(img)) out.push_back(img); else ++missing;
    };
    common(val[0], val_images, rin.val_not_classified);
    common(test[0], test_images, rin.test_not_classified);
    for (const auto& img : val_images) in.val_labels.push_back(oof.label.at(img));
    for (const auto& img : test_images) in.test_labels.push_back(oof.label.at(img));
    for (const std::string& m : oof.models) {
      ScoreColumn c{m, "classifier", "calibrated out-of-fold probability (mean over repeats)", {}, {}};
      for (const auto& img : val_images) c.val.push_back(oof.prob.at(m).at(img));
      for (const auto& img : test_images) c.test.push_back(oof.prob.at(m).at(img));
      in.columns.push_back(c);
    }
    for (size_t k = 0; k < sizes.size(); ++k) {
      ScoreColumn c{sizes[k], "detector", "highest box confidence of any class (0 without a box)", {}, {}};
      for (const auto& img : val_images) {
        FRACTURE_CHECK(val[k].count(img), "study: ", sizes[k], " did not score val image ", img);
        c.val.push_back(val[k].at(img));
      }
      for (const auto& img : test_images) {
        FRACTURE_CHECK(test[k].count(img), "study: ", sizes[k], " did not score test image ", img);
        c.test.push_back(test[k].at(img));
      }
      in.columns.push_back(c);
    }
    CompareOptions co;
    co.seed = uint64_t(cfg.integer("seed"));
    rin.compare = compare_scores(in, co);
    rin.has_compare = true;
  }
  if (!cfg.str("external").empty()) external_stage(cfg, study, cls, sizes, rin, log);
  // explanation: the best classifier's out-of-fold Grad-CAM (pointing game, sample radiographs)
  const std::string best = report::best_classifier(report::read_stage_json(cls / "metrics.json"));
  if (!best.empty()) {
    const std::map<std::string, int> fold_of = repeat0_test_folds(cls);
    if (fs::path(cfg.str("data")).extension() == ".yaml") pointing_stage(cfg, cls, best, fold_of, rin, log);
    if (!sizes.empty()) samples_stage(cfg, study, cls, best, fold_of, sizes, oof, log);
  }
  StudyOutcome out;
  out.run_dir = study;
  out.report = report::write_study_report(rin);
  if (report::vendored_chart_scripts().empty())
    log.warn("study: report.html not written: this fracture was built without FRACTURE_WITH_HTML_REPORT");
  else
    report::write_study_html(study, out.report, sizes);
  return out;
}

}  // namespace fracture::engine
