// Detection engine: EMA, parameter groups, warmup/schedule values, fitness, letterbox
// mapping, determinism and resume of `detect_train`, validation re-scored from its saved
// predictions, and the overfit proof (YOLOv8n on 8 synthetic images reaches mAP50 >= 0.9).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fracture/core/config.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/log.h"
#include "fracture/data/synth.h"
#include "fracture/data/yolo.h"
#include "fracture/detect/loss.h"
#include "fracture/engine/detect_eval.h"
#include "fracture/engine/detect_train.h"
#include "fracture/engine/ema.h"
#include "fracture/engine/optimizer_state.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/yolov8.h"

namespace fs = std::filesystem;
using namespace fracture;
using namespace fracture::engine;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("fracture_detect_engine_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Writes `n` synthetic radiographs that all carry boxes into dir/images/train + labels, and a
// data.yaml whose train and val are that same folder (the overfit set).
fs::path write_overfit_set(const fs::path& dir, int n, int imgsz, uint64_t seed) {
  SynthOptions o;
  o.n = 10 * n;
  o.imgsz = imgsz;
  o.seed = seed;
  o.difficulty = "easy";
  o.fracture_rate = 1.0;
  fs::create_directories(dir / "images/train");
  fs::create_directories(dir / "labels/train");
  int written = 0;
  for (const auto& item : plan_synth(o)) {
    if (written == n) break;
    SynthSample s = render_synth(o, item);
    if (s.boxes.empty()) continue;
    // Boxes of at least 15 % of the side (about 14 px at 96): smaller ones may contain no stride-8
    // anchor centre, so the task-aligned assigner could never learn them at this size.
    bool large = true;
    for (const Box& b : s.boxes) large = large && b.w >= 0.15f && b.h >= 0.15f;
    if (!large) continue;
    cv::Mat u8;
    s.image.convertTo(u8, CV_8U, 255.0);
    const std::string stem = "im" + std::to_string(written);
    cv::imwrite((dir / "images/train" / (stem + ".png")).string(), u8);
    std::ofstream lab(dir / "labels/train" / (stem + ".txt"));
    for (const Box& b : s.boxes) lab << b.cls << " " << b.cx << " " << b.cy << " " << b.w << " " << b.h << "\n";
    ++written;
  }
  EXPECT_EQ(written, n);
  std::ofstream y(dir / "data.yaml");
  y << "path: " << dir.string() << "\ntrain: images/train\nval: images/train\nnames:\n";
  for (const auto& nm : synth_class_names()) y << "  - " << nm << "\n";
  return dir / "data.yaml";
}

fs::path write_synth_set(const fs::path& dir, int n, int imgsz) {
  SynthOptions o;
  o.n = n;
  o.imgsz = imgsz;
  o.seed = 1;
  write_synth(o, dir, *null_logger());
  return dir / "data.yaml";
}

Config tiny_config(const fs::path& data, const fs::path& project, int epochs) {
  Config c = Config::defaults();
  c.set("data", data.string(), "test");
  c.set("project", project.string(), "test");
  c.set("model", "yolov8n", "test");
  c.set("epochs", std::to_string(epochs), "test");
  c.set("imgsz", "64", "test");
  c.set("batch", "4", "test");
  c.set("nbs", "8", "test");   // accumulate 2: gradients pending across batches are part of the test
  c.set("workers", "1", "test");
  c.set("seed", "3", "test");
  return c;
}

// The config that resumes `run`.
Config rc_for(const fs::path& run) {
  Config c = Config::defaults();
  c.set("resume", run.string(), "test");
  return c;
}

// results.csv without its last (time) column.
std::vector<std::string> csv_without_time(const fs::path& f) {
  std::istringstream in(read_file(f));
  std::vector<std::string> rows;
  std::string line;
  while (std::getline(in, line)) rows.push_back(line.substr(0, line.rfind(',')));
  return rows;
}

}  // namespace

TEST(DetectEngine, EmaFollowsUltralyticsFormula) {
  torch::manual_seed(0);
  auto make = [] {
    auto s = torch::nn::Sequential(torch::nn::Linear(3, 2), torch::nn::BatchNorm1d(2));
    return s;
  };
  auto model = make();
  auto ema_m = make();
  ModelEMA ema(*model, ema_m.ptr());
  // After construction the EMA is an exact copy.
  EXPECT_TRUE(torch::equal(ema_m->named_parameters()["0.weight"], model->named_parameters()["0.weight"]));
  auto e0 = ema_m->named_parameters()["0.weight"].clone();
  auto rm0 = ema_m->named_buffers()["1.running_mean"].clone();
  {
    torch::NoGradGuard ng;
    model->named_parameters()["0.weight"].add_(1.0);
    model->named_buffers()["1.running_mean"].fill_(2.0);
    model->named_buffers()["1.num_batches_tracked"].fill_(7);
  }
  ema.update(*model);
  const double d = 0.9999 * (1.0 - std::exp(-1.0 / 2000.0));
  EXPECT_NEAR(ModelEMA::decay_at(1), d, 1e-15);
  EXPECT_NEAR(ModelEMA::decay_at(2000), 0.9999 * (1.0 - std::exp(-1.0)), 1e-15);
  auto expect_w = e0 * d + model->named_parameters()["0.weight"] * (1 - d);
  EXPECT_TRUE(torch::allclose(ema_m->named_parameters()["0.weight"], expect_w, 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(ema_m->named_buffers()["1.running_mean"], rm0 * d + 2.0 * (1 - d), 1e-6, 1e-7));
  EXPECT_EQ(ema_m->named_buffers()["1.num_batches_tracked"].item<int64_t>(), 7);
  EXPECT_EQ(ema.updates, 1);
  EXPECT_FALSE(ema_m->named_parameters()["0.weight"].requires_grad());
}

TEST(DetectEngine, ParameterGroupsSplitBiasesBatchNormAndWeights) {
  models::YoloV8Options o;
  o.scale = "n";
  o.nc = 2;
  models::YoloV8 net(o);
  ParamGroups g = param_groups(*net, /*trainable_only=*/true);
  int64_t n_bn = 0, n_trainable = 0;
  for (const auto& m : net->modules(false))
    if (dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) ++n_bn;
  for (const auto& p : net->parameters())
    if (p.requires_grad()) ++n_trainable;
  EXPECT_EQ(int64_t(g.no_decay.size()), n_bn);
  EXPECT_EQ(int64_t(g.bias.size() + g.decay.size() + g.no_decay.size()), n_trainable);
  for (const auto& n : g.bias_names) EXPECT_EQ(n.substr(n.size() - 5), ".bias") << n;
  for (const auto& n : g.no_decay_names) EXPECT_NE(n.find(".bn.weight"), std::string::npos) << n;
  for (const auto& n : g.decay_names) {
    EXPECT_EQ(n.substr(n.size() - 7), ".weight") << n;
    EXPECT_EQ(n.find(".bn."), std::string::npos) << n;
    EXPECT_EQ(n.find("dfl"), std::string::npos) << n;  // fixed DFL conv is not trained
  }
  // Biases: every BatchNorm bias, plus Detect's final 1x1 convs (3 levels x (box + class)), the only
  // convolutions with a bias.
  int conv_bias = 0;
  for (const auto& n : g.bias_names) conv_bias += n.find(".bn.") == std::string::npos;
  EXPECT_EQ(conv_bias, 6);
  EXPECT_EQ(int64_t(g.bias.size()), n_bn + 6);
}

TEST(DetectEngine, OptimizerChoiceScheduleAndWarmup) {
  OptimizerChoice a = choose_optimizer("auto", 0.01, 0.937, 0.1, 7, 100);
  EXPECT_EQ(a.name, "AdamW");
  EXPECT_DOUBLE_EQ(a.lr, 0.000909);  // round(0.002 * 5 / 11, 6)
  EXPECT_DOUBLE_EQ(a.momentum, 0.9);
  EXPECT_DOUBLE_EQ(a.warmup_bias_lr, 0.0);
  OptimizerChoice s = choose_optimizer("auto", 0.02, 0.937, 0.1, 1, 10001);
  EXPECT_EQ(s.name, "SGD");
  EXPECT_DOUBLE_EQ(s.lr, 0.01);
  OptimizerChoice m = choose_optimizer("SGD", 0.02, 0.95, 0.1, 1, 5);
  EXPECT_DOUBLE_EQ(m.lr, 0.02);
  EXPECT_DOUBLE_EQ(m.momentum, 0.95);
  EXPECT_THROW(choose_optimizer("RMSProp", 0.01, 0.9, 0.1, 1, 5), Error);

  EXPECT_DOUBLE_EQ(lr_factor(0, 10, 0.01, false), 1.0);
  EXPECT_NEAR(lr_factor(5, 10, 0.01, false), 0.505, 1e-12);
  EXPECT_NEAR(lr_factor(10, 10, 0.01, false), 0.01, 1e-12);
  EXPECT_NEAR(lr_factor(5, 10, 0.01, true), 0.505, 1e-12);
  EXPECT_NEAR(lr_factor(2.5, 10, 0.01, true), 1.0 - 0.99 * (1 - std::cos(M_PI / 4)) / 2, 1e-12);
  EXPECT_NEAR(lr_factor(10, 10, 0.01, true), 0.01, 1e-12);

  EXPECT_EQ(warmup_iterations(3.0, 10), 100);  // at least 100 iterations
  EXPECT_EQ(warmup_iterations(3.0, 50), 150);
  EXPECT_EQ(warmup_iterations(0.0, 50), -1);
  WarmupInput in;  // lr 0.01, bias 0.1, momentum 0.8 -> 0.937, epochs 100, lrf 0.01, nbs 64, batch 16
  WarmupValues v0 = warmup_values(0, 100, 0, in);
  EXPECT_DOUBLE_EQ(v0.lr[0], 0.1);
  EXPECT_DOUBLE_EQ(v0.lr[1], 0.0);
  EXPECT_DOUBLE_EQ(v0.lr[2], 0.0);
  EXPECT_DOUBLE_EQ(v0.momentum, 0.8);
  EXPECT_EQ(v0.accumulate, 1);
  // Iteration 50 of 100 in epoch 1: target lr = 0.01 * lf(1) = 0.01 * (0.99 * 0.99 + 0.01).
  WarmupValues v = warmup_values(50, 100, 1, in);
  const double target = 0.01 * (0.99 * 0.99 + 0.01);
  EXPECT_NEAR(v.lr[0], 0.1 + (target - 0.1) * 0.5, 1e-15);
  EXPECT_NEAR(v.lr[1], target * 0.5, 1e-15);
  EXPECT_NEAR(v.momentum, 0.8 + 0.137 * 0.5, 1e-15);
  EXPECT_EQ(v.accumulate, 2);  // np.round(2.5) = 2 (half to even)
  WarmupValues v75 = warmup_values(75, 100, 1, in);
  EXPECT_EQ(v75.accumulate, 3);  // round(1 + 3 * 0.75) = round(3.25)
  WarmupValues v100 = warmup_values(100, 100, 2, in);
  EXPECT_NEAR(v100.lr[0], 0.01 * (0.98 * 0.99 + 0.01), 1e-15);
  EXPECT_NEAR(v100.momentum, 0.937, 1e-15);
  EXPECT_EQ(v100.accumulate, 4);
}

TEST(DetectEngine, FitnessAndLetterboxMapping) {
  EXPECT_NEAR(detection_fitness(0.8, 0.5), 0.53, 1e-12);
  DetectionResults r;
  r.map50 = 0.8;
  r.map = 0.5;
  EXPECT_NEAR(r.fitness(), detection_fitness(0.8, 0.5), 1e-15);
  // 200 x 100 original letterboxed to 64: scale 0.32, pad_y 16.
  LetterboxInfo lb;
  lb.src_w = 200;
  lb.src_h = 100;
  lb.dst_w = lb.dst_h = 64;
  lb.scale = 0.32f;
  lb.new_w = 64;
  lb.new_h = 32;
  lb.pad_x = 0;
  lb.pad_y = 16;
  BoxXyxy b = unletterbox({3.2, 19.2, 32.0, 48.0 + 5.0}, lb);  // the last y falls in the padding: clipped
  EXPECT_NEAR(b.x1, 10.0, 1e-4);
  EXPECT_NEAR(b.y1, 10.0, 1e-4);
  EXPECT_NEAR(b.x2, 100.0, 1e-4);
  EXPECT_NEAR(b.y2, 100.0, 1e-4);
}

// The resume files' optimiser state (engine/optimizer_state.h): for SGD (nesterov), Adam (amsgrad)
// and AdamW, saving, loading into a fresh optimiser over other parameter objects and stepping on
// gives the same parameters as stepping on the original; saving twice gives the same tensors in the
// same order (torch::save's order follows memory addresses).
TEST(DetectEngine, OptimizerStateRoundTripsAndContinuesIdentically) {
  using namespace torch::optim;
  auto make = [](const std::string& kind, std::vector<torch::Tensor>& ps) -> std::unique_ptr<Optimizer> {
    torch::manual_seed(1);
    ps = {torch::randn({3, 2}).requires_grad_(), torch::randn({4}).requires_grad_(), torch::randn({2}).requires_grad_()};
    std::vector<OptimizerParamGroup> groups;
    if (kind == "SGD") {
      groups.emplace_back(std::vector<torch::Tensor>{ps[0], ps[1]},
                          std::make_unique<SGDOptions>(SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-3)));
      groups.emplace_back(std::vector<torch::Tensor>{ps[2]}, std::make_unique<SGDOptions>(SGDOptions(0.05).momentum(0.8)));
      return std::make_unique<SGD>(std::move(groups), SGDOptions(0.1));
    }
    if (kind == "Adam") {
      groups.emplace_back(std::vector<torch::Tensor>{ps[0], ps[1], ps[2]},
                          std::make_unique<AdamOptions>(AdamOptions(0.01).amsgrad(true).betas({0.8, 0.99})));
      return std::make_unique<Adam>(std::move(groups), AdamOptions(0.01));
    }
    groups.emplace_back(std::vector<torch::Tensor>{ps[0]}, std::make_unique<AdamWOptions>(AdamWOptions(0.01).weight_decay(0.1)));
    groups.emplace_back(std::vector<torch::Tensor>{ps[1], ps[2]}, std::make_unique<AdamWOptions>(AdamWOptions(0.02).weight_decay(0)));
    return std::make_unique<AdamW>(std::move(groups), AdamWOptions(0.01));
  };
  auto step = [](Optimizer& o, std::vector<torch::Tensor>& ps, int k) {
    o.zero_grad();
    torch::Tensor loss = torch::zeros({});
    for (size_t i = 0; i < ps.size(); ++i) loss = loss + (ps[i] * ps[i] * double(k + i + 1)).sum();
    loss.backward();
    o.step();
  };
  for (const std::string kind : {"SGD", "Adam", "AdamW"}) {
    SCOPED_TRACE(kind);
    std::vector<torch::Tensor> a, b;
    auto oa = make(kind, a);
    for (int k = 0; k < 3; ++k) step(*oa, a, k);
    // a "resumed" optimiser: fresh parameters set to a's values, its state loaded from the file
    auto ob = make(kind, b);
    {
      torch::NoGradGuard ng;
      for (size_t i = 0; i < a.size(); ++i) b[i].copy_(a[i]);
    }
    const fs::path f = fs::temp_directory_path() / ("fracture_optstate_" + std::to_string(::getpid()) + ".safetensors");
    models::write_safetensors(optimizer_state(*oa), f);
    load_optimizer_state(*ob, models::read_safetensors(f), f.string());
    const models::NamedTensors sa = optimizer_state(*oa), sb = optimizer_state(*ob);
    ASSERT_EQ(sa.size(), sb.size());
    for (size_t i = 0; i < sa.size(); ++i) {
      EXPECT_EQ(sa[i].first, sb[i].first);
      EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
    }
    for (int k = 3; k < 6; ++k) {
      step(*oa, a, k);
      step(*ob, b, k);
    }
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
    // another optimiser's state is refused naming the file
    std::vector<torch::Tensor> c;
    auto oc = make(kind == "SGD" ? "AdamW" : "SGD", c);
    try {
      load_optimizer_state(*oc, models::read_safetensors(f), f.string());
      ADD_FAILURE() << "expected a refusal";
    } catch (const fracture::Error& e) {
      EXPECT_NE(std::string(e.what()).find(f.string()), std::string::npos) << e.what();
    }
    fs::remove(f);
  }
}

TEST(DetectEngine, TrainingIsDeterministicAndResumeEqualsUninterrupted) {
  const fs::path dir = temp_dir("resume");
  const fs::path data = write_synth_set(dir / "data", 30, 64);  // 30: every split non-empty
  auto log = null_logger();
  DetectTrainResult a = detect_train(tiny_config(data, dir / "runs", 3), *log);
  DetectTrainResult b = detect_train(tiny_config(data, dir / "runs", 3), *log);
  ASSERT_NE(a.run_dir, b.run_dir);
  EXPECT_EQ(a.epochs_done, 3);
  auto ra = csv_without_time(a.run_dir / "results.csv");
  ASSERT_EQ(ra.size(), 4u);
  EXPECT_EQ(ra[0],
            "epoch,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
            "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2");
  EXPECT_EQ(ra, csv_without_time(b.run_dir / "results.csv"));

  // Killed after 2 epochs, then resumed: same rows and the same final weights.
  DetectTrainResult c1 = detect_train(tiny_config(data, dir / "runs", 3), *log, /*stop_after_epochs=*/2);
  EXPECT_EQ(c1.epochs_done, 2);
  EXPECT_EQ(csv_without_time(c1.run_dir / "results.csv").size(), 3u);
  Config rc = Config::defaults();
  rc.set("resume", c1.run_dir.string(), "test");
  DetectTrainResult c2 = detect_train(rc, *log);
  EXPECT_EQ(c2.run_dir, c1.run_dir);
  EXPECT_EQ(c2.epochs_done, 3);
  EXPECT_EQ(ra, csv_without_time(c2.run_dir / "results.csv"));
  auto wa = models::read_safetensors(a.run_dir / "weights/last.safetensors");
  auto wc = models::read_safetensors(c2.run_dir / "weights/last.safetensors");
  ASSERT_EQ(wa.size(), wc.size());
  for (size_t i = 0; i < wa.size(); ++i) {
    EXPECT_EQ(wa[i].first, wc[i].first);
    EXPECT_TRUE(torch::equal(wa[i].second, wc[i].second)) << wa[i].first;
  }
  // Killed while the epoch-2 checkpoint was half written (its resume files, last.safetensors and
  // best.safetensors on disk, last_state.json still naming epoch 1): resume continues from epoch 1
  // and still ends at the uninterrupted weights.
  DetectTrainResult h1 = detect_train(tiny_config(data, dir / "runs", 3), *log, /*stop_after_epochs=*/1);
  DetectTrainResult h2 = detect_train(tiny_config(data, dir / "runs", 3), *log, /*stop_after_epochs=*/2);
  for (const auto& e : fs::directory_iterator(h2.run_dir / "weights")) {
    const std::string n = e.path().filename().string();
    if (n.rfind("resume_e2_", 0) == 0 || n == "last.safetensors" || n == "best.safetensors")
      fs::copy_file(e.path(), h1.run_dir / "weights" / n, fs::copy_options::overwrite_existing);
  }
  DetectTrainResult h3 = detect_train(rc_for(h1.run_dir), *log);
  EXPECT_EQ(h3.epochs_done, 3);
  EXPECT_EQ(ra, csv_without_time(h1.run_dir / "results.csv"));
  EXPECT_FALSE(fs::exists(h1.run_dir / "weights/resume_e2_model.safetensors"));  // superseded sets are deleted
  auto wh = models::read_safetensors(h1.run_dir / "weights/last.safetensors");
  ASSERT_EQ(wa.size(), wh.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(torch::equal(wa[i].second, wh[i].second)) << wa[i].first;
  // Killed after the last epoch but before the final validation: resume validates, trains nothing.
  const std::string metrics = read_file(a.run_dir / "metrics.json");
  fs::remove(a.run_dir / "metrics.json");
  DetectTrainResult a2 = detect_train(rc_for(a.run_dir), *log);
  EXPECT_EQ(a2.epochs_done, 3);
  EXPECT_EQ(read_file(a.run_dir / "metrics.json"), metrics);
  EXPECT_EQ(ra, csv_without_time(a.run_dir / "results.csv"));
  try {
    detect_train(rc_for(a.run_dir), *log);
    FAIL() << "expected: nothing to resume";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already finished its training (3 epochs) and final validation"),
              std::string::npos) << e.what();
  }
  // Saved weights load back into YOLOv8 by Ultralytics keys; the run records class names.
  LoadedDetector det = load_detector(a.run_dir, torch::kCPU);
  EXPECT_EQ(det.scale, "n");
  EXPECT_EQ(det.names, synth_class_names());
  EXPECT_EQ(wa.front().first, "model.0.conv.weight");
  // A dataset with another class count is refused with a clear error.
  DetDataset ds = load_yolo(data, true, *log, nullptr);
  std::vector<std::string> two = {"a", "b"};
  try {
    validate_detector(*det.net, ds.splits.at("val"), two, DetValOptions{}, *log);
    FAIL() << "expected a class-count error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 classes but the model has 7"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// channels_last=true: NHWC batches and NHWC weights of the model and its EMA in training; one epoch
// (64 px, batches of 4, AdamW in warmup) gives the losses and weights of NCHW up to float rounding
// (measured: losses 2.4e-5 relative, weights 1.1e-5); the weight files are NCHW and load into a
// fresh NCHW YOLOv8 with the same outputs (measured 6e-8 relative).
TEST(DetectEngine, ChannelsLastTrainsLikeNchwAndSavesNchw) {
  const fs::path dir = temp_dir("channels_last");
  const fs::path data = write_synth_set(dir / "data", 30, 64);
  auto log = null_logger();
  Config c = tiny_config(data, dir / "runs", 1);
  c.set("channels_last", "true", "test");
  DetectTrainResult a = detect_train(c, *log);
  c.set("channels_last", "false", "test");
  DetectTrainResult b = detect_train(c, *log);
  EXPECT_TRUE(a.channels_last);   // (a) first batch, model and EMA weights NHWC
  EXPECT_FALSE(b.channels_last);

  // (b) Training losses of the epoch (results.csv columns 2-4), 1e-4 relative.
  auto row = [](const fs::path& run) {
    auto rows = csv_without_time(run / "results.csv");
    EXPECT_EQ(rows.size(), 2u);
    std::vector<double> v;
    std::stringstream ss(rows.back());
    std::string x;
    while (std::getline(ss, x, ',')) v.push_back(std::stod(x));
    return v;
  };
  const auto ra = row(a.run_dir), rb = row(b.run_dir);
  ASSERT_EQ(ra.size(), rb.size());
  double worst_loss = 0, worst_w = 0;
  for (int k = 1; k <= 3; ++k) {
    EXPECT_NEAR(ra[size_t(k)], rb[size_t(k)], 1e-4 * std::fabs(rb[size_t(k)])) << k;
    worst_loss = std::max(worst_loss, std::fabs(ra[size_t(k)] - rb[size_t(k)]) / std::fabs(rb[size_t(k)]));
  }
  // Trained weights and EMA: every tensor within 1e-4 of the largest of its values (at least 1).
  for (const char* f : {"weights/resume_e1_model.safetensors", "weights/last.safetensors"}) {
    auto wa = models::read_safetensors(a.run_dir / f);
    auto wb = models::read_safetensors(b.run_dir / f);
    ASSERT_EQ(wa.size(), wb.size());
    for (size_t i = 0; i < wa.size(); ++i) {
      ASSERT_EQ(wa[i].first, wb[i].first);
      if (!wa[i].second.is_floating_point()) continue;
      const double d = (wa[i].second - wb[i].second).abs().max().item<double>();
      const double scale = std::max(1.0, wb[i].second.abs().max().item<double>());
      EXPECT_LE(d, 1e-4 * scale) << f << " " << wa[i].first;
      worst_w = std::max(worst_w, d / scale);
    }
  }
  std::printf("channels-last vs NCHW, 1 epoch: train losses differ by %.2e (relative), weights by %.2e\n",
              worst_loss, worst_w);

  // (c) The files hold NCHW data: loaded into a fresh NCHW model (load_detector without
  // channels_last) and into an NHWC one, the raw outputs agree to 1e-5.
  LoadedDetector nchw = load_detector(a.run_dir, torch::kCPU, false);
  LoadedDetector nhwc = load_detector(a.run_dir, torch::kCPU, true);
  const torch::Tensor w0 = nchw.net->named_parameters()["model.0.conv.weight"];
  EXPECT_TRUE(w0.is_contiguous());
  EXPECT_FALSE(w0.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(nhwc.net->named_parameters()["model.0.conv.weight"].is_contiguous(torch::MemoryFormat::ChannelsLast));
  {
    torch::NoGradGuard ng;
    torch::manual_seed(0);
    const torch::Tensor x = torch::rand({2, 3, 64, 64});
    const torch::Tensor ya = nhwc.net->forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
    const torch::Tensor yb = nchw.net->forward(x);
    const double d = (ya - yb).abs().max().item<double>(), scale = std::max(1.0, yb.abs().max().item<double>());
    std::printf("NCHW file in NHWC vs NCHW model: outputs differ by %.2e of %.2e\n", d, scale);
    EXPECT_LE(d, 1e-5 * scale);
  }
  // validation in either format: the same validation loss (1e-5 relative)
  DetDataset ds = load_yolo(data, true, *log, nullptr);
  detect::DetectionLoss loss(int64_t(ds.names.size()), {8, 16, 32}, detect::DetectionLossOptions{});
  DetValOptions vo;
  vo.imgsz = 64;
  vo.workers = 1;
  DetValOutput vb = validate_detector(*nchw.net, ds.splits.at("val"), ds.names, vo, *log, &loss);
  vo.channels_last = true;
  DetValOutput va = validate_detector(*nhwc.net, ds.splits.at("val"), ds.names, vo, *log, &loss);
  ASSERT_EQ(va.loss.size(), 3u);
  ASSERT_EQ(vb.loss.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    std::printf("val loss %zu: %.8f vs %.8f\n", k, va.loss[k], vb.loss[k]);
    EXPECT_NEAR(va.loss[k], vb.loss[k], 1e-5 * std::max(1.0, std::fabs(vb.loss[k]))) << k;
  }
  // Rectangular batches (the default) and squares: both report the split's images in its order,
  // every box inside its original image, and say which preprocessing they used.
  vo.rect = false;
  DetValOutput vs = validate_detector(*nhwc.net, ds.splits.at("val"), ds.names, vo, *log, &loss);
  EXPECT_TRUE(va.rect);
  EXPECT_FALSE(vs.rect);
  ASSERT_EQ(va.images.size(), ds.splits.at("val").size());
  ASSERT_EQ(vs.images.size(), va.images.size());
  for (size_t k = 0; k < va.images.size(); ++k) {
    EXPECT_EQ(va.images[k].path, ds.splits.at("val")[k].image.string());
    EXPECT_EQ(vs.images[k].path, va.images[k].path);
    EXPECT_EQ(vs.images[k].gts.size(), va.images[k].gts.size());
    for (const auto& p : va.images[k].preds) {
      EXPECT_GE(p.box.x1, 0.0);
      EXPECT_LE(p.box.x2, double(va.images[k].width));
      EXPECT_LE(p.box.y2, double(va.images[k].height));
    }
  }
  fs::remove_all(dir);
}

TEST(DetectEngine, OverfitEightImagesAndRescoreSavedPredictions) {
  const fs::path dir = temp_dir("overfit");
  const fs::path data = write_overfit_set(dir / "data", 8, 96, 5);
  auto log = null_logger();
  Config c = Config::defaults();
  c.set("data", data.string(), "test");
  c.set("project", (dir / "runs").string(), "test");
  c.set("model", "yolov8n", "test");
  c.set("imgsz", "96", "test");
  c.set("batch", "8", "test");
  c.set("nbs", "8", "test");
  c.set("epochs", "200", "test");
  c.set("optimizer", "AdamW", "test");
  c.set("lr0", "0.01", "test");
  c.set("lrf", "0.01", "test");
  c.set("momentum", "0.9", "test");
  c.set("warmup_epochs", "0", "test");
  c.set("weight_decay", "0", "test");
  c.set("patience", "1000", "test");
  c.set("workers", "0", "test");
  c.set("save", "false", "test");  // best kept in memory, written once (no per-epoch checkpoints)
  for (const char* k : {"mosaic", "translate", "scale", "fliplr", "hsv_v"}) c.set(k, "0", "test");
  // Trained without translation at one 96 px geometry, so validated at it: rect would pad these
  // squares to 128 (Ultralytics' 0.5-stride margin) and test translation, which this run never saw.
  c.set("rect", "false", "test");
  const auto t0 = std::chrono::steady_clock::now();
  DetectTrainResult r = detect_train(c, *log);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("overfit: %d epochs in %.1f s, best epoch %d, final mAP50 %.4f mAP50-95 %.4f\n", r.epochs_done, secs,
              r.best_epoch, r.final_val.results.map50, r.final_val.results.map);
  for (const auto& pc : r.final_val.results.per_class)
    std::printf("  %-18s instances %lld  AP50 %.3f\n", pc.name.c_str(), (long long)pc.n_gt, pc.ap50);
  // The proof: YOLOv8n overfits 8 images (mAP50 >= 0.9 on the same images).
  EXPECT_GE(r.final_val.results.map50, 0.9);

  // metrics.json and a recomputation from predictions.json with labels read from the dataset.
  DetDataset ds = load_yolo(data, true, *log, nullptr);
  auto images = report::read_predictions_json(r.run_dir / "predictions.json");
  ASSERT_EQ(images.size(), ds.splits.at("val").size());
  DetectionMetrics dm(ds.names);
  for (auto& im : images) {
    const DetItem* item = nullptr;
    for (const auto& it : ds.splits.at("val"))
      if (it.image.string() == im.path) item = &it;
    ASSERT_NE(item, nullptr) << im.path;
    std::vector<GroundTruth> gts;
    for (const Box& b : item->boxes)
      gts.push_back({{(b.cx - b.w / 2) * im.width, (b.cy - b.h / 2) * im.height, (b.cx + b.w / 2) * im.width,
                      (b.cy + b.h / 2) * im.height},
                     b.cls});
    dm.update(im.preds, gts);
  }
  DetectionResults again = dm.compute();
  auto m = nlohmann::json::parse(read_file(r.run_dir / "metrics.json"));
  EXPECT_NEAR(again.map50, m["map50"].get<double>(), 1e-6);
  EXPECT_NEAR(again.map, m["map50_95"].get<double>(), 1e-6);
  EXPECT_NEAR(again.mp, m["precision"].get<double>(), 1e-6);
  EXPECT_NEAR(again.mr, m["recall"].get<double>(), 1e-6);
  EXPECT_NEAR(again.map50, r.final_val.results.map50, 1e-9);
  EXPECT_EQ(m["per_class"].size(), again.per_class.size());
  fs::remove_all(dir);
}
