// Classification engine: learning-rate schedule, early stopping, inner split, fold files, and
// (on a tiny synthetic set, mobilenet_v3_small at 32 px) best-weight restore, determinism, the
// safetensors round trip, and resume equality of `classify cv`.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "fracture/core/config.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/log.h"
#include "fracture/data/classification.h"
#include "fracture/data/synth.h"
#include "fracture/engine/classify.h"
#include "fracture/engine/classify_run.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/inference.h"
#include "fracture/engine/threads.h"
#include "expect_error.h"

namespace fs = std::filesystem;
using namespace fracture;
using namespace fracture::engine;
using fracture::report::fold_from_json;
using fracture::report::fold_to_json;
using fracture::test::expect_error;

// ---- pure parts -----------------------------------------------------------------------------------

TEST(ClassifyLr, WarmupThenCosineHandValues) {
  const double lr0 = 1e-3, lrf = 0.01;
  // total 21 iterations, warmup 4: warmup ramps (it + 1) / 4, cosine spans iterations 4..20.
  EXPECT_DOUBLE_EQ(lr_at_iteration(0, 21, 4, lr0, lrf), 0.25e-3);
  EXPECT_DOUBLE_EQ(lr_at_iteration(2, 21, 4, lr0, lrf), 0.75e-3);
  EXPECT_DOUBLE_EQ(lr_at_iteration(3, 21, 4, lr0, lrf), 1e-3);
  EXPECT_DOUBLE_EQ(lr_at_iteration(4, 21, 4, lr0, lrf), 1e-3);              // cosine start
  EXPECT_NEAR(lr_at_iteration(12, 21, 4, lr0, lrf), 1e-3 * (0.01 + 0.99 * 0.5), 1e-15);  // half way
  EXPECT_NEAR(lr_at_iteration(20, 21, 4, lr0, lrf), 1e-5, 1e-15);           // last = lr0 * lrf
  // a quarter of the way: (1 + cos(pi / 4)) / 2
  EXPECT_NEAR(lr_at_iteration(8, 21, 4, lr0, lrf), 1e-3 * (0.01 + 0.99 * (1 + std::sqrt(0.5)) / 2), 1e-15);
  // no warmup: the first iteration is lr0; the schedule never increases after warmup
  EXPECT_DOUBLE_EQ(lr_at_iteration(0, 10, 0, lr0, lrf), lr0);
  for (int it = 5; it < 21; ++it)
    EXPECT_LE(lr_at_iteration(it, 21, 4, lr0, lrf), lr_at_iteration(it - 1, 21, 4, lr0, lrf));
}

TEST(ClassifyEarlyStopping, LossPatienceAndNaN) {
  EarlyStopping s("val_loss", 2);
  EXPECT_TRUE(s.update(0, 1.0));
  EXPECT_TRUE(s.update(1, 0.8));
  EXPECT_FALSE(s.update(2, 0.9));
  EXPECT_FALSE(s.should_stop());
  EXPECT_FALSE(s.update(3, std::nan("")));  // NaN never improves
  EXPECT_TRUE(s.should_stop());              // epochs 2, 3 without improvement
  EXPECT_EQ(s.best_epoch(), 1);
  EXPECT_DOUBLE_EQ(s.best_value(), 0.8);
  EXPECT_FALSE(s.update(4, 0.8));            // equal is not better
}

TEST(ClassifyEarlyStopping, AurocMaximises) {
  EarlyStopping s("auroc", 1);
  EXPECT_TRUE(s.update(0, 0.6));
  EXPECT_FALSE(s.update(1, 0.5));
  EXPECT_TRUE(s.should_stop());
  EXPECT_EQ(s.best_epoch(), 0);
  EXPECT_THROW(EarlyStopping("accuracy", 3), Error);
}

TEST(ClassifyInnerSplit, NoPatientInBothRolesAndBothClasses) {
  std::vector<int> labels;
  std::vector<std::string> patients;
  for (int p = 0; p < 40; ++p)
    for (int k = 0; k < 1 + p % 3; ++k) {
      patients.push_back("P" + std::to_string(p));
      labels.push_back((p + k) % 2);
    }
  auto role = inner_split(labels, patients, 0.2, 7);
  ASSERT_EQ(role.size(), labels.size());
  std::map<std::string, std::set<int>> roles_of;
  int counts[2][2] = {{0, 0}, {0, 0}};
  for (size_t i = 0; i < role.size(); ++i) {
    roles_of[patients[i]].insert(role[i]);
    counts[role[i]][labels[i]]++;
  }
  for (auto& kv : roles_of) EXPECT_EQ(kv.second.size(), 1u) << kv.first << " in both roles";
  EXPECT_GT(counts[1][0], 0);
  EXPECT_GT(counts[1][1], 0);
  const double share = double(counts[1][0] + counts[1][1]) / double(role.size());
  EXPECT_GT(share, 0.1);
  EXPECT_LT(share, 0.3);
  // same seed, same split; the split depends on the seed
  EXPECT_EQ(role, inner_split(labels, patients, 0.2, 7));
  // impossible: both positives belong to one patient, so one role lacks positives
  std::vector<int> l2 = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<std::string> p2 = {"A", "A", "B", "C", "D", "E", "F", "G", "H", "I"};
  EXPECT_THROW(inner_split(l2, p2, 0.2, 0), Error);
}

TEST(ClassifyFoldJson, RoundTripIsExact) {
  FoldPredictions f;
  f.model = "resnet18";
  f.repeat = 2;
  f.fold = 4;
  f.images = {"a,b.png", "c \"q\".png"};
  f.patients = {"P1", ""};
  f.labels = {1, 0};
  f.logits = {0.1, -1.0 / 3.0};
  f.val_labels = {0, 1, 1};
  f.val_logits = {1e-300, -2.5e10, 0.30000000000000004};
  f.best_epoch = 3;
  f.epochs_run = 7;
  f.train_seconds = 12.25;
  FoldPredictions g = fold_from_json(fold_to_json(f), "test");
  EXPECT_EQ(g.model, f.model);
  EXPECT_EQ(g.repeat, 2);
  EXPECT_EQ(g.fold, 4);
  EXPECT_EQ(g.images, f.images);
  EXPECT_EQ(g.patients, f.patients);
  EXPECT_EQ(g.labels, f.labels);
  EXPECT_EQ(g.logits, f.logits);  // bit-exact doubles
  EXPECT_EQ(g.val_logits, f.val_logits);
  EXPECT_EQ(g.val_labels, f.val_labels);
  EXPECT_EQ(g.best_epoch, 3);
  EXPECT_EQ(g.epochs_run, 7);
  EXPECT_EQ(fold_to_json(g), fold_to_json(f));
  EXPECT_THROW(fold_from_json("{\"model\": 1}", "x.json"), Error);
}

TEST(ComputeThreads, KeySetsAtenThreadsNullMeansEveryUsableCore) {
  auto log = fracture::null_logger();
  const int before = at::get_num_threads();
  fracture::Config c = fracture::Config::defaults();
  EXPECT_GE(fracture::usable_cores(), 1);
  EXPECT_EQ(fracture::apply_compute_threads(c, *log), fracture::usable_cores());  // null
  EXPECT_EQ(at::get_num_threads(), fracture::usable_cores());
  c.set("threads", "1", "test");
  EXPECT_EQ(fracture::apply_compute_threads(c, *log), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  c.set("threads", "0", "test");
  expect_error([&] { fracture::apply_compute_threads(c, *log); }, "'threads'");
  at::set_num_threads(before);
}

TEST(ClassifyHead, EfficientNetOneLogitHeadStartsNearZero) {
  // torchvision's rule gives U(-1, 1) weights for one output: logits of several units at the start.
  torch::manual_seed(0);
  fracture::models::ClassifierOptions mo;
  mo.num_classes = 1;
  auto net = fracture::models::make_classifier("efficientnet_b0", mo);
  net->train();  // as training sees it: BatchNorm on batch statistics (eval-mode running stats of a
                 // fresh net shrink the features, which hides the problem)
  torch::NoGradGuard no_grad;
  auto x = torch::randn({8, 3, 64, 64});
  const double before = net->forward(x).abs().max().item<double>();
  fracture::engine::prepare_one_logit_head(*net);
  const double after = net->forward(x).abs().max().item<double>();
  std::printf("efficientnet_b0 one-logit head: max |logit| %.3f with torchvision's init, %.4f after\n", before, after);
  EXPECT_GT(before, 1.0);
  EXPECT_LT(after, 0.5);
  auto p = net->named_parameters();
  EXPECT_EQ(p["classifier.1.bias"].abs().max().item<double>(), 0.0);
  EXPECT_NEAR(p["classifier.1.weight"].std().item<double>(), 0.01, 0.002);
  // the other backbones are left as torchvision builds them
  auto r = fracture::models::make_classifier("resnet18", mo);
  auto w = r->named_parameters()["fc.weight"].clone();
  fracture::engine::prepare_one_logit_head(*r);
  EXPECT_TRUE(torch::equal(w, r->named_parameters()["fc.weight"]));
}

TEST(ClassifyOptions, BadInputsNameTheKey) {
  Config c = Config::defaults();
  c.set("model", "resnet50", "test");
  expect_error([&] { classify_options(c); }, "resnet50");
  c.set("model", "all", "test");
  EXPECT_EQ(classify_options(c).models.size(), 3u);
  c.set("monitor", "accuracy", "test");
  EXPECT_THROW(classify_options(c), Error);
  c.set("monitor", "auroc", "test");
  c.set("finetune", "partial", "test");
  EXPECT_THROW(classify_options(c), Error);
  c.set("finetune", "staged", "test");
  c.set("weights", "/nonexistent/file.pth", "test");  // model=all needs a folder
  EXPECT_THROW(classify_options(c), Error);
}

TEST(ClassifyOptions, ChannelsLastKeyOnCpuOnly) {
  Config c = Config::defaults();
  c.set("model", "resnet18", "test");
  EXPECT_TRUE(classify_options(c).channels_last);  // the default
  c.set("channels_last", "false", "test");
  EXPECT_FALSE(classify_options(c).channels_last);
  c.set("channels_last", "true", "test");
  c.set("device", "cuda:0", "test");  // only read here, not used: no GPU needed
  EXPECT_FALSE(classify_options(c).channels_last);
}

// ---- trained on a tiny synthetic set --------------------------------------------------------------

class ClassifyTrained : public ::testing::Test {
 protected:
  static fs::path root_;
  static ClsDataset ds_;

  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("classify_engine_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    SynthOptions so;
    so.n = 48;
    so.imgsz = 64;
    so.seed = 3;
    so.difficulty = "easy";
    auto log = null_logger();
    write_synth(so, root_ / "data", *log);
    ds_ = load_classification(root_ / "data" / "classification.csv", "fractured", true, *log, nullptr);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static Config config() {
    Config c = Config::defaults();
    c.set("data", (root_ / "data" / "classification.csv").string(), "test");
    c.set("model", "mobilenet_v3_small", "test");
    c.set("imgsz", "32", "test");
    c.set("batch", "8", "test");
    c.set("epochs", "1", "test");
    c.set("workers", "1", "test");
    c.set("folds", "2", "test");
    c.set("repeats", "1", "test");
    c.set("seed", "5", "test");
    c.set("project", (root_ / "runs").string(), "test");
    return c;
  }
  static void split(std::vector<ClsItem>* train, std::vector<ClsItem>* val) {
    for (const auto& it : ds_.items) (it.split == "val" || it.split == "test" ? *val : *train).push_back(it);
  }
};
fs::path ClassifyTrained::root_;
ClsDataset ClassifyTrained::ds_;

TEST_F(ClassifyTrained, RestoresBestWeightsDeterministicallyAndRoundTrips) {
  auto log = null_logger();
  Config c = config();
  c.set("epochs", "4", "test");
  c.set("patience", "4", "test");
  c.set("warmup_epochs", "0", "test");
  std::vector<ClsItem> train, val;
  split(&train, &val);
  // Large steps make a later epoch worse than an earlier best. The first of these learning rates
  // where that happens is used (the dynamics depend on the data and the engine's details); the
  // restore must then be exercised, so no such rate at all is a failure.
  ClassifyOptions opt;
  FitResult a;
  for (const char* lr : {"0.1", "0.03", "0.3", "1.0"}) {
    c.set("lr0", lr, "test");
    opt = classify_options(c);
    a = fit_classifier("mobilenet_v3_small", train, val, opt, 11, *log, "t");
    ASSERT_EQ(a.epochs_run, 4);
    if (a.best_epoch < a.epochs_run - 1) break;
  }
  ASSERT_LT(a.best_epoch, a.epochs_run - 1) << "best epoch is the last for every tried lr0: the restore is untested";
  std::vector<int> vy;
  for (const auto& it : val) vy.push_back(it.label);
  // Restored weights reproduce the best epoch's validation logits and loss, not the last epoch's.
  std::vector<double> z = predict_logits(*a.net, val, opt);
  EXPECT_EQ(z, a.val_logits);
  EXPECT_DOUBLE_EQ(mean_bce(z, vy), a.history[a.best_epoch].val_loss);
  EXPECT_NE(mean_bce(z, vy), a.history.back().val_loss);

  // Same seed: the same run, bit for bit.
  FitResult b = fit_classifier("mobilenet_v3_small", train, val, opt, 11, *log, "t");
  ASSERT_EQ(b.history.size(), a.history.size());
  for (size_t e = 0; e < a.history.size(); ++e) {
    EXPECT_EQ(a.history[e].train_loss, b.history[e].train_loss) << "epoch " << e;
    EXPECT_EQ(a.history[e].val_loss, b.history[e].val_loss) << "epoch " << e;
  }
  EXPECT_EQ(a.val_logits, b.val_logits);

  // Weights round trip through safetensors (torchvision keys) into a fresh model.
  const fs::path w = root_ / "rt.safetensors";
  models::save_safetensors(*a.net, w);
  models::ClassifierOptions mo;
  mo.num_classes = 1;
  auto fresh = models::make_classifier("mobilenet_v3_small", mo);
  auto report = models::load_state_dict(*fresh, models::read_safetensors(w), w.string(), true);
  EXPECT_TRUE(report.reinitialised.empty());
  EXPECT_TRUE(report.missing.empty());
  EXPECT_EQ(predict_logits(*fresh, val, opt), z);

  // weights= starts from that file: the head is loaded too (same shape), logged as loaded.
  c.set("weights", w.string(), "test");
  c.set("epochs", "1", "test");
  FitResult d = fit_classifier("mobilenet_v3_small", train, val, classify_options(c), 11, *log, "w");
  ASSERT_FALSE(d.load_report.empty());
  EXPECT_NE(d.load_report[0].find("loaded"), std::string::npos);

  // finetune=head: every backbone tensor (weights and BatchNorm buffers) stays as loaded, the head moves.
  // finetune=staged with freeze_epochs 1 of 2: the backbone moves in the second epoch.
  const models::NamedTensors start = models::read_safetensors(w);
  auto changed = [&](const FitResult& f, bool head) {
    int n = 0;
    for (const auto& kv : models::state_dict(*f.net)) {
      if ((kv.first.rfind("classifier.", 0) == 0) != head) continue;
      for (const auto& s : start)
        if (s.first == kv.first && !torch::equal(s.second, kv.second.cpu())) ++n;
    }
    return n;
  };
  c.set("finetune", "head", "test");
  FitResult h = fit_classifier("mobilenet_v3_small", train, val, classify_options(c), 11, *log, "head");
  EXPECT_EQ(changed(h, false), 0);
  EXPECT_GT(changed(h, true), 0);
  c.set("finetune", "staged", "test");
  c.set("freeze_epochs", "1", "test");
  c.set("epochs", "2", "test");
  c.set("monitor", "auroc", "test");
  FitResult s = fit_classifier("mobilenet_v3_small", train, val, classify_options(c), 11, *log, "staged");
  if (s.best_epoch == 1) EXPECT_GT(changed(s, false), 0);
  else EXPECT_EQ(changed(s, false), 0);  // best was the frozen epoch: restored backbone = loaded
}

// channels_last=true: NHWC weights and batches in training; the same run as NCHW up to float
// rounding (2 AdamW steps, precise BN, validation); the saved files are plain NCHW and load into a
// fresh NCHW model with the same logits (tolerances and measured values below).
TEST_F(ClassifyTrained, ChannelsLastTrainsLikeNchwAndSavesNchw) {
  auto log = null_logger();
  Config c = config();
  c.set("warmup_epochs", "0", "test");
  std::vector<ClsItem> all_train, val, train;
  split(&all_train, &val);
  int per_class[2] = {0, 0};
  for (const auto& it : all_train)
    if (per_class[it.label] < 8) train.push_back(it), ++per_class[it.label];
  ASSERT_EQ(train.size(), 16u);  // 2 steps of batch 8
  c.set("channels_last", "true", "test");
  const ClassifyOptions cl_opt = classify_options(c);
  c.set("channels_last", "false", "test");
  const ClassifyOptions nchw_opt = classify_options(c);
  FitResult a = fit_classifier("mobilenet_v3_small", train, val, cl_opt, 11, *log, "nhwc");
  FitResult b = fit_classifier("mobilenet_v3_small", train, val, nchw_opt, 11, *log, "nchw");

  // (a) What each run trained in: batch and every 4-D weight NHWC at the first step; the restored
  // best weights still are (the 3x3 stem over 3 channels is NHWC-only, not also NCHW-contiguous).
  EXPECT_TRUE(a.channels_last);
  EXPECT_FALSE(b.channels_last);
  const torch::Tensor stem_a = a.net->named_parameters()["features.0.0.weight"];
  const torch::Tensor stem_b = b.net->named_parameters()["features.0.0.weight"];
  EXPECT_TRUE(stem_a.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_FALSE(stem_a.is_contiguous());
  EXPECT_TRUE(stem_b.is_contiguous());
  EXPECT_FALSE(stem_b.is_contiguous(torch::MemoryFormat::ChannelsLast));

  // (b) The same run to float rounding. Measured here: train loss 4e-8 relative, validation loss 9e-6,
  // validation logits 7e-5 (eval-mode BatchNorm with running variances down to 2e-10 amplifies
  // rounding), BatchNorm statistics 5e-5 (norm of the difference / norm). Parameters: the two runs
  // differ by 1e-3 of how far training moved them (norms) and by at most 4.7e-4 per element: AdamW's
  // first steps are +-lr0 per element, so a gradient at rounding level may step either way.
  ASSERT_EQ(a.history.size(), 1u);
  ASSERT_EQ(b.history.size(), 1u);
  EXPECT_NEAR(a.history[0].train_loss, b.history[0].train_loss, 1e-6 * std::fabs(b.history[0].train_loss));
  EXPECT_NEAR(a.history[0].val_loss, b.history[0].val_loss, 1e-4 * std::fabs(b.history[0].val_loss));
  ASSERT_EQ(a.val_logits.size(), b.val_logits.size());
  for (size_t i = 0; i < a.val_logits.size(); ++i)
    EXPECT_NEAR(a.val_logits[i], b.val_logits[i], 2e-4 * std::max(1.0, std::fabs(b.val_logits[i]))) << i;
  torch::manual_seed(11);  // the initial weights of both runs (fit_classifier seeds, builds, prepares the head)
  models::ClassifierOptions mo;
  mo.num_classes = 1;
  auto init = models::make_classifier("mobilenet_v3_small", mo);
  prepare_one_logit_head(*init);
  const auto sa = models::state_dict(*a.net), sb = models::state_dict(*b.net), si = models::state_dict(*init);
  ASSERT_EQ(sa.size(), sb.size());
  ASSERT_EQ(sa.size(), si.size());
  double ab = 0, moved = 0, ab_stats = 0, stats = 0, max_ab = 0;  // sums of squares; largest |a - b|
  for (size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].first, sb[i].first);
    const torch::Tensor ta = sa[i].second.to(torch::kDouble), tb = sb[i].second.to(torch::kDouble);
    if (!sa[i].second.is_floating_point()) {
      EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;  // num_batches_tracked
    } else if (sa[i].first.find(".running_") != std::string::npos) {
      ab_stats += (ta - tb).pow(2).sum().item<double>();
      stats += tb.pow(2).sum().item<double>();
    } else {
      ab += (ta - tb).pow(2).sum().item<double>();
      moved += (tb - si[i].second.to(torch::kDouble)).pow(2).sum().item<double>();
      max_ab = std::max(max_ab, (ta - tb).abs().max().item<double>());
    }
  }
  std::printf("channels-last vs NCHW, 2 steps: train_loss %.8f vs %.8f; parameters differ by %.2e of the "
              "training update (largest %.2e), BatchNorm statistics by %.2e\n",
              a.history[0].train_loss, b.history[0].train_loss, std::sqrt(ab / moved), max_ab,
              std::sqrt(ab_stats / stats));
  EXPECT_GT(moved, 0.0);
  EXPECT_LE(std::sqrt(ab), 1e-2 * std::sqrt(moved));
  EXPECT_LE(max_ab, cl_opt.lr0);
  EXPECT_LE(std::sqrt(ab_stats), 1e-4 * std::sqrt(stats));

  // (c) Saved after NHWC training: the files hold the trained values in NCHW order (read back, they
  // equal the parameters value for value) and load into a fresh NCHW model. Made NHWC again, that
  // model gives the trained model's logits bit for bit; computing in NCHW, the same logits to 2e-4
  // relative (measured 4e-5; the NCHW kernels round differently, amplified as in (b)).
  const fs::path st = root_ / "cl.safetensors", pth = root_ / "cl.pth";
  models::save_safetensors(*a.net, st);
  models::write_checkpoint(models::state_dict(*a.net), pth);
  const std::vector<double> z_nhwc = predict_logits(*a.net, val, cl_opt);
  for (const auto& file : {st, pth}) {
    const auto saved = models::read_checkpoint(file);
    ASSERT_EQ(saved.size(), sa.size()) << file;
    for (size_t i = 0; i < saved.size(); ++i) {
      EXPECT_EQ(saved[i].first, sa[i].first);
      EXPECT_TRUE(saved[i].second.is_contiguous()) << file << " " << saved[i].first;
      EXPECT_TRUE(torch::equal(saved[i].second, sa[i].second)) << file << " " << saved[i].first;
    }
    auto fresh = models::make_classifier("mobilenet_v3_small", mo);
    models::load_state_dict(*fresh, saved, file.string(), true);
    fresh->eval();
    EXPECT_TRUE(fresh->named_parameters()["features.0.0.weight"].is_contiguous());
    const std::vector<double> z_nchw = predict_logits(*fresh, val, nchw_opt);
    ASSERT_EQ(z_nchw.size(), z_nhwc.size());
    for (size_t i = 0; i < z_nchw.size(); ++i)
      EXPECT_NEAR(z_nchw[i], z_nhwc[i], 2e-4 * std::max(1.0, std::fabs(z_nhwc[i]))) << file << " " << i;
    models::weights_to_channels_last(*fresh);
    EXPECT_EQ(predict_logits(*fresh, val, cl_opt), z_nhwc) << file;
  }
}

namespace {
// metrics.json as bytes: it holds no wall times (those are in timing.json), so two runs of the same
// command must give the same file.
std::string metrics_bytes(const fs::path& f) { return read_file(f); }
}  // namespace

TEST_F(ClassifyTrained, CvIsDeterministicResumesToTheSameResultAndKeepsPatientsApart) {
  auto log = null_logger();
  Config c = config();
  c.set("name", "a", "test");
  ClassifyOutcome a = classify_cv(c, *log);
  c.set("name", "b", "test");
  ClassifyOutcome b = classify_cv(c, *log);
  for (const char* f : {"splits.csv", "oof_predictions.csv"})
    EXPECT_EQ(read_file(a.run_dir / f), read_file(b.run_dir / f)) << f;
  EXPECT_EQ(metrics_bytes(a.run_dir / "metrics.json"), metrics_bytes(b.run_dir / "metrics.json"));
  EXPECT_FALSE(a.report.empty());

  // Layout.
  const fs::path fold = a.run_dir / "folds" / "mobilenet_v3_small" / "r0f1";
  for (const char* f : {"best.safetensors", "results.csv", "fold.json", "calibration.json"})
    EXPECT_TRUE(fs::is_regular_file(fold / f)) << f;
  EXPECT_TRUE(fs::is_regular_file(a.run_dir / "args.yaml"));

  // No patient in two roles of one (repeat, fold); every image tested once per repeat.
  std::istringstream in(read_file(a.run_dir / "splits.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "image,patient_id,label,repeat,fold,role");
  std::map<std::string, std::set<std::string>> roles;  // "fold|patient" -> roles
  std::map<std::string, int> tested;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string x;
    while (std::getline(ss, x, ',')) f.push_back(x);
    ASSERT_EQ(f.size(), 6u) << line;
    roles[f[3] + "/" + f[4] + "|" + f[1]].insert(f[5]);
    if (f[5] == "test") tested[f[0]]++;
  }
  for (auto& kv : roles) EXPECT_EQ(kv.second.size(), 1u) << kv.first;
  EXPECT_EQ(tested.size(), ds_.items.size());
  for (auto& kv : tested) EXPECT_EQ(kv.second, 1) << kv.first;

  // Kill simulation: fold r0f1 lost its done marker and weights; resume retrains only it.
  const std::string before = metrics_bytes(a.run_dir / "metrics.json");
  const std::string oof_before = read_file(a.run_dir / "oof_predictions.csv");
  fs::remove(fold / "fold.json");
  fs::remove(fold / "best.safetensors");
  fs::remove(a.run_dir / "metrics.json");
  Config r = Config::defaults();
  r.set("resume", a.run_dir.string(), "test");
  r.set("workers", "1", "test");
  ClassifyOutcome again = classify_cv(r, *log);
  EXPECT_EQ(again.run_dir, a.run_dir);
  EXPECT_TRUE(fs::is_regular_file(fold / "fold.json"));
  EXPECT_EQ(metrics_bytes(a.run_dir / "metrics.json"), before);
  EXPECT_EQ(read_file(a.run_dir / "oof_predictions.csv"), oof_before);

  // A resumed run refuses a changed study key, naming it.
  r.set("epochs", "3", "test");
  expect_error([&] { classify_cv(r, *log); }, "epochs");
  // channels_last is a study key too (results agree with NCHW to rounding only, not bit for bit).
  r.set("epochs", Config::defaults().str("epochs"), "test");
  r.set("channels_last", "false", "test");
  expect_error([&] { classify_cv(r, *log); }, "channels_last");
}

TEST_F(ClassifyTrained, BadDatasetsAreRefused) {
  auto log = null_logger();
  Config c = config();
  c.set("folds", "40", "test");  // more folds than images per class
  expect_error([&] { classify_cv(c, *log); }, "folds=40");
  // one class only
  const fs::path one = root_ / "one.csv";
  std::string csv = "path,label\n";
  for (const auto& it : ds_.items)
    if (it.label == 1) csv += fs::absolute(it.image).string() + ",1\n";
  write_file_atomic(one, csv);
  c = config();
  c.set("data", one.string(), "test");
  expect_error([&] { classify_cv(c, *log); }, "both classes");
  // missing run files
  Config v = Config::defaults();
  v.set("model", (root_ / "no_such_run").string(), "test");
  EXPECT_THROW(classify_val(v, *log), Error);
  EXPECT_FALSE(fs::exists(root_ / "runs" / "classify" / "cv"));  // errors made no run directory
}
