// Classification engine, run half: the four `fracture classify` modes on run directories.
//
// Run directory of `classify cv` (runs/classify/cv):
//   args.yaml      resolved config (data and weights made absolute), run.json {mode, models}
//   splits.csv     image,patient_id,label,repeat,fold,role   role = train / val (inner) / test (outer fold)
//   folds/<model>/r<R>f<F>/{results.csv, best.safetensors, calibration.json, fold.json}
//                  fold.json (the FoldPredictions) is written last: it marks the fold as done
//   the study outputs (metrics.json, oof_predictions.csv, summary.md, ...) from write_study_outputs
// `classify train` writes the same per model into the run dir (one model) or run/<model>/ (all):
//   weights/best.safetensors, results.csv, calibration.json, fold.json.
#include "fracture/engine/classify_run.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "fracture/calibrate/calibration.h"
#include "fracture/calibrate/temperature.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/rundir.h"
#include "fracture/data/splits.h"
#include "fracture/data/classification.h"
#include "fracture/data/image.h"
#include "fracture/engine/classify.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/models/checkpoint.h"
#include "fracture/models/inference.h"
#include "fracture/report/study_plots.h"

namespace fracture::engine {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Keys a resumed run may take from the command line; every other key must match the run's args.yaml.
const std::set<std::string> kResumeFreeKeys = {"device", "workers", "threads", "verbose", "resume", "cfg", "project", "name"};

std::string value_text(const Config& c, const std::string& key) { return c.is_null(key) ? "null" : c.str(key); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char ch : s) o += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return o + "\"";
}

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// The dataset with both classes; errors name the file and the counts.
ClsDataset load_dataset(const Config& cfg, Logger& log) {
  FRACTURE_CHECK(!cfg.str("data").empty(), "fracture classify: key 'data' is required (class folder, CSV manifest ",
                 "or data.yaml)");
  std::vector<Problem> problems;
  ClsDataset ds = load_classification(cfg.str("data"), cfg.str("positive"), cfg.boolean("strict"), log, &problems,
                                      cfg.list("fracture_classes"));
  if (!problems.empty()) log.warn("{}: {} rows skipped (strict=false)", cfg.str("data"), problems.size());
  int pos = 0;
  for (const auto& it : ds.items) pos += it.label == 1;
  const int neg = int(ds.items.size()) - pos;
  FRACTURE_CHECK(pos > 0 && neg > 0, cfg.str("data"), ": a classifier needs both classes, got ", pos, " ",
                 ds.classes.at(1), " and ", neg, " ", ds.classes.at(0), " images");
  return ds;
}

// Mode and models of a run, written at its start.
void write_run_json(const fs::path& run, const std::string& mode, const std::vector<std::string>& models) {
  json j = {{"task", "classify"}, {"mode", mode}, {"models", models}};
  write_file_atomic(run / "run.json", j.dump(1) + "\n");
}

json read_run_json(const fs::path& run) {
  const fs::path f = run / "run.json";
  FRACTURE_CHECK(fs::is_regular_file(f), run.string(), ": not a fracture classify run directory (no run.json)");
  try {
    json j = json::parse(read_file(f));
    (void)j.at("mode").get<std::string>();
    (void)j.at("models").get<std::vector<std::string>>();
    return j;
  } catch (const json::exception& e) {
    FRACTURE_FAIL(f.string(), ": unreadable (", e.what(), ")");
  }
}

Config run_config(const fs::path& run) {
  const fs::path a = run / "args.yaml";
  FRACTURE_CHECK(fs::is_regular_file(a), run.string(), ": missing args.yaml (not a finished fracture classify run?)");
  Config c = Config::defaults();
  c.merge_file(a.string());
  return c;
}

// The command-line config with paths made absolute (so a run can be resumed from another folder).
Config absolute_paths(Config cfg) {
  for (const char* k : {"data", "weights"})
    if (!cfg.str(k).empty()) cfg.set(k, fs::absolute(cfg.str(k)).lexically_normal().string(), "absolute path");
  return cfg;
}

// New run dir, or the resumed one with its saved config (study keys may not change).
fs::path start_run(Config& cfg, const std::string& mode, Logger& log) {
  if (cfg.str("resume").empty()) {
    cfg = absolute_paths(cfg);
    const std::string name = cfg.str("name").empty() ? mode : cfg.str("name");
    fs::path run = make_run_dir(cfg.str("project"), "classify", name);
    write_file_atomic(run / "args.yaml", cfg.to_yaml());
    return run;
  }
  fs::path run = cfg.str("resume");
  if (!run.has_filename()) run = run.parent_path();  // "run/" -> "run"
  FRACTURE_CHECK(fs::is_directory(run), "resume=", run.string(), ": no such run directory");
  json rj = read_run_json(run);
  FRACTURE_CHECK(rj["mode"] == mode, "resume=", run.string(), ": is a classify ", rj["mode"].get<std::string>(),
                 " run; resume it with `fracture classify ", rj["mode"].get<std::string>(), " resume=...`");
  Config saved = run_config(run);
  const Config defaults = Config::defaults();
  const Config given = absolute_paths(cfg);
  std::string changed;
  for (const auto& k : cfg.keys()) {
    if (kResumeFreeKeys.count(k.name)) continue;
    const std::string v = value_text(given, k.name);
    if (v != value_text(defaults, k.name) && v != value_text(saved, k.name))
      changed += "\n  " + k.name + ": run has " + value_text(saved, k.name) + ", command line has " + v;
  }
  FRACTURE_CHECK(changed.empty(), "resume=", run.string(), ": the command line changes keys of the study; a resumed ",
                 "run keeps its args.yaml (only device, workers, threads, verbose may change):", changed);
  for (const char* k : {"device", "workers", "threads", "verbose"}) saved.set(k, value_text(cfg, k), "command line");
  cfg = saved;
  log.info("resuming {} (keys from its args.yaml)", run.string());
  return run;
}

// One (repeat, fold) row set of splits.csv.
void append_split_rows(std::ostringstream& o, const std::vector<ClsItem>& items, int repeat, int fold,
                       const std::vector<std::string>& role) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (role[i].empty()) continue;
    o << csv_field(items[i].image.string()) << "," << csv_field(items[i].patient_id) << "," << items[i].label << ","
      << repeat << "," << fold << "," << role[i] << "\n";
  }
}

// Writes splits.csv, or on resume checks that the run's file is the same (dataset and keys unchanged).
void write_or_check_splits(const fs::path& run, const std::string& text, bool resuming) {
  const fs::path f = run / "splits.csv";
  if (resuming && fs::exists(f)) {
    FRACTURE_CHECK(read_file(f) == text, f.string(), ": the splits made now differ from the run's: the dataset ",
                   "changed since the run started; cannot resume");
    return;
  }
  write_file_atomic(f, text);
}

std::string results_csv(const std::vector<EpochRecord>& h) {
  std::ostringstream o;
  o << "epoch,train_loss,val_loss,val_auroc,lr,seconds\n";
  for (const auto& r : h)
    o << r.epoch + 1 << "," << num(r.train_loss) << "," << num(r.val_loss) << "," << num(r.val_auroc) << ","
      << num(r.lr) << "," << num(r.seconds) << "\n";
  return o.str();
}

std::string calibration_json(const TemperatureFit& t, size_t n_val, const std::string& fitted_on) {
  json j = {{"temperature", t.temperature}, {"nll_before", t.nll_before}, {"nll_after", t.nll_after},
            {"at_bound", t.at_bound},      {"n_images", n_val},         {"fitted_on", fitted_on}};
  return j.dump(1) + "\n";
}

std::vector<ClsItem> pick(const std::vector<ClsItem>& items, const std::vector<size_t>& idx) {
  std::vector<ClsItem> out;
  out.reserve(idx.size());
  for (size_t i : idx) out.push_back(items[i]);
  return out;
}

// Trains one model on (train, val), predicts `test`, writes the model's files into `dir`
// (weights under weights_rel), fold.json last. Returns the fold's predictions.
FoldPredictions train_one(const std::string& arch, int repeat, int fold, const std::vector<ClsItem>& train,
                          const std::vector<ClsItem>& val, const std::vector<ClsItem>& test, const ClassifyOptions& opt,
                          const fs::path& dir, const fs::path& weights_rel, const std::string& tag, Logger& log) {
  fs::create_directories(dir);
  const uint64_t seed = fold_seed(opt.seed, arch, repeat, fold);
  FitResult fit = fit_classifier(arch, train, val, opt, seed, log, tag, [&](const std::vector<EpochRecord>& h) {
    write_file_atomic(dir / "results.csv", results_csv(h));
  });
  FoldPredictions fp;
  fp.model = arch;
  fp.repeat = repeat;
  fp.fold = fold;
  for (const auto& it : test) {
    fp.images.push_back(it.image.string());
    fp.patients.push_back(it.patient_id);
    fp.labels.push_back(it.label);
  }
  fp.logits = predict_logits(*fit.net, test, opt);
  for (const auto& it : val) fp.val_labels.push_back(it.label);
  fp.val_logits = fit.val_logits;
  fp.best_epoch = fit.best_epoch;
  fp.epochs_run = fit.epochs_run;
  fp.train_seconds = fit.seconds;
  fit.net->to(torch::kCPU);
  models::save_safetensors(*fit.net, dir / weights_rel);
  TemperatureFit t = fit_temperature_binary(fp.val_logits, fp.val_labels);
  write_file_atomic(dir / "calibration.json", calibration_json(t, val.size(), "validation images of this fold"));
  write_file_atomic(dir / "fold.json", fold_to_json(fp));  // last: the fold is done
  log.info("{} {}: done in {:.1f}s (best epoch {} of {}), T = {:.3f}", arch, tag, fit.seconds, fit.best_epoch + 1,
           fit.epochs_run, t.temperature);
  return fp;
}

ClassifyOutcome finish_study(const fs::path& run, const std::vector<FoldPredictions>& folds, const Config& cfg,
                             const std::string& preface) {
  StudyOptions so;
  so.seed = uint64_t(cfg.integer("seed"));
  StudySummary s = summarise_study(folds, so);
  const std::vector<StudyCurves> curves = study_curves(s, folds);
  write_study_outputs(run, s, folds, curves);
  report::write_study_plots(run, curves);  // roc_curve, pr_curve, reliability_diagram .png
  ClassifyOutcome out;
  out.run_dir = run;
  out.report = preface + format_study_tables(s);
  return out;
}

// ---- trained runs (val / predict) ----

// Fields of one CSV line (RFC 4180 quotes; no embedded newlines: our own files never hold them).
std::vector<std::string> csv_split(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        out.back() += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      out.emplace_back();
    } else if (ch != '\r') {
      out.back() += ch;
    }
  }
  return out;
}

// Images of splits.csv whose role is `role` in (repeat, fold); a train run's file has only 0, 0.
std::vector<std::string> read_split_rows_role(const fs::path& file, const std::string& role, int repeat = 0,
                                              int fold = 0) {
  std::istringstream in(read_file(file));
  std::string line;
  std::vector<std::string> out;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (lineno == 1) {
      FRACTURE_CHECK(line.rfind("image,patient_id,label,repeat,fold,role", 0) == 0, file.string(),
                     ":1: expected the header image,patient_id,label,repeat,fold,role");
      continue;
    }
    if (line.empty()) continue;
    auto f = csv_split(line);
    FRACTURE_CHECK(f.size() == 6, file.string(), ":", lineno, ": expected 6 fields, got ", f.size());
    if (f[3] == std::to_string(repeat) && f[4] == std::to_string(fold) && f[5] == role) out.push_back(f[0]);
  }
  return out;
}

struct TrainedModel {
  fs::path run;          ///< the run directory (args.yaml)
  std::string arch;
  fs::path weights;      ///< best.safetensors
  double temperature = 1.0;
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

double read_temperature(const fs::path& f) {
  FRACTURE_CHECK(fs::is_regular_file(f), f.string(), ": missing (the run did not finish this model or fold)");
  try {
    double t = json::parse(read_file(f)).at("temperature").get<double>();
    FRACTURE_CHECK(t > 0 && std::isfinite(t), f.string(), ": temperature must be positive, got ", t);
    return t;
  } catch (const json::exception& e) {
    FRACTURE_FAIL(f.string(), ": unreadable (", e.what(), ")");
  }
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
    json rj = read_run_json(p);
    m.run = p;
    m.mode = rj["mode"].get<std::string>();
    auto models = rj["models"].get<std::vector<std::string>>();
    FRACTURE_CHECK(!models.empty(), (p / "run.json").string(), ": no models");
    m.arch = models[0];
    if (m.mode == "cv") {
      model_dir = p / "folds" / m.arch / "r0f0";
      m.weights = model_dir / "best.safetensors";
      m.what = "cv run: fold r0f0 of " + m.arch + " (pass model=RUN/folds/<model>/r<R>f<F> for another)";
    } else {
      model_dir = models.size() == 1 ? p : p / m.arch;
      m.weights = model_dir / "weights" / "best.safetensors";
      m.what = "train run, model " + m.arch;
    }
  }
  FRACTURE_CHECK(fs::is_regular_file(m.weights), m.weights.string(), ": missing (the run did not finish this model)");
  m.temperature = read_temperature(model_dir / "calibration.json");
  return m;
}

models::Classifier load_trained(const TrainedModel& m, const ClassifyOptions& opt, Logger& log) {
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
  models::optimize_for_inference(*net, io);
  return net;
}

// Options of the trained run (imgsz, resize, clahe, dicom window), with this command's batch, workers,
// device and channels_last (how to compute, not what was trained).
ClassifyOptions trained_options(const Config& run_cfg, const Config& cfg, const std::string& arch) {
  Config c = run_cfg;
  c.set("model", arch, "trained run");
  c.set("weights", "null", "trained run");
  for (const char* k : {"batch", "workers", "device", "channels_last", "winograd"}) c.set(k, value_text(cfg, k), "command line");
  return classify_options(c);
}

bool readable_image(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  char buf[256] = {};
  f.read(buf, sizeof buf);
  const std::string fmt = sniff_format(std::string_view(buf, size_t(f.gcount())));
  return fmt == "png" || fmt == "jpeg" || fmt == "bmp" || fmt == "tiff" || fmt == "dicom";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------

ClassifyOutcome classify_cv(const Config& cli, Logger& log) {
  // Everything is checked before a new run directory is made; a resumed run reads its args.yaml first.
  Config cfg = cli;
  const bool resuming = !cfg.str("resume").empty();
  fs::path run;
  if (resuming) run = start_run(cfg, "cv", log);
  cfg = absolute_paths(cfg);
  const ClassifyOptions opt = classify_options(cfg);
  const ClsDataset ds = load_dataset(cfg, log);

  const size_t n = ds.items.size();
  std::vector<int> labels;
  std::vector<std::string> patients;
  bool has_patients = false;
  int pos = 0;
  for (const auto& it : ds.items) {
    labels.push_back(it.label);
    patients.push_back(it.patient_id);
    has_patients = has_patients || !it.patient_id.empty();
    pos += it.label == 1;
  }
  const int neg = int(n) - pos;
  FRACTURE_CHECK(pos >= opt.folds && neg >= opt.folds, cfg.str("data"), ": folds=", opt.folds, " needs at least ",
                 opt.folds, " images of each class, got ", pos, " ", ds.classes.at(1), " and ", neg, " ",
                 ds.classes.at(0));
  const bool grouped = opt.group_by_patient && has_patients;
  log.info("{}: {} images ({} fractured), {} x {}-fold cross-validation{}, models: {}", cfg.str("data"), n, pos,
           opt.repeats, opt.folds, grouped ? " grouped by patient_id" : " (stratified, no patient grouping)",
           cfg.str("model"));
  const auto fold_of = repeated_kfold(labels, grouped ? patients : std::vector<std::string>{}, opt.folds, opt.repeats,
                                      opt.seed, ds.classes);

  // Roles of every (repeat, fold): test = outer fold, train / val = inner split of the rest.
  std::vector<std::vector<std::vector<std::string>>> roles(opt.repeats);
  std::ostringstream splits;
  splits << "image,patient_id,label,repeat,fold,role\n";
  for (int r = 0; r < opt.repeats; ++r) {
    roles[r].resize(opt.folds);
    for (int f = 0; f < opt.folds; ++f) {
      std::vector<size_t> rest;
      std::vector<int> rl;
      std::vector<std::string> rp;
      std::vector<std::string>& role = roles[r][f];
      role.assign(n, "");
      for (size_t i = 0; i < n; ++i) {
        if (fold_of[r][i] == f) {
          role[i] = "test";
        } else {
          rest.push_back(i);
          rl.push_back(labels[i]);
          rp.push_back(grouped ? patients[i] : "");
        }
      }
      std::vector<int> inner;
      try {
        inner = inner_split(rl, rp, opt.val_fraction, fold_seed(opt.seed, "inner", r, f));
      } catch (const Error& e) {
        FRACTURE_FAIL("repeat ", r, " fold ", f, ": ", e.what());
      }
      for (size_t j = 0; j < rest.size(); ++j) role[rest[j]] = inner[j] == 1 ? "val" : "train";
      append_split_rows(splits, ds.items, r, f, role);
    }
  }
  if (!resuming) {
    run = start_run(cfg, "cv", log);
    write_run_json(run, "cv", opt.models);
  }
  write_or_check_splits(run, splits.str(), resuming);

  std::vector<FoldPredictions> folds;
  for (const auto& arch : opt.models) {
    for (int r = 0; r < opt.repeats; ++r) {
      for (int f = 0; f < opt.folds; ++f) {
        const fs::path dir = run / "folds" / arch / ("r" + std::to_string(r) + "f" + std::to_string(f));
        const std::string tag = "r" + std::to_string(r) + "f" + std::to_string(f);
        if (fs::is_regular_file(dir / "fold.json")) {
          folds.push_back(fold_from_json(read_file(dir / "fold.json"), (dir / "fold.json").string()));
          log.info("{} {}: done before (fold.json), skipped", arch, tag);
          continue;
        }
        std::vector<size_t> tr, va, te;
        for (size_t i = 0; i < n; ++i) {
          const std::string& ro = roles[r][f][i];
          (ro == "train" ? tr : ro == "val" ? va : te).push_back(i);
        }
        folds.push_back(train_one(arch, r, f, pick(ds.items, tr), pick(ds.items, va), pick(ds.items, te), opt, dir,
                                  "best.safetensors", tag, log));
      }
    }
  }
  std::ostringstream pre;
  pre << "classify cv: " << n << " images, " << opt.repeats << " x " << opt.folds << "-fold"
      << (grouped ? " grouped by patient" : "") << "; per fold, early stopping, temperature and thresholds on an inner "
      << "validation split (val_fraction " << opt.val_fraction << "), metrics on the outer test folds\n\n";
  return finish_study(run, folds, cfg, pre.str());
}

ClassifyOutcome classify_train(const Config& cli, Logger& log) {
  Config cfg = cli;
  const bool resuming = !cfg.str("resume").empty();
  fs::path run;
  if (resuming) run = start_run(cfg, "train", log);
  cfg = absolute_paths(cfg);
  const ClassifyOptions opt = classify_options(cfg);
  const ClsDataset ds = load_dataset(cfg, log);
  const size_t n = ds.items.size();

  // Roles from the dataset's splits; a dataset without any gets a 70/15/15 split by patient.
  std::vector<std::string> role(n);
  bool any_split = false;
  for (const auto& it : ds.items) any_split = any_split || !it.split.empty();
  std::string note;
  std::vector<int> labels;
  std::vector<std::string> groups;
  for (const auto& it : ds.items) {
    labels.push_back(it.label);
    groups.push_back(opt.group_by_patient ? it.patient_id : "");
  }
  if (!any_split) {
    auto s = split_by_group(labels, groups, 0.70, 0.15, 0.15, opt.seed);
    const char* names[] = {"train", "val", "test"};
    for (size_t i = 0; i < n; ++i) role[i] = names[s[i]];
    note = "the dataset has no splits: made train/val/test 70/15/15 by patient (seed " + std::to_string(opt.seed) + ")";
  } else {
    size_t unassigned = 0;
    for (size_t i = 0; i < n; ++i) {
      role[i] = ds.items[i].split;
      unassigned += role[i].empty();
    }
    if (unassigned) log.warn("{} images have no split and are not used", unassigned);
  }
  std::vector<size_t> tr0;
  size_t n_val = 0, n_test = 0;
  for (size_t i = 0; i < n; ++i) {
    if (role[i] == "train") tr0.push_back(i);
    n_val += role[i] == "val";
    n_test += role[i] == "test";
  }
  FRACTURE_CHECK(!tr0.empty(), cfg.str("data"), ": no images in split 'train'");
  if (n_val == 0) {
    std::vector<int> tl;
    std::vector<std::string> tg;
    for (size_t i : tr0) {
      tl.push_back(labels[i]);
      tg.push_back(groups[i]);
    }
    auto inner = inner_split(tl, tg, opt.val_fraction, fold_seed(opt.seed, "inner", 0, 0));
    for (size_t j = 0; j < tr0.size(); ++j)
      if (inner[j] == 1) role[tr0[j]] = "val";
    note += std::string(note.empty() ? "" : "; ") + "no val split: held out val_fraction " +
            num(opt.val_fraction) + " of train (by patient) as validation";
  }
  std::vector<size_t> tr, va, te;
  for (size_t i = 0; i < n; ++i) {
    if (role[i] == "train") tr.push_back(i);
    if (role[i] == "val") va.push_back(i);
    if (role[i] == "test") te.push_back(i);
  }
  const bool report_on_test = !te.empty();
  if (report_on_test) {
    int tp = 0;
    for (size_t i : te) tp += labels[i];
    FRACTURE_CHECK(tp > 0 && tp < int(te.size()), cfg.str("data"), ": split 'test' needs both classes to report ",
                   "metrics, got ", tp, " fractured of ", te.size());
  }
  std::ostringstream splits;
  splits << "image,patient_id,label,repeat,fold,role\n";
  append_split_rows(splits, ds.items, 0, 0, role);
  if (!resuming) {
    run = start_run(cfg, "train", log);
    write_run_json(run, "train", opt.models);
  }
  write_or_check_splits(run, splits.str(), resuming);

  std::vector<FoldPredictions> folds;
  for (const auto& arch : opt.models) {
    const fs::path dir = opt.models.size() == 1 ? run : run / arch;
    if (fs::is_regular_file(dir / "fold.json")) {
      folds.push_back(fold_from_json(read_file(dir / "fold.json"), (dir / "fold.json").string()));
      log.info("{}: done before (fold.json), skipped", arch);
      continue;
    }
    folds.push_back(train_one(arch, 0, 0, pick(ds.items, tr), pick(ds.items, va),
                              pick(ds.items, report_on_test ? te : va), opt, dir,
                              fs::path("weights") / "best.safetensors", "train", log));
  }
  std::ostringstream pre;
  pre << "classify train: " << tr.size() << " train, " << va.size() << " val, " << te.size() << " test images";
  if (!note.empty()) pre << " (" << note << ")";
  pre << ".\nEarly stopping, temperature and thresholds fitted on 'val'; ";
  if (report_on_test) {
    pre << "metrics below are on 'test' (" << te.size() << " images).\n\n";
  } else {
    pre << "the dataset has no test split, so the metrics below are on 'val', which also chose the epoch, T and "
           "the thresholds: OPTIMISTIC.\n\n";
    log.warn("no test split: metrics are reported on val, which also chose the epoch, T and thresholds (optimistic)");
  }
  return finish_study(run, folds, cfg, pre.str());
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
  const bool own_data = cfg.str("data").empty();
  if (own_data) {
    Config dc = run_cfg;
    const ClsDataset ds = load_dataset(dc, log);
    std::set<std::string> chosen;
    for (const auto& row : read_split_rows_role(m.run / "splits.csv", split, m.repeat, m.fold)) chosen.insert(row);
    for (const auto& it : ds.items)
      if (chosen.count(it.image.string())) items.push_back(it);
    source = run_cfg.str("data") + " (roles of " + (m.run / "splits.csv").string() +
             (m.mode == "cv" ? ", repeat " + std::to_string(m.repeat) + " fold " + std::to_string(m.fold) : "") + ")";
  } else {
    Config dc = run_cfg;
    if (!own_data) dc.set("data", cfg.str("data"), "command line");
    const ClsDataset ds = load_dataset(dc, log);
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
  const std::vector<double> z = predict_logits(*net, items, opt);
  const std::vector<double> p = apply_temperature_binary(z, 1.0);
  const std::vector<double> pc = apply_temperature_binary(z, m.temperature);
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
  };
  json metrics = json::object();
  std::ostringstream table;
  table << "| metric | value | 95% CI |\n|---|---|---|\n";
  for (const auto& r : rows) {
    BootstrapResult b = bootstrap_ci(y, *r.scores, r.fn, bo);
    metrics[r.key] = {{"value", b.estimate}, {"ci_low", b.lower}, {"ci_high", b.upper}};
    char line[160];
    std::snprintf(line, sizeof line, "| %s | %.3f | %.3f - %.3f |\n", r.key, b.estimate, b.lower, b.upper);
    table << line;
  }
  const fs::path run = make_run_dir(cfg.str("project"), "classify", cfg.str("name").empty() ? "val" : cfg.str("name"));
  json root = {{"model", m.arch},
               {"trained_run", fs::absolute(m.run).string()},
               {"weights", fs::absolute(m.weights).string()},
               {"which", m.what},
               {"data", source},
               {"split", split},
               {"n_images", y.size()},
               {"n_positive", pos},
               {"temperature", m.temperature},
               {"threshold", thr},
               {"threshold_on", "calibrated probability sigmoid(logit / T)"},
               {"ci", "stratified bootstrap, 2000 resamples, percentile, seed " + std::to_string(bo.seed)},
               {"metrics", metrics}};
  write_file_atomic(run / "metrics.json", root.dump(2) + "\n");
  std::ostringstream pred;
  pred << "image,label,logit,probability,calibrated_probability\n";
  for (size_t i = 0; i < items.size(); ++i)
    pred << csv_field(items[i].image.string()) << "," << y[i] << "," << num(z[i]) << "," << num(p[i]) << ","
         << num(pc[i]) << "\n";
  write_file_atomic(run / "predictions.csv", pred.str());
  ClassifyOutcome out;
  out.run_dir = run;
  std::ostringstream rep;
  rep << "classify val: " << m.what << " on split '" << split << "' of " << source << ": " << y.size() << " images ("
      << pos << " fractured); T = " << num(m.temperature) << ", threshold " << thr
      << " on the calibrated probability\n\n"
      << table.str();
  out.report = rep.str();
  return out;
}

ClassifyOutcome classify_predict(const Config& cfg, Logger& log) {
  const TrainedModel m = resolve_trained(cfg.str("model"));
  const Config run_cfg = run_config(m.run);
  const ClassifyOptions opt = trained_options(run_cfg, cfg, m.arch);
  const fs::path src = cfg.str("source");
  FRACTURE_CHECK(!src.empty(), "fracture classify predict: key 'source' is required (an image, a folder or a DICOM file)");
  FRACTURE_CHECK(fs::exists(src), "source=", src.string(), ": no such file or folder");
  std::vector<ClsItem> items;
  if (fs::is_directory(src)) {
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
    for (const auto& f : files) items.push_back(ClsItem{f, 0, "", ""});
    FRACTURE_CHECK(!items.empty(), "source=", src.string(), ": no PNG, JPEG, BMP, TIFF or DICOM images in the folder");
  } else {
    items.push_back(ClsItem{src, 0, "", ""});
  }
  const double thr = cfg.real("threshold");
  FRACTURE_CHECK(thr >= 0 && thr <= 1, "key 'threshold' must be in [0, 1], got ", thr);
  auto net = load_trained(m, opt, log);
  const std::vector<double> z = predict_logits(*net, items, opt);
  const std::vector<double> p = apply_temperature_binary(z, 1.0);
  const std::vector<double> pc = apply_temperature_binary(z, m.temperature);
  const fs::path run =
      make_run_dir(cfg.str("project"), "classify", cfg.str("name").empty() ? "predict" : cfg.str("name"));
  std::ostringstream csv, rep;
  csv << "image,logit,probability,calibrated_probability,threshold,prediction\n";
  rep << "classify predict: " << m.what << ", T = " << num(m.temperature) << ", fractured when calibrated p >= "
      << thr << "\n";
  for (size_t i = 0; i < items.size(); ++i) {
    const bool fractured = pc[i] >= thr;
    csv << csv_field(items[i].image.string()) << "," << num(z[i]) << "," << num(p[i]) << "," << num(pc[i]) << ","
        << thr << "," << (fractured ? "fractured" : "not_fractured") << "\n";
    char line[64];
    std::snprintf(line, sizeof line, "p=%.4f calibrated=%.4f %-13s ", p[i], pc[i],
                  fractured ? "fractured" : "not_fractured");
    rep << line << items[i].image.string() << "\n";
  }
  write_file_atomic(run / "predictions.csv", csv.str());
  log.debug("predicted {} images", items.size());
  ClassifyOutcome out;
  out.run_dir = run;
  out.report = rep.str();
  return out;
}

}  // namespace fracture::engine
