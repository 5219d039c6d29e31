// The usage examples at the top of public headers, compiled and run here, and a check that each
// covered header's example still reads, line for line, as the code below: an example that drifts
// from the current signatures either stops compiling here or fails HeaderExamples.MatchThisFile.
//
// A header's example: in its leading comment block, the first run of lines starting with "//" and
// three spaces that follows an empty "//" line. Comment-only lines ("// ...") and lines with an
// elision ("...") are skipped; the rest must occur in this file (spaces collapsed). Every header
// under src/fracture is checked, except kNotLinked (the CLI's table, built into the binary only).
// Examples that need a trained model, a dataset or minutes of work are compiled in lambdas that
// are never called; the others run.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <cstdio>
#include <iostream>
#include <random>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "fracture/calibrate/calibration.h"
#include "fracture/calibrate/logistic.h"
#include "fracture/calibrate/calibrator.h"
#include "fracture/calibrate/logistic_regression.h"
#include "fracture/calibrate/platt.h"
#include "fracture/calibrate/temperature.h"
#include "fracture/calibrate/thresholds.h"
#include "fracture/core/config.h"
#include "fracture/core/csv.h"
#include "fracture/core/progress.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/heap.h"
#include "fracture/core/log.h"
#include "fracture/core/rng.h"
#include "fracture/core/rundir.h"
#include "fracture/data/augment.h"
#include "fracture/data/check.h"
#include "fracture/data/classification.h"
#include "fracture/data/dataset.h"
#include "fracture/data/dicom.h"
#include "fracture/data/hashing.h"
#include "fracture/data/image.h"
#include "fracture/data/image_cache.h"
#include "fracture/data/loader.h"
#include "fracture/data/problem_sink.h"
#include "fracture/data/screen.h"
#include "fracture/data/splits.h"
#include "fracture/data/synth.h"
#include "fracture/data/synth_scene.h"
#include "fracture/data/yolo.h"
#include "fracture/detect/boxes.h"
#include "fracture/detect/loss.h"
#include "fracture/detect/nms.h"
#include "fracture/engine/classify.h"
#include "fracture/engine/classify_run.h"
#include "fracture/engine/predict.h"
#include "fracture/engine/predictor.h"
#include "fracture/serve/batcher.h"
#include "fracture/serve/common.h"
#include "fracture/serve/dicom_node.h"
#include "fracture/serve/http.h"
#include "fracture/serve/upload.h"
#include "fracture/core/json_file.h"
#include "fracture/engine/optimizer_state.h"
#include "fracture/serve/metrics.h"
#include "fracture/engine/study_run.h"
#include "fracture/models/gradcam.h"
#include "fracture/report/study_report.h"
#include "fracture/report/html.h"
#include "fracture/report/study_html.h"
#include "fracture/report/compare.h"
#include "fracture/engine/detect_checkpoint.h"
#include "fracture/engine/detect_eval.h"
#include "fracture/engine/distributed.h"
#include "fracture/engine/detect_run.h"
#include "fracture/engine/detect_train.h"
#include "fracture/engine/ema.h"
#include "fracture/engine/threads.h"
#include "fracture/engine/sync_batchnorm.h"
#include "fracture/engine/training.h"
#include "fracture/eval/bootstrap.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/eval/delong.h"
#include "fracture/eval/detection_metrics.h"
#include "fracture/models/batchnorm.h"
#include "fracture/models/classifier.h"
#include "fracture/models/efficientnet.h"
#include "fracture/models/inference.h"
#include "fracture/models/kernels/cpu_isa.h"
#include "fracture/models/kernels/onednn_conv.h"
#include "fracture/models/kernels/activation.h"
#include "fracture/models/kernels/batch_split.h"
#include "fracture/models/kernels/squeeze_excite.h"
#include "fracture/models/kernels/winograd.h"
#include "fracture/models/layers.h"
#include "fracture/models/mobilenet_v3.h"
#include "fracture/models/resnet.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/weights/shape_str.h"
#include "fracture/models/yolov8.h"
#include "fracture/report/classify_files.h"
#include "fracture/report/data_files.h"
#include "fracture/report/detect_files.h"
#include "fracture/report/plot.h"
#include "fracture/report/study.h"
#include "fracture/report/study_files.h"
#include "fracture/report/study_plots.h"

#if FRACTURE_WITH_DICOM
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include "fracture/serve/dicom_results.h"
#endif

namespace fs = std::filesystem;

namespace {

const char* const kNotLinked[] = {"cli/commands.h"};

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

// Example lines of a header (see the file comment); `found` says whether it has an example at all.
std::vector<std::string> example_lines(const fs::path& header, bool& found) {
  std::istringstream in(fracture::read_file(header));
  std::vector<std::string> out;
  std::string line, prev;
  found = false;
  while (std::getline(in, line)) {
    if (line.rfind("//", 0) != 0) break;  // the block ends at the first non-comment line
    const bool example_line = line.rfind("//   ", 0) == 0;
    if (found && !example_line) break;  // the run ended
    if (!found && !(example_line && prev == "//")) {
      prev = line;
      continue;
    }
    found = true;
    const std::string code = collapse(line.substr(2));
    if (code.empty() || code.rfind("//", 0) == 0 || code.find("...") != std::string::npos) continue;
    out.push_back(code);
  }
  return out;
}

}  // namespace

TEST(HeaderExamples, MatchThisFile) {
  const std::string self = collapse(fracture::read_file(fs::path(FRACTURE_SOURCE_DIR) / "tests/unit/header_examples_test.cpp"));
  const fs::path root = fs::path(FRACTURE_SOURCE_DIR) / "src/fracture";
  int headers = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".h") continue;
    const std::string h = fs::relative(e.path(), root).generic_string();
    if (std::find(std::begin(kNotLinked), std::end(kNotLinked), h) != std::end(kNotLinked)) continue;
    ++headers;
    bool found = false;
    const auto lines = example_lines(e.path(), found);
    EXPECT_TRUE(found && !lines.empty()) << h << ": no usage example (a run of '//   ' lines after an empty '//')";
    for (const auto& l : lines)  // code and trailing comment compared with spaces collapsed
      EXPECT_NE(self.find(l), std::string::npos) << h << ": example line not compiled in this test:\n  " << l;
  }
  EXPECT_GT(headers, 50);
}

TEST(HeaderExamples, ReportCompare) {
  fracture::CompareInput in;                  // images of the detection val and test splits
  in.val_labels = {0, 1, 0, 1};  in.test_labels = {1, 0, 1, 0};
  in.columns.push_back({"resnet18", "classifier", "calibrated out-of-fold probability", {.2, .7, .1, .6}, {.8, .3, .6, .4}});
  in.columns.push_back({"yolov8n", "detector", "highest box confidence", {.1, .5, .3, .9}, {.7, .2, .4, .1}});
  fracture::CompareResult r = fracture::compare_scores(in, {});
  for (const auto& t : r.tests) std::printf("%s vs %s: p = %.3g\n", t.model_a.c_str(), t.model_b.c_str(), t.p_value);
  EXPECT_TRUE(r.fused);
  EXPECT_EQ(r.scores.size(), 3u);
}

TEST(HeaderExamples, ReportHtml) {
  const fs::path study = scratch("html");
  nlohmann::json spec = {{"mark", "line"}, {"title", "</script><b>x</b>"}, {"data", {{"values", {{{"a", 1}}}}}}};
  std::string html = fracture::report::markdown_to_html("- **AUROC** 0.91");   // <ul>\n<li><strong>AUROC...
  EXPECT_EQ(html, "<ul>\n<li><strong>AUROC</strong> 0.91</li>\n</ul>\n");
  EXPECT_EQ(fracture::report::markdown_to_html("# T\n\n> note `a<b`\n\n| x | y |\n|---|---|\n| 1 | **2** |\n\ntext\nmore"),
            "<h1>T</h1>\n<blockquote>note <code>a&lt;b</code></blockquote>\n<table><thead><tr><th>x</th><th>y</th></tr>"
            "</thead><tbody>\n<tr><td>1</td><td><strong>2</strong></td></tr>\n</tbody></table>\n<p>text more</p>\n");
  fracture::report::Figure f{"roc", "ROC curves", "Out-of-fold.", spec, "classify/cv/roc_curve.png", ""};
  fracture::report::Figure pic{"pic", "A <picture>", "", {}, "", std::string("\x89PNG", 4)};
  if (fracture::report::vendored_chart_scripts().empty()) {
    EXPECT_THROW(fracture::report::write_html_page(study / "report.html", "Fracture study", {{"## Findings\n", {f}}}),
                 fracture::Error);
    return;
  }
  fracture::report::write_html_page(study / "report.html", "Fracture study", {{"## Findings\n", {f}}});
  fracture::report::write_html_page(study / "report.html", "Fracture study", {{"## Findings\n", {f, pic}}});
  const std::string page = fracture::read_file(study / "report.html");
  for (const auto& s : fracture::report::vendored_chart_scripts()) {
    EXPECT_FALSE(s.version.empty()) << s.name;
    EXPECT_GT(s.text.size(), 10000u) << s.name;
    EXPECT_NE(page.find("/* " + s.name + " " + s.version), std::string::npos) << s.name;
  }
  EXPECT_EQ(fracture::report::vendored_chart_scripts()[2].name, "vega-embed");
  EXPECT_NE(page.find("<h2>Findings</h2>"), std::string::npos);
  EXPECT_NE(page.find("<div class=\"chart\" id=\"roc\"></div>"), std::string::npos);
  EXPECT_NE(page.find("<\\/script><b>x<\\/b>"), std::string::npos);  // the spec cannot end the script element
  EXPECT_EQ(page.find("</script><b>"), std::string::npos);
  EXPECT_NE(page.find("alt=\"A &lt;picture&gt;\" src=\"data:image/png;base64,iVBORw==\""), std::string::npos);
}

TEST(HeaderExamples, CoreProgress) {
  fracture::Progress bar("resnet18 r0f0 epoch 3/12", 40);      // 40 batches
  for (int i = 0; i < 40; ++i) bar.step("loss 0.412");          // "... 12/40 [######..............] 4s<9s loss 0.412"
  bar.done();                                                   // clears the line
  std::string eta = fracture::format_duration(fracture::eta_seconds(3, 12, 41.5));   // "2m05s"
  EXPECT_EQ(eta, "2m05s");
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
  cfg.set("name", "cv", "example");
  cfg.set("shard", "1/3", "example");
  fs::path shared = fracture::make_shared_run_dir(cfg, "classify");    // shard=i/n: project/classify/<name>
  EXPECT_EQ(shared, fracture::shared_run_dir(cfg, "classify"));
  EXPECT_NE(fracture::read_file(shared / "args.yaml").find("\nshard: ~\n"), std::string::npos);  // shard left out
  {
    auto log = fracture::null_logger();
    fracture::write_file_atomic(shared / "fold.json.tmp.77.0123abcd", "half");  // a killed write's
    fracture::remove_killed_writes(run, *log);                           // on resume: temp files of killed writes
    fracture::remove_killed_writes(shared, *log);
    EXPECT_FALSE(fs::exists(shared / "fold.json.tmp.77.0123abcd"));
  }
  {
    EXPECT_TRUE(fracture::stopped_at_birth(run));  // args.yaml alone
    fs::create_directories(run / "weights");
    fracture::write_file_atomic(run / "args.yaml.tmp.12.0123abcd", "half");  // a killed write's: ignored
    bool born = fracture::stopped_at_birth(run, {"weights"});            // args.yaml and at most weights/
    EXPECT_TRUE(born);
    EXPECT_FALSE(fracture::stopped_at_birth(run));  // weights/ is not allowed unless named
    fracture::write_file_atomic(run / "data.yaml", "names: [a]");
    EXPECT_FALSE(fracture::stopped_at_birth(run, {"weights"}));  // a folder holding more
    EXPECT_FALSE(fracture::stopped_at_birth(shared.parent_path(), {"cv"}));  // no args.yaml
    fs::remove(run / "data.yaml");
    fs::remove(run / "args.yaml.tmp.12.0123abcd");
  }

  const fs::path dir = run, path = run / "metrics.json";
  nlohmann::json json = {{"map50", 0.5}};
  fracture::write_file_atomic(dir / "metrics.json", json.dump(2));
  std::string bytes = fracture::read_file(path);          // throws fracture::Error naming the path
  uint64_t h = fracture::hash_bytes(bytes);                // FNV-1a 64, for duplicate detection
  EXPECT_EQ(h, fracture::hash_bytes(json.dump(2)));
  {
    fracture::write_file_atomic(run / "weights" / "last_state.json", "{\"epochs_done\": 2}");
    fracture::write_file_atomic(run / "weights" / "x.safetensors.tmp.123.89abcdef", "half");  // a killed write's
    int n = fracture::remove_stale_temp_files(run);         // on resume: temp files of killed writes
    EXPECT_EQ(n, 1);
    nlohmann::json j = fracture::read_json_file(run / "weights" / "last_state.json");
    EXPECT_EQ(j.at("epochs_done"), 2);
  }

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
  fracture::Calibrator calibrator;
  calibrator.method = fracture::CalibrationMethod::temperature;
  calibrator.temperature = 1.5;
  const size_t n_val = 4;
  fracture::FoldPredictions fold;
  fold.model = "resnet18";
  fracture::report::write_run_json(run, "cv", {"resnet18"});                 // run.json
  fracture::report::write_epoch_results(dir / "results.csv", history);       // rewritten every epoch
  fracture::report::write_calibration_json(dir / "calibration.json", calibrator, n_val, "validation images");
  fracture::report::write_fold_json(dir / "fold.json", fold);                // last: the fold is done
  fracture::Calibrator c = fracture::report::read_calibrator(dir / "calibration.json");
  fracture::FoldPredictions again = fracture::report::read_fold_json(dir / "fold.json");
  EXPECT_EQ(c.temperature, 1.5);
  EXPECT_EQ(c.method, fracture::CalibrationMethod::temperature);
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

TEST(HeaderExamples, CoreConfigErrorLogHeap) {
  const fs::path run = scratch("config");
  fracture::Config cfg = fracture::Config::defaults();
  cfg.set("epochs", "10", "command line");      // type-checked against the default's "(int)"
  EXPECT_THROW({
    cfg.set("epoch", "10", "command line");       // throws: unknown key 'epoch' (did you mean 'epochs'?)
  }, fracture::Error);
  int epochs = cfg.integer("epochs");
  fracture::write_run_args(run, cfg);                     // run/args.yaml (core/rundir.h)
  EXPECT_EQ(epochs, 10);

  const int nc = 2;
  const fs::path path = "data.yaml";
  FRACTURE_CHECK(nc > 0, path.string(), ": 'nc' must be a positive integer, got ", nc);

  const int n = 3;
  const fs::path out = run;
  auto log = fracture::make_logger(/*verbose=*/false);
  log->info("wrote {} images to {}", n, out.string());

  [[maybe_unused]] auto compile_only = [&] {
    std::string what = fracture::tune_heap_for_tensors();   // "" when left as it was
    return what;
  };
  fs::remove_all(run);
}

TEST(HeaderExamples, EngineThreads) {
  fracture::Config cfg = fracture::Config::defaults();
  auto logger = fracture::make_logger(false);
  fracture::Logger& log = *logger;
  int n = fracture::apply_compute_threads(cfg, log);   // null = every core this process may use
  EXPECT_GE(n, 1);
}

TEST(HeaderExamples, Calibrate) {
  const std::vector<int> labels = {0, 0, 1, 1, 0, 1, 0, 1, 1, 0};
  const std::vector<double> probs = {0.1, 0.3, 0.7, 0.9, 0.2, 0.6, 0.4, 0.8, 0.55, 0.35};
  fracture::CalibrationReport r = fracture::calibration_report(labels, probs);   // 15 bins
  std::printf("ECE %.3f, MCE %.3f\n", r.ece, r.mce);
  for (const auto& b : r.bins) if (b.count) std::printf("%.2f %.2f\n", b.mean_confidence, b.accuracy);

  {
    const double z = 800;  // beyond exp's range: the stable forms still answer
    double p = fracture::stable_sigmoid(z);      // 1 / (1 + exp(-z))
    double nll = fracture::softplus(-z);         // log(1 + exp(-z)) = -log p
    EXPECT_EQ(p, 1.0);
    EXPECT_GE(nll, 0.0);
    EXPECT_EQ(fracture::softplus(800), 800.0);
  }
  const std::vector<double> val_logits = {-2, -1, 1.5, 2.5, -0.5, 1, -1.5, 2, 0.3, -0.2};
  const std::vector<int> val_labels = labels;
  const std::vector<double> test_logits = {-1, 1};
  fracture::TemperatureFit fit = fracture::fit_temperature_binary(val_logits, val_labels);
  std::vector<double> p = fracture::apply_temperature_binary(test_logits, fit.temperature);
  EXPECT_EQ(p.size(), 2u);

  const std::vector<int> test_y = {0, 1, 1, 0};
  const std::vector<double> test_p = {0.2, 0.9, 0.6, 0.7};
  {
    fracture::PlattFit fit = fracture::fit_platt(val_logits, val_labels);
    std::vector<double> p = fracture::apply_platt(test_logits, fit);   // calibrated P(fractured)
    EXPECT_EQ(p.size(), 2u);
  }
  {
    fracture::LogisticRegressionFit f = fracture::fit_logistic_regression({{0.2, -1.0}, {1.5, 0.3}, {-0.7, 0.1}}, {0, 1, 0});
    double p = fracture::stable_sigmoid(fracture::logistic_regression_logit(f, {0.9, 0.2}));
    EXPECT_GT(p, 0.0);
    EXPECT_LT(p, 1.0);
  }
  {
    fracture::Calibrator c = fracture::fit_calibrator(fracture::CalibrationMethod::platt, val_logits, val_labels);
    std::vector<double> p = c.apply(test_logits);       // calibrated P(fractured)
    std::printf("%s\n", c.describe().c_str());          // "Platt A = -0.812, B = 1.23"
    EXPECT_EQ(p.size(), 2u);
  }
  fracture::ThresholdChoice c = fracture::choose_threshold(labels, probs, fracture::ThresholdCriterion::sensitivity, 0.90);
  double t = c.metrics.threshold;                  // predict fractured when p >= t
  fracture::ThresholdMetrics outer = fracture::metrics_at_threshold(test_y, test_p, t);
  EXPECT_GE(c.metrics.recall, 0.9);
  EXPECT_GE(outer.recall, 0.0);
}

TEST(HeaderExamples, EvalMetrics) {
  std::vector<int> y = {0, 0, 1, 1};
  std::vector<double> p = {0.1, 0.4, 0.35, 0.8};
  double auc = fracture::roc_auc_score(y, p);                        // 0.75
  double ap  = fracture::average_precision_score(y, p);              // 0.8333...
  fracture::ThresholdMetrics m = fracture::metrics_at_threshold(y, p, 0.5);  // predict 1 when p >= 0.5
  EXPECT_DOUBLE_EQ(auc, 0.75);
  EXPECT_NEAR(ap, 0.8333333333333333, 1e-12);
  EXPECT_DOUBLE_EQ(m.recall, 0.5);

  const std::vector<int> labels = {0, 0, 1, 1, 0, 1, 0, 1};
  const std::vector<double> scores = {0.1, 0.4, 0.35, 0.8, 0.2, 0.7, 0.5, 0.9};
  const std::vector<double> scores_resnet = scores, scores_mobilenet = {0.2, 0.3, 0.6, 0.7, 0.1, 0.4, 0.45, 0.8};
  fracture::DelongTest t = fracture::delong_test(labels, scores_resnet, scores_mobilenet);
  fracture::DelongAuc one = fracture::delong_auc(labels, scores);   // one.auc, one.variance, CI
  EXPECT_NEAR(one.auc, t.auc_a, 1e-12);

  std::vector<std::pair<std::vector<fracture::Prediction>, std::vector<fracture::GroundTruth>>> images(1);
  images[0].first.push_back({{10, 10, 50, 50}, 0.9, 0});
  images[0].second.push_back({{12, 10, 50, 52}, 0});
  fracture::DetectionMetrics dm({"fracture", "plate"});
  for (const auto& [preds, gts] : images)   // each validation image: predictions, ground truth
    dm.update(preds, gts);     // preds after NMS: box, conf, cls; gts: box, cls
  fracture::DetectionResults r = dm.compute();
  EXPECT_GT(r.map50, 0.9);
}

TEST(HeaderExamples, DataReadAugmentHash) {
  const fs::path dir = scratch("data");
  const uint64_t seed = 1;
  cv::Mat img(100, 200, CV_32FC1, cv::Scalar(0.5));
  fracture::DetItem item;
  item.boxes.push_back(fracture::Box{0, 0.5f, 0.5f, 0.2f, 0.2f});
  std::mt19937_64 rng(seed);
  fracture::AugmentOptions aug;                       // Ultralytics names and defaults
  fracture::LetterboxInfo lb;
  cv::Mat x = fracture::letterbox(img, 640, aug.pad_value, &lb);   // img: CV_32FC1 in [0, 1]
  std::vector<fracture::Box> boxes = fracture::letterbox_boxes(item.boxes, lb);
  x = fracture::random_affine(x, boxes, aug, rng, 640, 640);
  fracture::random_flips(x, boxes, aug, rng);
  fracture::random_intensity(x, aug, rng);
  EXPECT_EQ(x.rows, 640);

  const fs::path path = dir / "a.bin", path_a = path, path_b = dir / "b.bin";
  fracture::write_file_atomic(path, "same bytes");
  fracture::write_file_atomic(path_b, "same bytes");
  fracture::Image im;
  im.pixels = cv::Mat(64, 64, CV_8UC1, cv::Scalar(40));
  cv::rectangle(im.pixels, cv::Rect(10, 10, 20, 30), cv::Scalar(200), cv::FILLED);
  const fracture::PerceptualHash q = fracture::perceptual_hash(im.pixels);
  std::string bytes = fracture::read_file(path);
  uint64_t content = fracture::hash_bytes(bytes);              // exact copies (core/fs.h)
  bool same = fracture::same_file_bytes(path_a, path_b);       // confirm an equal content hash
  fracture::PerceptualHash p = fracture::perceptual_hash(im.pixels);   // grey CV_8U/16U/32F
  int d = fracture::phash_distance(p, q);                      // 0..63 bits, min over flips
  EXPECT_EQ(content, fracture::hash_bytes("same bytes"));
  EXPECT_TRUE(same);
  EXPECT_EQ(d, 0);

  auto logger = fracture::make_logger(false);
  fracture::Logger& log = *logger;
  const bool strict = false;
  std::vector<fracture::Problem> found;
  std::vector<fracture::Problem>* problems = &found;
  const fs::path label_file = dir / "labels/a.txt";
  fracture::ProblemSink sink(strict, log, problems);
  sink.add(label_file, 7, "class index 3 is out of range: nc = 2");  // throws fracture::Error if strict
  EXPECT_EQ(found.size(), 1u);
  fs::remove_all(dir);
}

TEST(HeaderExamples, DataCompileOnly) {
  auto log = fracture::make_logger(false);
  const cv::Mat mat16(8, 8, CV_16UC1, cv::Scalar(1000));
  const fracture::ClassificationOptions cls_opt;
  const int epochs = 1;
  const torch::Device device(torch::kCPU);
  auto model = fracture::models::make_classifier("mobilenet_v3_small", {});
  const uint64_t seed = 3;
  [[maybe_unused]] auto check = [&]() -> int {
    fracture::CheckOptions opt;                    // strict = false: collect every problem
    opt.strict = false;
    fracture::CheckReport r = fracture::check_dataset("data/data.yaml", opt, *log);
    std::fputs(fracture::format_report(r).c_str(), stdout);
    fracture::write_check_json("check.json", r);   // report_json, atomically
    return r.errors() > 0 ? 1 : 0;
  };
  [[maybe_unused]] auto classification = [&] {
    std::vector<fracture::Problem> problems;
    fracture::ClsDataset a = fracture::load_classification("xray/", "fractured", false, *log, &problems);
    fracture::ClsDataset b = fracture::load_classification("manifest.csv", "fractured", true, *log, nullptr);
    fracture::DetDataset det = fracture::load_yolo("data.yaml", true, *log, nullptr);
    fracture::ClsDataset c = fracture::cls_from_detection(det, "train", {"forearm fracture"});
  };
  [[maybe_unused]] auto dataset = [&] {
    std::vector<fracture::Problem> problems;
    fracture::DetDataset ds = fracture::load_yolo("data.yaml", /*strict=*/false, *log, &problems);
    fracture::ClsDataset cls = fracture::cls_from_detection(ds, "train", {"forearm fracture"});
  };
  [[maybe_unused]] auto yolo = [&] {
    std::vector<fracture::Problem> problems;
    fracture::DetDataset ds = fracture::load_yolo("data/data.yaml", /*strict=*/false, *log, &problems);
    if (!problems.empty()) log->warn("{} dataset problems (see above)", problems.size());
  };
#if FRACTURE_WITH_DICOM
  [[maybe_unused]] auto dicom = [&] {
    fracture::Image im = fracture::read_dicom("ct.dcm", {});      // CV_16UC1, windowed
    fracture::write_dicom("out.dcm", mat16, {.patient_id = "P0001"});
  };
#endif
  [[maybe_unused]] auto image = [&] {
    fracture::Image im = fracture::read_image("scan.dcm");     // CV_16UC1, VOI window applied
    cv::Mat x = fracture::to_float01(im);                       // CV_32FC1 in [0, 1]
  };
  [[maybe_unused]] auto loader_example = [&](const fracture::ClsDataset& ds) {
    auto src = std::make_shared<fracture::ClassificationSource>(ds.items, cls_opt);
    fracture::LoaderOptions lo;  lo.batch = 16;  lo.workers = 2;  lo.seed = 0;  lo.shuffle = true;
    fracture::Loader loader(src, lo);
    for (int epoch = 0; epoch < epochs; ++epoch) {
      loader.start_epoch(epoch);
      while (auto b = loader.next()) {     // std::optional<Batch>
        auto out = model->forward(b->images.to(device));  // (B, C, H, W) float32
      }
    }
  };
  [[maybe_unused]] auto synth = [&] {
    fracture::SynthOptions opt;              // n, imgsz, seed, difficulty, bits, ...
    opt.n = 300; opt.imgsz = 128; opt.seed = 7;
    fracture::SynthSummary s = fracture::write_synth(opt, "synthetic", *log);
  };
  [[maybe_unused]] auto synth_scene = [&] {
    fracture::synth::Rng rng(seed);
    fracture::synth::Scene scene;
    fracture::synth::Layout L{/*size=*/256, 0, 0, /*scale=*/1, /*rot=*/0, /*mirror=*/1, 0, 0};
    fracture::synth::Builder B{L, scene, rng};
    fracture::synth::build_scene(fracture::SynthRegion::kWrist, B);   // prims, soft tissue, targets
  };
}

TEST(HeaderExamples, DetectAndModels) {
  torch::manual_seed(0);
  const torch::Tensor xywh = torch::rand({5, 4}), a = torch::rand({3, 4}) * 10, b = a + 1;
  const torch::Tensor p = xywh, t = xywh + 0.1;
  const std::vector<torch::Tensor> feats = {torch::zeros({1, 65, 8, 8}), torch::zeros({1, 65, 4, 4}),
                                            torch::zeros({1, 65, 2, 2})};
  const torch::Tensor raw_box = torch::rand({1, 64, 84});
  auto xyxy = fracture::detect::xywh2xyxy(xywh);                    // (..., 4) -> (..., 4)
  auto iou  = fracture::detect::box_iou(a, b);                      // (N, 4), (M, 4) -> (N, M)
  auto ciou = fracture::detect::bbox_iou(p, t, false, fracture::detect::IouKind::ciou);  // (..., 4) -> (..., 1)
  auto [points, strides] = fracture::detect::make_anchors(feats, {8, 16, 32});
  auto dist = fracture::detect::dfl_decode(raw_box, 16);            // (B, 64, A) -> (B, 4, A)
  auto boxes = fracture::detect::dist2bbox(dist, points.t().unsqueeze(0), true, 1);
  EXPECT_EQ(iou.sizes(), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(boxes.size(1), 4);

  const torch::Tensor out = torch::cat({torch::rand({1, 4, 10}) * 64, torch::rand({1, 1, 10})}, 1);
  fracture::detect::NmsOptions o;  o.conf_thres = 0.001;  o.iou_thres = 0.7;  o.multi_label = true;
  std::vector<torch::Tensor> dets = fracture::detect::non_max_suppression(out, o);
  EXPECT_EQ(dets.size(), 1u);

  const torch::Tensor x = torch::rand({2, 3, 32, 32});  // train mode: BatchNorm needs 2 images at 1x1
  {
    fracture::models::ClassifierOptions opt;
    opt.num_classes = 1;                       // binary fracture: one logit
    auto net = fracture::models::make_classifier("mobilenet_v3_small", opt);
    torch::Tensor logits = net->forward(x);    // x (B, in_channels, H, W) -> (B, num_classes)
    fracture::models::freeze_backbone(*net);   // train only the head ("classifier.*")
    fracture::models::unfreeze(*net);
    EXPECT_EQ(logits.size(1), 1);
  }
  auto isa = fracture::models::cpu_isa();   // once per process; cheap afterwards
  std::printf("%s\n", isa.summary().c_str());  // "onednn avx2, aten AVX2, kernels avx2, bf16 none"
  std::string s = fracture::models::detail::shape_str(t.sizes());   // "[64, 3, 7, 7]"
  EXPECT_EQ(s, "[5, 4]");
}

TEST(HeaderExamples, ModelsCompileOnly) {
  using namespace fracture::models;  // the kernels' and layers' examples are written inside the namespace
  const torch::Tensor x = torch::rand({1, 3, 32, 32}), weight = torch::rand({8, 3, 3, 3}), bias = torch::rand({8});
  const torch::Tensor skip = torch::rand({1, 8, 16, 16});
  [[maybe_unused]] auto classifiers = [&] {
    {
      fracture::models::ClassifierOptions opt;  opt.num_classes = 1;
      fracture::models::EfficientNetB0 net(opt);
      torch::Tensor logits = net->forward(x);   // (B, 3, H, W) -> (B, 1)
    }
    {
      fracture::models::ClassifierOptions opt;  opt.num_classes = 1;
      fracture::models::MobileNetV3Small net(opt);
      torch::Tensor logits = net->forward(x);   // (B, 3, H, W) -> (B, 1)
    }
    {
      fracture::models::ClassifierOptions opt;  opt.num_classes = 1;
      fracture::models::ResNet18 net(opt);
      torch::Tensor logits = net->forward(x);   // (B, 3, H, W) -> (B, 1)
    }
  };
  [[maybe_unused]] auto inference = [&](const fracture::models::ClassifierOptions& opt) {
    auto net = fracture::models::make_classifier("efficientnet_b0", opt);
    fracture::models::InferenceOptions io;  io.channels_last = true;
    fracture::models::optimize_for_inference(*net, io);           // eval mode, BN folded, no going back
    torch::InferenceMode guard;
    auto logits = net->forward(fracture::models::inference_input(x, io));   // (B, 3, H, W) -> (B, nc)
  };
  [[maybe_unused]] auto kernels = [&] {
    {
      OnednnConvSpec s;  s.stride = 2;  s.padding = 1;  s.act = OnednnAct::silu;
      OnednnConv conv(weight, bias, s);            // weight (O, I/groups, kh, kw), bias (O,) or undefined
      torch::Tensor y = conv.forward(x);           // x (B, I, H, W) -> (B, O, H', W'), both channels-last
      torch::Tensor z = conv.forward(x, &skip);    // act(conv(x) + b) + skip (or act(conv + b + skip))
    }
    {
      WinogradConv conv(weight, bias, /*padding=*/1, OnednnAct::silu, /*add_after_act=*/true);
      torch::Tensor y = conv.forward(x);            // x (B, I, H, W) fp32 -> (B, O, H+2p-2, W+2p-2)
      torch::Tensor z = conv.forward(x, &skip);     // act(conv + b) + skip
    }
    {
      torch::Tensor fc1_w, fc1_b, fc2_w, fc2_b;
      SqueezeExciteKernel se(fc1_w, fc1_b, fc2_w, fc2_b, Act::relu, Act::hardsigmoid);
      torch::Tensor y = se.forward(x);   // x (B, C, H, W) fp32 channels-last -> x * gate, channels-last
    }
    {
      torch::Tensor y = x.clone();
      fracture::models::silu_inplace(y.data_ptr<float>(), y.numel());   // y = y * sigmoid(y)
    }
    {
      auto net = fracture::models::make_classifier("resnet18", {.num_classes = 1});
      torch::Tensor y = fracture::models::forward_batch_slices(x, 4, [&](const torch::Tensor& s) {
        return net->forward_head(net->forward_features(s));   // (b, ...) -> (b, ...)
      });                                                      // x (B, ...) -> the slices' outputs, in order
    }
  };
  [[maybe_unused]] auto layers = [&] {
    auto stem = conv_bn_act(3, 16, 3, 2, 1, Act::hardswish, {1e-3, 0.01});   // keys 0.weight, 1.*
    SqueezeExcitation se(96, 24, Act::relu, Act::hardsigmoid);                // keys fc1.*, fc2.*
  };
  [[maybe_unused]] auto weights = [&] {
    auto tensors = fracture::models::read_checkpoint("resnet18-f37072fd.pth");  // by extension
    auto net = fracture::models::make_classifier("resnet18", {.num_classes = 1});
    auto report = fracture::models::load_state_dict(*net, tensors);   // fc.* re-initialised (1000 -> 1)
    fracture::models::save_safetensors(*net, "model.safetensors");    // torchvision-loadable keys
  };
  [[maybe_unused]] auto yolo = [&] {
    fracture::models::YoloV8Options opt;  opt.scale = "n";  opt.nc = 1;
    fracture::models::YoloV8 net(opt);
    net->train();  auto feats = net->forward_train(x);   // 3 x (B, 64 + nc, H/s, W/s), s = 8, 16, 32
    auto raw = net->forward(x);                          // train mode: (B, 64 + nc, A) logits
    net->eval();   auto y = net->forward(x);             // (B, 4 + nc, A): xywh pixels, sigmoid scores
    auto report = fracture::models::load_yolov8_weights(*net, "yolov8n.safetensors");
  };
}

TEST(HeaderExamples, EngineAndReportCompileOnly) {
  auto log = fracture::make_logger(false);
  const fracture::Config cfg0 = fracture::Config::defaults();
  const std::vector<fracture::ClsItem> train, val, test;
  const uint64_t seed = 0;
  const fs::path run = "runs/x", run_dir = run;
  const cv::Mat img01(32, 32, CV_32FC1, cv::Scalar(0.5));
  const std::vector<fracture::DetItem> items;
  const std::vector<std::string> names = {"fracture"};
  const std::vector<fracture::FoldPredictions> folds;
  const std::vector<double> recall, precision, mean_precision;
  const int64_t nc = 1, imgsz_h = 64, imgsz_w = 64;
  [[maybe_unused]] auto classify = [&] {
    const fracture::Config& cfg = cfg0;
    auto opt = fracture::engine::classify_options(cfg);
    fracture::engine::FitResult fit = fracture::engine::fit_classifier("resnet18", train, val, opt, seed, *log, "r0f0");
    std::vector<double> z = fracture::engine::predict_logits(*fit.net, test, opt);   // one logit per image
  };
  [[maybe_unused]] auto classify_run = [&] {
    fracture::Config cfg = fracture::Config::defaults();
    cfg.set("data", "synthetic/classification.csv", "example");
    cfg.set("model", "mobilenet_v3_small", "example");
    fracture::engine::ClassifyOutcome out = fracture::engine::classify_cv(cfg, *log);
    std::printf("%s", out.report.c_str());           // the study's Markdown tables
  };
  [[maybe_unused]] auto gradcam = [&](fracture::models::ClassifierImpl& model) {
    auto* net = &model;
    const torch::Tensor x = torch::zeros({1, 3, 64, 64});
    torch::Tensor cam = fracture::models::grad_cam(*net, x);   // x (B, 3, H, W) -> (B, H, W) in [0, 1]
    fracture::models::CamPeak peak = fracture::models::cam_peak(cam[0]);   // where the map is hottest
    torch::Tensor finer = fracture::models::grad_cam(*net, x, 0, "layer3");   // H/16 resolution (not optimised nets)
  };
  [[maybe_unused]] auto distributed = [&](std::vector<torch::Tensor>& grads, std::vector<torch::Tensor>& params) {
    fracture::engine::DistEnv env = fracture::engine::dist_env_from_environment();   // RANK, WORLD_SIZE, ...
    if (env.world_size > 1) {
      auto group = fracture::engine::DistGroup::connect(env, std::chrono::seconds(60));
      group->allreduce_mean(grads);   // one flat bucket, summed by Gloo's ring all-reduce, divided by the world size
      group->broadcast(params, 0);    // rank 0's tensors on every rank
    }
  };
  [[maybe_unused]] auto detect_checkpoint = [&](const fs::path& wdir, int epoch, int64_t nb, bool is_best,
                                                const fracture::models::NamedTensors& best, torch::nn::Module* net,
                                                torch::nn::Module* ema_net, fracture::engine::ModelEMA& ema,
                                                std::unique_ptr<torch::optim::Optimizer>& opt,
                                                std::vector<std::string>& rows, fracture::engine::DistGroup* group,
                                                const fs::path& scratch) {
    fracture::engine::TrainState st;   // after an epoch of detect_train:
    fracture::engine::save_epoch_checkpoint(wdir, st, epoch, nb, is_best, best, *net, *ema_net, *opt);
    auto back = fracture::engine::restore_run(run, wdir, *net, *ema_net, ema, *opt, rows);   // resume=
    auto local = fracture::engine::mirror_run(*group, run, scratch);   // data-parallel: rank 0's files
  };
  [[maybe_unused]] auto sync_bn = [&](fracture::engine::DistGroup* group, fracture::models::YoloV8& net,
                                      const torch::Tensor& x, const fracture::models::BatchNormHook& hook) {
    fracture::engine::SyncBatchNormScope sync(group);   // null group or world size 1: does nothing
    torch::Tensor loss = net->forward(x).sum();         // models::SyncBatchNorm2d in training mode
    loss.backward();                                    // normalised over every rank's batch
    fracture::models::SyncBatchNorm2d bn(torch::nn::BatchNormOptions(64).eps(1e-3).momentum(0.03));
    torch::Tensor y = bn(x);   // torch's BatchNorm2d exactly, unless a hook is set and bn is training
    fracture::models::set_batch_norm_hook(hook);   // engine/sync_batchnorm.h sets one for its scope
  };
  [[maybe_unused]] auto serving = [&](const fracture::Config& cfg, const std::vector<fracture::ClsItem>& items,
                                      const fracture::ClsItem& item) {
    fracture::engine::Predictor predictor(cfg, *log);   // key model: a study, a classify cv run or a detect run
    std::vector<fracture::engine::ImagePrediction> out = predictor.predict(items);   // one per item
    std::string body = out[0].json.dump(2);              // probability, triage, boxes, Grad-CAM peak
    nlohmann::json about = predictor.info();             // models, operating points, the run they came from
    fracture::serve::Batcher b([&](const std::vector<fracture::ClsItem>& items) { return predictor.predict(items); }, {});
    std::optional<std::future<fracture::serve::Answer>> f = b.submit(item);   // nullopt: queue full
    fracture::serve::Answer a = f->get();   // a.prediction, or a.error when that image failed
    b.stop();                               // answers what is queued, then joins the worker
    fracture::serve::Metrics m;
    m.request("/v1/predict", 200, 0.042);      // route, status, seconds
    m.error("unsupported_media_type");
    m.batch(4);
    const size_t queue_depth = 0;
    std::string text = m.prometheus(queue_depth);
  };
  [[maybe_unused]] auto serve_common = [&](const std::function<void()>& serve_one, long id,
                                           const std::string& sop_instance_uid) {
    fracture::serve::catch_stop_signals();               // before serving
    while (!fracture::serve::stop_signal()) serve_one();  // then finish what is in flight
    log->info("request {} ({})", id, fracture::serve::log_hash(sop_instance_uid));
  };
  [[maybe_unused]] auto serve_http = [&] {
    fracture::Config cfg = fracture::Config::defaults();
    cfg.set("model", "runs/study/study", "example");
    int status = fracture::serve::run_http(cfg, *log);   // until SIGTERM / SIGINT (or max_requests)
  };
  [[maybe_unused]] auto upload = [&](const httplib::Request& req) {
    fracture::serve::Upload u = fracture::serve::read_upload(req);   // req: the httplib::Request
    if (!u.ok()) std::printf("%d %s (%s)\n", u.status, u.error.c_str(), u.kind.c_str());
    std::string refused = fracture::serve::over_upload_limit(req, 64 << 20);   // "" when within
    std::string body = fracture::serve::error_body(413, refused);   // {"error": "...", "status": 413}
  };
#if FRACTURE_WITH_DICOM
  [[maybe_unused]] auto dicom_results = [&](const fs::path& tmp, const fracture::engine::ImagePrediction& prediction) {
    std::unique_ptr<DcmFileFormat> ff = fracture::serve::load_received(tmp / "1.dcm");  // as received
    DcmDataset& ds = *ff->getDataset();
    std::string tag = fracture::serve::received_object_tag(ds);      // "sop-uid 3fa1c09b2e77"
    std::unique_ptr<DcmDataset> sc = fracture::serve::secondary_capture(ds, prediction);
    std::unique_ptr<DcmDataset> sr = fracture::serve::structured_report(ds, prediction);
  };
#endif
  [[maybe_unused]] auto optimizer_state = [&](torch::optim::Optimizer* opt, const fs::path& wdir, const fs::path& f) {
    fracture::models::NamedTensors s = fracture::engine::optimizer_state(*opt);   // SGD, Adam or AdamW
    fracture::models::write_safetensors(s, wdir / "resume_e3_optimizer.safetensors");
    fracture::engine::load_optimizer_state(*opt, fracture::models::read_safetensors(f), f.string());
  };
  [[maybe_unused]] auto dicom_node = [&] {
    fracture::Config cfg = fracture::Config::defaults();
    cfg.set("dest", "PACS@127.0.0.1:11113", "example");
    int status = fracture::serve::run_dicom_node(cfg, *log);   // until SIGTERM / SIGINT or max_associations
  };
  [[maybe_unused]] auto predict = [&] {
    fracture::Config cfg = fracture::Config::defaults();
    cfg.set("model", "runs/study/study", "example");
    cfg.set("source", "scans/", "example");
    fracture::engine::PredictOutcome out = fracture::engine::predict_study(cfg, *log);
  };
  [[maybe_unused]] auto study_run = [&] {
    fracture::Config cfg = fracture::Config::defaults();
    cfg.set("data", "synthetic/data.yaml", "example");        // boxes and (from them) image labels
    fracture::engine::StudyOutcome out = fracture::engine::run_study(cfg, *log);
    std::printf("%s", out.report.c_str());                     // summary.md
  };
  [[maybe_unused]] auto study_report = [&] {
    fracture::report::StudyReportInput in;   // filled by engine::run_study
    in.study = "runs/study/study";  in.classify_run = in.study / "classify" / "cv";
    std::string md = fracture::report::write_study_report(in);   // also writes the files
  };
  [[maybe_unused]] auto study_html = [&](const std::string& summary_md) {
    fracture::report::write_study_html("runs/study/study", summary_md, {"yolov8n"});
  };
  [[maybe_unused]] auto detect_eval = [&](const fracture::DetDataset& ds) {
    auto det = fracture::engine::load_detector("runs/detect/train", torch::kCPU);  // or a .safetensors
    fracture::engine::DetValOptions vo;  vo.imgsz = 640;
    auto out = fracture::engine::validate_detector(*det.net, ds.splits.at("val"), ds.names, vo, *log);
    fracture::report::write_val_report(out, ds.names, run_dir);   // metrics.json, curves, predictions
    std::cout << fracture::report::format_val_table(out, ds.names);
    fracture::engine::PredictOptions po;  po.imgsz = 640;
    auto dets = fracture::engine::predict_image(*det.net, img01, po);             // original pixels
  };
  [[maybe_unused]] auto detect_run = [&] {
    fracture::Config cfg = fracture::Config::defaults();
    cfg.set("model", "runs/detect/train", "example");
    cfg.set("data", "synthetic/data.yaml", "example");
    fracture::engine::DetectOutcome out = fracture::engine::detect_val(cfg, *log);
    std::printf("%s", out.report.c_str());           // the Ultralytics-style table
  };
  [[maybe_unused]] auto detect_train = [&] {
    fracture::Config cfg = fracture::Config::defaults();
    cfg.set("data", "data.yaml", "cli");  cfg.set("model", "yolov8n", "cli");  cfg.set("epochs", "50", "cli");
    fracture::engine::DetectTrainResult r = fracture::engine::detect_train(cfg, *log);
    cfg.set("resume", r.run_dir.string(), "cli");  fracture::engine::detect_train(cfg, *log);   // continue a killed run
  };
  [[maybe_unused]] auto ema_example = [&](const fracture::models::YoloV8Options& opt, fracture::models::YoloV8& net,
                                          torch::optim::Optimizer& optimizer) {
    auto ema_net = fracture::models::YoloV8(opt);              // same architecture as `net`
    fracture::engine::ModelEMA ema(*net, ema_net.ptr());        // copies net's state into ema_net
    optimizer.step();  ema.update(*net);                        // after every optimiser step
    ema.module()->eval();                                       // validate / save the averaged model
  };
  [[maybe_unused]] auto loss_example = [&](fracture::models::YoloV8& net, const torch::Tensor& images,
                                           const fracture::Batch& batch) {
    fracture::detect::DetectionLoss loss(nc, {8, 16, 32});
    auto feats = net->forward_train(images);              // 3 x (B, 64 + nc, H_i, W_i)
    fracture::detect::LossOutput out = loss(feats, batch.targets, imgsz_h, imgsz_w);
    out.total.backward();                                 // scalar: (box + cls + dfl) * B
    out.items;                                            // (3) detached [box, cls, dfl] per image
    auto as = loss.assign(feats, batch.targets, imgsz_h, imgsz_w);  // the TaskAligned assignment only
  };
  [[maybe_unused]] auto detect_files = [&](fracture::engine::LoadedDetector& det,
                                           const fracture::engine::DetValOptions& vo) {
    fracture::DetValOutput out = fracture::engine::validate_detector(*det.net, items, names, vo, *log);
    fracture::report::write_val_report(out, names, run);               // metrics.json, curves, plots, ...
    std::printf("%s", fracture::report::format_val_table(out, names).c_str());
    std::vector<fracture::ImagePredictions> again = fracture::report::read_predictions_json(run / "predictions.json");
    fracture::report::write_names(run / "weights", names);             // read back by read_names
  };
  [[maybe_unused]] auto plot = [&] {
    fracture::report::PlotOptions o;  o.title = "Precision-Recall";  o.xlabel = "Recall";  o.ylabel = "Precision";
    std::vector<fracture::report::Series> s{{"wrist fracture 0.512", recall, precision}};
    s.push_back({"all classes 0.480 mAP@0.5", recall, mean_precision, /*bold=*/true});
    fracture::report::write_png_atomic(fracture::report::line_plot(s, o), run_dir / "PR_curve.png");
  };
  [[maybe_unused]] auto study = [&] {
    const fracture::Config& cfg = cfg0;
    fracture::StudyOptions opt;  opt.seed = cfg.integer("seed");
    fracture::StudySummary s = fracture::summarise_study(folds, opt);
    fracture::write_study_outputs(run_dir, s, folds);                       // study_files.h
    std::printf("%s", fracture::format_study_tables(s).c_str());
  };
  [[maybe_unused]] auto study_plots = [&](const fracture::StudySummary& summary) {
    const auto curves = fracture::study_curves(summary, folds);
    fracture::write_study_outputs(run, summary, folds, curves);
    fracture::report::write_study_plots(run, curves);
  };
}

TEST(HeaderExamples, DataScreenAndSkippedFile) {
  const fs::path run = scratch("screen");
  fracture::write_file_atomic(run / "empty.png", "");
  fracture::Config cfg = fracture::Config::defaults();
  cfg.set("strict", "false", "example");
  auto log = fracture::make_logger(false);
  fracture::ClsDataset ds;
  ds.items.push_back({run / "empty.png", 1, "", "train"});
  fracture::ScreenOptions so = fracture::screen_options(cfg);    // validate, strict, workers, dicom_window
  std::vector<fracture::UnusableFile> skipped = fracture::screen_dataset(ds, so);   // ds: ClsDataset or DetDataset
  const size_t listed = 1;
  fracture::warn_unusable(*log, "data.yaml", skipped, listed);    // one line: count, first file, reason
  fracture::report::write_skipped(run, skipped);                  // run/skipped.csv (report/data_files.h)
  std::vector<fracture::UnusableFile> again = fracture::report::read_skipped(run / "skipped.csv");
  EXPECT_TRUE(ds.items.empty());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].reason, "file is empty (0 bytes); expected an image");
  fs::remove_all(run);
}

TEST(HeaderExamples, DataImageCache) {
  const fs::path project = scratch("cache"), path = project / "a.png";
  cv::imwrite(path.string(), cv::Mat(20, 30, CV_8UC1, cv::Scalar(7)));
  auto decode_and_resize = [](const fs::path& p) {
    fracture::Image im = fracture::read_image(p);
    return fracture::CachedImage{im.pixels, im.bits, im.pixels.cols, im.pixels.rows};
  };
  auto cache = fracture::ImageCache::make("ram", project / ".cache");   // nullptr for "false"
  fracture::CachedImage im = cache->get(path, "imgsz=128 letterbox", [&] { return decode_and_resize(path); });
  std::printf("%zu hits, %zu misses, %.1f MiB\n", cache->hits(), cache->misses(), cache->bytes() / 1048576.0);
  EXPECT_EQ(im.src_w, 30);
  EXPECT_EQ(cache->misses(), 1u);
  fs::remove_all(project);
}
