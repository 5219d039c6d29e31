// The usage examples at the top of public headers, compiled and run here, and a check that each
// covered header's example still reads, line for line, as the code below: an example that drifts
// from the current signatures either stops compiling here or fails HeaderExamples.MatchThisFile.
//
// How a header's example is matched: every line of its leading comment block that starts with
// "//" and three spaces is an example line; comment-only lines ("// ...") and lines with an
// elision ("...") are skipped; the rest must occur in this file (spaces collapsed). A header is
// covered when it is listed in kCovered; headers not listed are not checked yet.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "fracture/core/config.h"
#include "fracture/core/csv.h"
#include "fracture/core/fs.h"
#include "fracture/core/rng.h"
#include "fracture/core/rundir.h"
#include "fracture/data/splits.h"
#include "fracture/engine/training.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/report/classify_files.h"

namespace fs = std::filesystem;

namespace {

const char* const kCovered[] = {"core/csv.h",          "core/rundir.h",     "core/fs.h",
                                "core/rng.h",          "data/splits.h",     "eval/bootstrap.h",
                                "report/classify_files.h", "engine/training.h"};

fs::path scratch(const char* name) {
  fs::path d = fs::temp_directory_path() / ("fracture_examples_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string collapse(const std::string& s) {
  std::string o;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !o.empty()) o += ' ';
    space = false;
    o += c;
  }
  return o;
}

// Example lines of a header's leading comment block (see the file comment).
std::vector<std::string> example_lines(const fs::path& header) {
  std::istringstream in(fracture::read_file(header));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("//", 0) != 0) break;  // the block ends at the first non-comment line
    if (line.rfind("//   ", 0) != 0) continue;
    const std::string code = collapse(line.substr(2));
    if (code.empty() || code.rfind("//", 0) == 0 || code.find("...") != std::string::npos) continue;
    out.push_back(code);
  }
  return out;
}

}  // namespace

TEST(HeaderExamples, MatchThisFile) {
  const std::string self = collapse(fracture::read_file(fs::path(FRACTURE_SOURCE_DIR) / "tests/unit/header_examples_test.cpp"));
  for (const char* h : kCovered) {
    const fs::path header = fs::path(FRACTURE_SOURCE_DIR) / "src/fracture" / h;
    const auto lines = example_lines(header);
    EXPECT_FALSE(lines.empty()) << h << ": no usage example found";
    for (const auto& l : lines) {
      // Trailing comments may differ in alignment only; compare the code and its comment collapsed.
      EXPECT_NE(self.find(l), std::string::npos) << h << ": example line not compiled in this test:\n  " << l;
    }
  }
}

TEST(HeaderExamples, CoreCsv) {
  std::string text = fracture::csv::line({"image", "label"}) + fracture::csv::line({"a,b.png", "1"});
  EXPECT_EQ(text, "image,label\n\"a,b.png\",1\n");
  for (const fracture::csv::Record& r : fracture::csv::parse(text, "manifest.csv"))
    std::printf("line %d: %zu fields\n", r.line, r.fields.size());
  EXPECT_EQ(fracture::csv::parse(text, "manifest.csv").size(), 2u);
  std::string v = fracture::csv::number(0.1, 9);   // "0.1" (printf %.9g)
  EXPECT_EQ(v, "0.1");
}

TEST(HeaderExamples, CoreRundirFsRng) {
  const fs::path root = scratch("rundir");
  fracture::Config cfg = fracture::Config::defaults();
  fs::current_path(root);
  fs::path run = fracture::make_run_dir("runs", "detect", "train");   // runs/detect/train2 if train exists
  fracture::write_run_args(run, cfg);                                  // run/args.yaml
  EXPECT_TRUE(fs::is_regular_file(run / "args.yaml"));

  const fs::path dir = run, path = run / "metrics.json";
  nlohmann::json json = {{"map50", 0.5}};
  fracture::write_file_atomic(dir / "metrics.json", json.dump(2));
  std::string bytes = fracture::read_file(path);          // throws fracture::Error naming the path
  uint64_t h = fracture::hash_bytes(bytes);                // FNV-1a 64, for duplicate detection
  EXPECT_EQ(h, fracture::hash_bytes(json.dump(2)));

  const uint64_t seed = 7, index = 3, n = 10;
  uint64_t child = fracture::splitmix64(seed ^ index);   // derive a seed
  fracture::SplitMix64 rng{seed};
  uint64_t k = rng.below(n);                              // uniform in [0, n), no modulo bias
  double u = rng.uniform();                               // uniform in (0, 1)
  EXPECT_NE(child, seed);
  EXPECT_LT(k, n);
  EXPECT_GT(u, 0.0);
  fs::current_path(fs::temp_directory_path());
  fs::remove_all(root);
}

TEST(HeaderExamples, DataSplits) {
  const fs::path run = scratch("splits");
  std::vector<int> labels = {0, 1, 0, 1, 1, 0, 0, 1, 1, 0};
  std::vector<int> fold = fracture::stratified_kfold(labels, /*k=*/5, /*seed=*/0);   // fold[i] in [0, 5)
  std::vector<std::string> patients = {"P1", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"};
  std::vector<int> g = fracture::stratified_group_kfold(labels, patients, 5, 0);   // no patient in two folds
  EXPECT_EQ(fold.size(), labels.size());
  EXPECT_EQ(g[0], g[1]);
  std::vector<fracture::SplitItem> items = {{"a.png", "P1", 1}, {"b.png", "P2", 0}};   // image, patient, label
  for (int i = 0; i < 18; ++i) items.push_back({"c" + std::to_string(i) + ".png", "Q" + std::to_string(i), i % 2});
  fracture::CvSplitOptions cv;  cv.folds = 5;  cv.repeats = 3;
  std::vector<fracture::SplitRow> rows = fracture::make_cv_splits(items, cv);   // role per (repeat, fold)
  fracture::write_split_csv(run / "splits.csv", rows);            // atomic; the study's one split file
  std::vector<fracture::SplitRow> again = fracture::read_split_csv(run / "splits.csv");
  EXPECT_EQ(again.size(), items.size() * 15);
  fs::remove_all(run);
}

TEST(HeaderExamples, EvalBootstrap) {
  const std::vector<int> labels = {0, 0, 1, 1, 0, 1, 0, 1};
  const std::vector<double> scores = {0.1, 0.4, 0.35, 0.8, 0.2, 0.7, 0.5, 0.9};
  fracture::BootstrapOptions opt;               // 2000 resamples, 95 %, percentile, seed 0
  opt.seed = 42;
  fracture::BootstrapResult ci = fracture::bootstrap_ci(labels, scores, fracture::roc_auc_score, opt);
  fracture::MeanSd auc_folds = fracture::mean_sd({0.71, 0.74, 0.69, 0.73, 0.70});
  EXPECT_LE(ci.lower, ci.estimate);
  EXPECT_NEAR(auc_folds.mean, 0.714, 1e-12);
}

TEST(HeaderExamples, ReportClassifyFiles) {
  const fs::path run = scratch("classify_files"), dir = run;
  std::vector<fracture::EpochRecord> history(2);
  fracture::TemperatureFit fit;
  fit.temperature = 1.5;
  const size_t n_val = 4;
  fracture::FoldPredictions fold;
  fold.model = "resnet18";
  fracture::report::write_run_json(run, "cv", {"resnet18"});                 // run.json
  fracture::report::write_epoch_results(dir / "results.csv", history);       // rewritten every epoch
  fracture::report::write_calibration_json(dir / "calibration.json", fit, n_val, "validation images");
  fracture::report::write_fold_json(dir / "fold.json", fold);                // last: the fold is done
  double t = fracture::report::read_temperature(dir / "calibration.json");
  fracture::FoldPredictions again = fracture::report::read_fold_json(dir / "fold.json");
  EXPECT_EQ(t, 1.5);
  EXPECT_EQ(again.model, "resnet18");
  EXPECT_EQ(fracture::report::read_run_json(run).mode, "cv");
  fs::remove_all(run);
}

TEST(HeaderExamples, EngineTraining) {
  auto net = std::make_shared<torch::nn::SequentialImpl>(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3)),
                                                         torch::nn::BatchNorm2d(4));
  const int64_t it = 0, total = 10, warmup = 2;
  const int epoch = 0;
  const double val_loss = 0.5;
  fracture::engine::ParamGroups g = fracture::engine::param_groups(*net, /*trainable_only=*/true);
  double lr = fracture::engine::lr_at_iteration(it, total, warmup, 1e-3, 0.01);   // classifier: per iteration
  double f = fracture::engine::lr_factor(epoch, 100, 0.01, /*cos_lr=*/false);    // YOLOv8: per epoch
  fracture::engine::EarlyStopping stop("val_loss", /*patience=*/10);
  if (stop.update(epoch, val_loss)) { /* keep these weights */ }
  if (stop.should_stop()) { /* break */ }
  const bool kept = stop.best_epoch() == epoch, stopped = stop.should_stop();
  EXPECT_EQ(g.decay.size(), 1u);     // the conv weight
  EXPECT_EQ(g.bias.size(), 2u);      // conv and BatchNorm biases
  EXPECT_EQ(g.no_decay.size(), 1u);  // the BatchNorm weight
  EXPECT_DOUBLE_EQ(lr, 0.5e-3);
  EXPECT_DOUBLE_EQ(f, 1.0);
  EXPECT_TRUE(kept);
  EXPECT_FALSE(stopped);
}
