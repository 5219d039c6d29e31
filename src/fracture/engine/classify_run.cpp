// Classification engine, run half: `fracture classify cv` and `classify train` on run directories
// (val and predict are classify_eval.cpp).
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
#include "fracture/engine/distributed.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>

#include "fracture/calibrate/calibration.h"
#include "fracture/calibrate/calibrator.h"
#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/progress.h"
#include "fracture/core/fs.h"
#include "fracture/core/rundir.h"
#include "fracture/data/screen.h"
#include "fracture/data/splits.h"
#include "fracture/data/classification.h"
#include "fracture/data/image.h"
#include "fracture/engine/classify.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/inference.h"
#include "fracture/report/classify_files.h"
#include "fracture/report/data_files.h"
#include "fracture/report/study_files.h"
#include "fracture/report/study_plots.h"

namespace fracture::engine {

namespace detail {

std::string value_text(const Config& c, const std::string& key) { return c.is_null(key) ? "null" : c.str(key); }

Config absolute_paths(Config cfg) {
  for (const char* k : {"data", "weights", "external", "cls_data"})
    if (cfg.has(k) && !cfg.str(k).empty())
      cfg.set(k, fs::absolute(cfg.str(k)).lexically_normal().string(), "absolute path");
  return cfg;
}

// Keys a resumed run may take from the command line; every other key must match the run's args.yaml.
const std::set<std::string> kResumeFreeKeys = {"device", "workers", "threads", "verbose", "cache", "resume",
                                               "cfg",    "project", "name",    "shard",   "merge"};

Config resumed_config(const Config& cli, const fs::path& run, Logger& log) {
  Config saved = run_config(run);
  const Config defaults = Config::defaults();
  const Config given = absolute_paths(cli);
  std::string changed;
  for (const auto& k : cli.keys()) {
    if (kResumeFreeKeys.count(k.name)) continue;
    const std::string v = value_text(given, k.name);
    if (v != value_text(defaults, k.name) && v != value_text(saved, k.name))
      changed += "\n  " + k.name + ": run has " + value_text(saved, k.name) + ", command line has " + v;
  }
  FRACTURE_CHECK(changed.empty(), "resume=", run.string(), ": the command line changes keys of the run; a resumed ",
                 "run keeps its args.yaml (only device, workers, threads, verbose, cache may change):", changed);
  for (const char* k : {"device", "workers", "threads", "verbose", "cache"}) saved.set(k, value_text(cli, k), "command line");
  log.info("resuming {} (keys from its args.yaml)", run.string());
  return saved;
}

// The dataset with both classes; errors name the file and the counts.
ClsDataset load_dataset(const Config& cfg, Logger& log, std::vector<UnusableFile>* skipped) {
  FRACTURE_CHECK(!cfg.str("data").empty(), "fracture classify: key 'data' is required (class folder, CSV manifest ",
                 "or data.yaml)");
  std::vector<Problem> problems;
  ClsDataset ds = load_classification(cfg.str("data"), cfg.str("positive"), cfg.boolean("strict"), log, &problems,
                                      cfg.list("fracture_classes"));
  if (!problems.empty()) log.warn("{}: {} rows skipped (strict=false)", cfg.str("data"), problems.size());
  const size_t listed = ds.items.size();
  const std::vector<UnusableFile> bad = screen_dataset(ds, screen_options(cfg));  // before any split
  warn_unusable(log, cfg.str("data"), bad, listed);
  if (skipped) {
    skipped->clear();
    for (const Problem& p : problems) skipped->push_back(unusable_from_problem(p));
    skipped->insert(skipped->end(), bad.begin(), bad.end());
  }
  int pos = 0;
  for (const auto& it : ds.items) pos += it.label == 1;
  const int neg = int(ds.items.size()) - pos;
  FRACTURE_CHECK(pos > 0 && neg > 0, cfg.str("data"), ": a classifier needs both classes, got ", pos, " ",
                 ds.classes.at(1), " and ", neg, " ", ds.classes.at(0), " images");
  return ds;
}

Config run_config(const std::filesystem::path& run) {
  const std::filesystem::path a = run / "args.yaml";
  FRACTURE_CHECK(std::filesystem::is_regular_file(a), run.string(), ": missing args.yaml (not a finished fracture classify run?)");
  Config c = Config::defaults();
  c.merge_file(a.string());
  return c;
}

// shard=i/n: (i, n); throws naming the key for anything else.
std::pair<int, int> parse_shard(const std::string& v) {
  const size_t slash = v.find('/');
  int i = -1, n = 0;
  try {
    size_t a = 0, b = 0;
    if (slash != std::string::npos) {
      i = std::stoi(v.substr(0, slash), &a);
      n = std::stoi(v.substr(slash + 1), &b);
    }
    if (a != slash || b != v.size() - slash - 1) n = 0;
  } catch (const std::exception&) {
    n = 0;
  }
  FRACTURE_CHECK(n >= 1 && i >= 0 && i < n, "key 'shard': expected i/n with 0 <= i < n (for example 0/3), got '", v, "'");
  return {i, n};
}

}  // namespace detail

namespace {

namespace fs = std::filesystem;
using detail::load_dataset;
using detail::run_config;
using detail::absolute_paths;
using detail::resumed_config;
using detail::value_text;
using detail::parse_shard;
using nlohmann::json;


std::string num(double v) { return csv::number(v, 9); }


// New run dir, or the resumed one with its saved config (study keys may not change).
fs::path start_run(Config& cfg, const std::string& mode, Logger& log) {
  if (cfg.str("resume").empty()) {
    cfg = absolute_paths(cfg);
    const std::string name = cfg.str("name").empty() ? mode : cfg.str("name");
    fs::path run = make_run_dir(cfg.str("project"), "classify", name);
    write_run_args(run, cfg);
    return run;
  }
  fs::path run = cfg.str("resume");
  if (!run.has_filename()) run = run.parent_path();  // "run/" -> "run"
  FRACTURE_CHECK(fs::is_directory(run), "resume=", run.string(), ": no such run directory");
  if (stopped_at_birth(run)) {
    // killed between its args.yaml and its run.json (args.yaml is all it holds): nothing was trained;
    // settle_run writes run.json
    log.info("resume: {} stopped before it began (no run.json): running it from the start", run.string());
  } else {
    const report::ClassifyRunInfo info = report::read_run_json(run);
    FRACTURE_CHECK(info.mode == mode, "resume=", run.string(), ": is a classify ", info.mode,
                   " run; resume it with `fracture classify ", info.mode, " resume=...`");
  }
  if (cfg.is_null("shard")) remove_killed_writes(run, log);  // other shards may be writing into a shared run
  cfg = resumed_config(cfg, run, log);
  return run;
}

// Writes splits.csv, or on resume checks that the run's file is the same (dataset and keys unchanged).
void write_or_check_splits(const fs::path& run, const std::vector<SplitRow>& rows, bool resuming) {
  const fs::path f = run / "splits.csv";
  if (resuming && fs::exists(f)) {
    FRACTURE_CHECK(read_file(f) == split_csv_text(rows), f.string(), ": the splits made now differ from the run's: the dataset ",
                   "changed since the run started; cannot resume");
    return;
  }
  write_split_csv(f, rows);
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
    report::write_epoch_results(dir / "results.csv", h);
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
  std::vector<std::string> lost;  // strict=false: test images that could not be read
  fp.logits = predict_logits(*fit.net, test, opt, opt.strict ? nullptr : &lost);
  for (const auto& l : lost) log.warn("{} {}: test image left out (strict=false): {}", arch, tag, l);
  keep_finite(fp.logits, fp.images, fp.patients, fp.labels);
  for (const auto& it : val) fp.val_labels.push_back(it.label);
  fp.val_logits = fit.val_logits;
  keep_finite(fp.val_logits, fp.val_labels);  // validation images unreadable at the best epoch
  fp.best_epoch = fit.best_epoch;
  fp.epochs_run = fit.epochs_run;
  fp.train_seconds = fit.seconds;
  fit.net->to(torch::kCPU);
  models::save_safetensors(*fit.net, dir / weights_rel);
  const Calibrator c = fit_calibrator(opt.calibration, fp.val_logits, fp.val_labels);
  report::write_calibration_json(dir / "calibration.json", c, fp.val_logits.size(), "validation images of this fold");
  report::write_fold_json(dir / "fold.json", fp);  // last: the fold is done
  log.info("{} {}: done in {:.1f}s (best epoch {} of {}), calibration {}", arch, tag, fit.seconds, fit.best_epoch + 1,
           fit.epochs_run, c.describe());
  return fp;
}

ClassifyOutcome finish_study(const fs::path& run, const std::vector<FoldPredictions>& folds, const Config& cfg,
                             const std::string& preface) {
  StudyOptions so;
  so.seed = uint64_t(cfg.integer("seed"));
  so.calibration = parse_calibration_method(cfg.str("calibration"));
  StudySummary s = summarise_study(folds, so);
  const std::vector<StudyCurves> curves = study_curves(s, folds);
  write_study_outputs(run, s, folds, curves);
  report::write_study_plots(run, curves);  // roc_curve, pr_curve, reliability_diagram .png
  ClassifyOutcome out;
  out.run_dir = run;
  out.report = preface + format_study_tables(s);
  return out;
}

// What cv and train start from. Everything is checked before a new run directory is made (the
// mode makes it once its splits are known); a resumed run reads its args.yaml first.
struct ModeStart {
  Config cfg;
  int shard = 0, shards = 1;  ///< shard=i/n: this process trains job j when j % shards == shard
  bool merge = false;         ///< merge=true: train nothing
  bool resuming = false;
  fs::path run;  ///< the resumed run; empty for a new one
  ClassifyOptions opt;
  ClsDataset ds;
  std::vector<UnusableFile> skipped;  ///< images left out by the screen (written to skipped.csv)
};

ModeStart begin_mode(const Config& cli, const std::string& mode, Logger& log) {
  ModeStart m;
  m.cfg = cli;
  if (!cli.is_null("shard")) {
    FRACTURE_CHECK(mode == "cv", "key 'shard': only classify cv is sharded");
    std::tie(m.shard, m.shards) = parse_shard(cli.str("shard"));
    FRACTURE_CHECK(cli.str("resume").empty() ? !cli.str("name").empty() : true,
                   "shard=", cli.str("shard"), " needs name= (the run directory project/classify/<name> every shard shares)");
    if (cli.str("resume").empty()) {
      // the shared directory: joined when a shard made it before (its keys must match), else made here
      const fs::path dir = shared_run_dir(cli, "classify");
      if (fs::is_regular_file(dir / "run.json")) m.cfg.set("resume", dir.string(), "shard");
    }
  }
  m.merge = cli.boolean("merge");
  FRACTURE_CHECK(!m.merge || !m.cfg.str("resume").empty(), "merge=true needs resume=RUN (the run whose folds to pool)");
  m.resuming = !m.cfg.str("resume").empty();
  if (m.resuming && default_group()) {
    // data-parallel: every rank resumes from a copy of rank 0's run (its finished folds included), so
    // all skip the same folds; the other ranks' copy lives in their scratch project
    DistGroup& g = *default_group();
    const fs::path dir = m.cfg.str("resume");
    if (g.rank() == 0)
      FRACTURE_CHECK(fs::is_directory(dir), "resume=", dir.string(), ": no such run directory");
    const fs::path local = mirror_dir(g, dir, fs::path(cli.str("project")) / "resume", [](const fs::path&) { return true; });
    m.cfg.set("resume", local.string(), "distributed");
  }
  if (m.resuming) m.run = start_run(m.cfg, mode, log);
  m.cfg = absolute_paths(m.cfg);
  m.opt = classify_options(m.cfg);
  m.ds = load_dataset(m.cfg, log, &m.skipped);
  if (m.opt.data.cache && m.opt.data.cache->mode() == ImageCache::Mode::ram)
    check_ram_fits(ram_bytes_needed(m.ds.items.size(), m.opt.data.imgsz), m.ds.items.size(), m.opt.data.imgsz);
  return m;
}

// Once the splits are made: a new run directory (args.yaml, run.json) unless resuming, then
// skipped.csv and splits.csv (on resume checked against the run's own).
void settle_run(ModeStart& m, const std::string& mode, const std::vector<SplitRow>& split_rows, Logger& log) {
  if (!m.resuming && m.shards > 1) {
    // the first shards to start each write the same args.yaml (shard left out), run.json and splits
    m.run = make_shared_run_dir(m.cfg, "classify");
    report::write_run_json(m.run, mode, m.opt.models);
  } else if (!m.resuming) {
    m.run = start_run(m.cfg, mode, log);
    report::write_run_json(m.run, mode, m.opt.models);
  } else if (!fs::exists(m.run / "run.json")) {
    report::write_run_json(m.run, mode, m.opt.models);  // a run resumed before it began (start_run)
  }
  report::write_skipped(m.run, m.skipped);
  write_or_check_splits(m.run, split_rows, m.resuming);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------

ClassifyOutcome classify_cv(const Config& cli, Logger& log) {
  ModeStart m = begin_mode(cli, "cv", log);
  auto& [cfg, shard, shards, merge, resuming, run, opt, ds, skipped] = m;

  const size_t n = ds.items.size();
  bool has_patients = false;
  int pos = 0;
  for (const auto& it : ds.items) {
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
  std::vector<SplitItem> split_items;
  for (const auto& it : ds.items) split_items.push_back({it.image.string(), it.patient_id, it.label});
  CvSplitOptions cvo;
  cvo.folds = opt.folds;
  cvo.repeats = opt.repeats;
  cvo.seed = opt.seed;
  cvo.group_by_patient = grouped;
  cvo.val_fraction = opt.val_fraction;
  // Rows (repeat, fold, item): every item in every cell, so row (r, f, i) is at (r * folds + f) * n + i.
  const std::vector<SplitRow> split_rows = make_cv_splits(split_items, cvo, ds.classes);
  settle_run(m, "cv", split_rows, log);

  std::vector<FoldPredictions> folds;
  // ETA over the folds this process trains, at their mean pace so far
  const int64_t n_cells = int64_t(opt.models.size()) * opt.repeats * opt.folds;
  int64_t n_before = 0, n_trained = 0;
  const auto t_cv = std::chrono::steady_clock::now();
  int64_t job = -1, n_other = 0;  // jobs in loop order; n_other: left to other shards (or, with merge, missing)
  std::string first_missing;
  for (const auto& arch : opt.models) {
    for (int r = 0; r < opt.repeats; ++r) {
      for (int f = 0; f < opt.folds; ++f) {
        ++job;
        const fs::path dir = cv_fold_dir(run, arch, r, f);
        const std::string tag = dir.filename().string();  // r<R>f<F>
        if (fs::is_regular_file(dir / "fold.json")) {
          folds.push_back(report::read_fold_json(dir / "fold.json"));
          log.info("{} {}: done before (fold.json), skipped", arch, tag);
          ++n_before;
          continue;
        }
        if (merge || job % shards != shard) {  // another shard's job (done or not, checked below)
          ++n_other;
          if (first_missing.empty()) first_missing = arch + " " + tag;
          continue;
        }
        std::vector<size_t> tr, va, te;
        const size_t cell = (size_t(r) * size_t(opt.folds) + size_t(f)) * n;
        for (size_t i = 0; i < n; ++i) {
          const std::string& ro = split_rows[cell + i].role;
          (ro == "train" ? tr : ro == "val" ? va : te).push_back(i);
        }
        folds.push_back(train_one(arch, r, f, pick(ds.items, tr), pick(ds.items, va), pick(ds.items, te), opt, dir,
                                  "best.safetensors", tag, log));
        ++n_trained;
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_cv).count();
        log.info("classify cv: {}/{} folds done, ETA {}", n_before + n_trained, n_cells,
                 format_duration(eta_seconds(n_trained, n_cells - n_before, elapsed)));
      }
    }
  }
  if (n_other > 0) {
    // other shards' jobs: the last shard to finish finds every fold done (then all are read back, in
    // loop order); else the tables wait for them
    folds.clear();
    int64_t missing = 0;
    for (const auto& arch : opt.models)
      for (int r = 0; r < opt.repeats; ++r)
        for (int f = 0; f < opt.folds; ++f) {
          const fs::path done = cv_fold_dir(run, arch, r, f) / "fold.json";
          if (!fs::is_regular_file(done)) ++missing;
          else if (missing == 0) folds.push_back(report::read_fold_json(done));
        }
    FRACTURE_CHECK(!merge || missing == 0, "merge=true: ", missing, " of ", n_cells, " folds of ", run.string(),
                   " are not done (first: ", first_missing, "); run their shards first");
    if (missing > 0) {
      ClassifyOutcome out;
      out.run_dir = run;
      out.report = "classify cv shard " + std::to_string(shard) + "/" + std::to_string(shards) + ": trained " +
                   std::to_string(n_trained) + " folds; " + std::to_string(n_cells - missing) + " of " +
                   std::to_string(n_cells) + " folds of " + run.string() + " are done. The shard that finishes last " +
                   "writes the tables, or: fracture classify cv resume=" + run.string() + " merge=true\n";
      return out;
    }
  }
  // a shard that found the others' folds done before its own loop reached them pools too: say so
  if (shards > 1 || merge) log.info("classify cv: every fold is done; pooling {} folds", folds.size());
  std::ostringstream pre;
  pre << "classify cv: " << n << " images, " << opt.repeats << " x " << opt.folds << "-fold"
      << (grouped ? " grouped by patient" : "") << "; per fold, early stopping, temperature and thresholds on an inner "
      << "validation split (val_fraction " << opt.val_fraction << "), metrics on the outer test folds\n\n";
  return finish_study(run, folds, cfg, pre.str());
}

ClassifyOutcome classify_train(const Config& cli, Logger& log) {
  ModeStart m = begin_mode(cli, "train", log);
  auto& [cfg, shard, shards, merge, resuming, run, opt, ds, skipped] = m;
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
  size_t n_val = 0;
  for (size_t i = 0; i < n; ++i) {
    if (role[i] == "train") tr0.push_back(i);
    n_val += role[i] == "val";
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
  std::vector<SplitRow> split_rows;
  for (size_t i = 0; i < n; ++i)
    if (!role[i].empty())
      split_rows.push_back({ds.items[i].image.string(), ds.items[i].patient_id, ds.items[i].label, 0, 0, role[i]});
  settle_run(m, "train", split_rows, log);

  std::vector<FoldPredictions> folds;
  for (const auto& arch : opt.models) {
    const fs::path dir = opt.models.size() == 1 ? run : run / arch;
    if (fs::is_regular_file(dir / "fold.json")) {
      folds.push_back(report::read_fold_json(dir / "fold.json"));
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
  pre << ".\nEarly stopping, calibration (" << cfg.str("calibration") << ") and thresholds fitted on 'val'; ";
  if (report_on_test) {
    pre << "metrics below are on 'test' (" << te.size() << " images).\n\n";
  } else {
    pre << "the dataset has no test split, so the metrics below are on 'val', which also chose the epoch, calibration and "
           "the thresholds: OPTIMISTIC.\n\n";
    log.warn("no test split: metrics are reported on val, which also chose the epoch, calibration and thresholds (optimistic)");
  }
  return finish_study(run, folds, cfg, pre.str());
}

}  // namespace fracture::engine
