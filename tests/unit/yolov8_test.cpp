// YOLOv8 model: parameter counts and keys pinned to Ultralytics, shapes, head init, and an oracle
// comparison with tests/oracle/yolov8_ref.py (a PyTorch re-implementation) through safetensors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "fracture/core/error.h"
#include "fracture/models/inference.h"
#include "fracture/detect/boxes.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/yolov8.h"

using namespace fracture::models;

namespace {

int64_t count_params(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

std::map<std::string, std::vector<int64_t>> key_shapes(torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& kv : state_dict(m)) out[kv.first] = kv.second.sizes().vec();
  return out;
}

YoloV8 make(const std::string& scale, int64_t nc) {
  YoloV8Options o;
  o.scale = scale;
  o.nc = nc;
  return YoloV8(o);
}

}  // namespace

TEST(YoloV8, ParameterCountsMatchUltralytics) {
  // Ultralytics model.info() with 80 classes (reference.md section 3).
  auto n = make("n", 80);
  EXPECT_EQ(count_params(*n), 3157200);
  auto s = make("s", 80);
  EXPECT_EQ(count_params(*s), 11166560);
  auto m = make("m", 80);
  EXPECT_EQ(count_params(*m), 25902640);
  EXPECT_THROW(make("x", 80), fracture::Error);
}

TEST(YoloV8, StateDictKeys) {
  auto net = make("n", 80);
  auto k = key_shapes(*net);
  EXPECT_EQ(k.at("model.0.conv.weight"), (std::vector<int64_t>{16, 3, 3, 3}));
  EXPECT_EQ(k.at("model.0.bn.running_var"), (std::vector<int64_t>{16}));
  EXPECT_EQ(k.at("model.2.m.0.cv1.conv.weight"), (std::vector<int64_t>{16, 16, 3, 3}));
  EXPECT_EQ(k.at("model.4.m.1.cv2.bn.weight"), (std::vector<int64_t>{32}));  // C2f x6 * 0.33 = 2 blocks
  EXPECT_EQ(k.count("model.4.m.2.cv1.conv.weight"), 0u);
  EXPECT_EQ(k.at("model.9.cv2.conv.weight"), (std::vector<int64_t>{256, 512, 1, 1}));  // SPPF 4 x 128 -> 256
  EXPECT_EQ(k.at("model.12.cv1.conv.weight"), (std::vector<int64_t>{128, 384, 1, 1}));  // concat 256 + 128
  EXPECT_EQ(k.at("model.22.cv2.0.0.conv.weight"), (std::vector<int64_t>{64, 64, 3, 3}));
  EXPECT_EQ(k.at("model.22.cv2.2.2.weight"), (std::vector<int64_t>{64, 64, 1, 1}));
  EXPECT_EQ(k.at("model.22.cv3.0.0.conv.weight"), (std::vector<int64_t>{80, 64, 3, 3}));  // max(64, min(80, 100))
  EXPECT_EQ(k.at("model.22.cv3.1.2.bias"), (std::vector<int64_t>{80}));
  EXPECT_EQ(k.at("model.22.dfl.conv.weight"), (std::vector<int64_t>{1, 16, 1, 1}));
  for (const auto& kv : k)
    for (const char* empty : {"model.10.", "model.11.", "model.13.", "model.14.", "model.17.", "model.20."})
      EXPECT_NE(kv.first.rfind(empty, 0), 0u) << kv.first;
  EXPECT_EQ(k.size(), 355u);  // as the PyTorch reference's state_dict
  auto m = key_shapes(*make("m", 80));
  EXPECT_EQ(m.at("model.9.cv2.conv.weight"), (std::vector<int64_t>{576, 1152, 1, 1}));  // max_channels 768 * 0.75
  EXPECT_EQ(m.count("model.2.m.1.cv1.conv.weight"), 1u);  // 3 * 0.67 = 2 blocks
}

TEST(YoloV8, HeadInitAndDfl) {
  auto net = make("n", 2);
  auto sd = state_dict(*net);
  std::map<std::string, torch::Tensor> k(sd.begin(), sd.end());
  EXPECT_TRUE(torch::equal(k.at("model.22.dfl.conv.weight").flatten(), torch::arange(16, torch::kFloat)));
  EXPECT_FALSE(net->l22->dfl->conv->weight.requires_grad());
  const double strides[3] = {8, 16, 32};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(torch::allclose(k.at("model.22.cv2." + std::to_string(i) + ".2.bias"), torch::ones({64})));
    const double want = std::log(5.0 / 2 / std::pow(640.0 / strides[i], 2));
    EXPECT_TRUE(torch::allclose(k.at("model.22.cv3." + std::to_string(i) + ".2.bias"), torch::full({2}, want)));
  }
  auto bn = net->l0->bn->options;
  EXPECT_DOUBLE_EQ(bn.eps(), 1e-3);
  EXPECT_DOUBLE_EQ(bn.momentum().value(), 0.03);
  // The DFL module equals the expectation over softmaxed bins.
  torch::manual_seed(1);
  auto x = torch::randn({2, 64, 5});
  EXPECT_TRUE(torch::allclose(net->l22->dfl->forward(x), fracture::detect::dfl_decode(x, 16), 1e-5, 1e-5));
}

TEST(YoloV8, ShapesTrainAndEval) {
  torch::NoGradGuard no_grad;
  auto net = make("n", 2);
  auto x = torch::rand({2, 3, 64, 96});
  net->train();
  auto raw = net->forward_train(x);
  ASSERT_EQ(raw.size(), 3u);
  EXPECT_EQ(raw[0].sizes(), (std::vector<int64_t>{2, 66, 8, 12}));
  EXPECT_EQ(raw[1].sizes(), (std::vector<int64_t>{2, 66, 4, 6}));
  EXPECT_EQ(raw[2].sizes(), (std::vector<int64_t>{2, 66, 2, 3}));
  EXPECT_EQ(net->forward(x).sizes(), (std::vector<int64_t>{2, 66, 96 + 24 + 6}));
  net->eval();
  auto y = net->forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 6, 126}));
  auto scores = y.narrow(1, 4, 2);
  EXPECT_GE(scores.min().item<float>(), 0.0f);
  EXPECT_LE(scores.max().item<float>(), 1.0f);
  EXPECT_THROW(net->forward(torch::rand({1, 3, 40, 64})), fracture::Error);
}

TEST(YoloV8, MatchesPyTorchReference) {
  const auto dir = std::filesystem::temp_directory_path() / ("fracture_yolov8_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/yolov8_ref.py n 2 64 " + dir.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto net = make("n", 2);
  auto report = load_yolov8_weights(*net, dir / "weights.safetensors");
  EXPECT_EQ(report.loaded.size(), 355u) << report.summary();
  EXPECT_TRUE(report.missing.empty() && report.unexpected.empty() && report.reinitialised.empty()) << report.summary();
  auto io_list = read_safetensors(dir / "io.safetensors");
  std::map<std::string, torch::Tensor> io(io_list.begin(), io_list.end());

  // Another class count: only the class output convolutions keep their fresh init.
  auto net3 = make("n", 3);
  auto r3 = load_yolov8_weights(*net3, dir / "weights.safetensors");
  EXPECT_EQ(r3.reinitialised.size(), 6u) << r3.summary();  // cv3.{0,1,2}.2.{weight,bias}
  for (const auto& k : r3.reinitialised) EXPECT_NE(k.find(".2."), std::string::npos) << k;
  std::filesystem::remove_all(dir);

  torch::NoGradGuard no_grad;
  net->eval();
  auto y = net->forward(io.at("input"));
  auto want = io.at("output");
  ASSERT_EQ(y.sizes(), want.sizes());
  auto rel = ((y - want).abs() / (want.abs() + 1e-3)).max().item<double>();
  std::printf("max relative error vs PyTorch reference: %.3g\n", rel);
  EXPECT_LT(rel, 1e-4) << "max relative error " << rel;
  auto raw = net->forward_train(io.at("input"));
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::allclose(raw[i], io.at("raw" + std::to_string(i)), 1e-4, 1e-4)) << "raw map " << i;
  // The comparison is sensitive: a small change of one BatchNorm statistic deep in the net shows.
  net->l21->cv2->bn->running_mean.add_(0.01);
  EXPECT_GT((net->forward(io.at("input")) - want).abs().max().item<double>(), 1e-5);
  // The reference output is not degenerate (boxes spread over the image).
  EXPECT_GT(want.narrow(1, 0, 4).std().item<double>(), 1.0);
}

// A YOLOv8n (nc 3) in eval mode whose BatchNorm statistics are not the identity: a few train-mode
// forwards on random images move them.
static fracture::models::YoloV8 yolov8n_with_moved_bn(uint64_t seed) {
  torch::manual_seed(seed);
  fracture::models::YoloV8Options o;
  o.scale = "n";
  o.nc = 3;
  fracture::models::YoloV8 net(o);
  net->train();
  torch::NoGradGuard ng;
  for (int i = 0; i < 3; ++i) net->forward(torch::rand({2, 3, 64, 64}) * 2 - 0.5);
  net->eval();
  return net;
}

// BatchNorm folding (+ channels-last, + fused oneDNN convolutions when built in) gives the unfused
// eval output up to float rounding, for a model whose BatchNorm statistics are not the identity (a
// few train-mode forwards move them); batch 2 at 96x64 and batch 1 at 32x160 (one cell high at stride 32).
TEST(YoloV8, OptimizeForInferenceMatchesUnfused) {
  for (auto [channels_last, onednn] : {std::pair{false, false}, std::pair{true, false}, std::pair{true, true}}) {
    auto net = yolov8n_with_moved_bn(3);
    // 256x256: maps large enough that the fused path runs Winograd for some 3x3 convolutions.
    std::vector<torch::Tensor> xs{torch::rand({2, 3, 96, 64}), torch::rand({1, 3, 32, 160}),
                                  torch::rand({1, 3, 256, 256})};
    std::vector<torch::Tensor> refs;
    {
      torch::NoGradGuard ng;
      for (auto& x : xs) refs.push_back(net->forward(x));
    }
    fracture::models::InferenceOptions io;
    io.channels_last = channels_last;
    io.onednn = onednn;
    io.winograd_tune = false;  // Winograd wherever it may pay, checked below
    fracture::models::optimize_for_inference(*net, io);
    int fast = 0;
    for (auto& m : net->modules(false)) {
      if (auto* c = m->as<fracture::models::YoloConvImpl>()) fast += c->fast ? 1 : 0;
    }
    EXPECT_EQ(fast > 0, fracture::models::uses_onednn(io)) << fast << " fused convolutions";
    torch::InferenceMode guard;
    for (size_t i = 0; i < xs.size(); ++i) {
      auto y = net->forward(fracture::models::inference_input(xs[i], io));
      ASSERT_EQ(y.sizes(), refs[i].sizes());
      // boxes in pixels and sigmoid scores: relative to the magnitude of each output
      const double err = (y - refs[i]).abs().max().item<double>();
      const double scale = refs[i].abs().max().item<double>();
      EXPECT_LT(err, 1e-4 * scale) << "channels_last " << channels_last << " onednn " << onednn << " input "
                                   << xs[i].sizes() << ": max abs diff " << err << " of max " << scale;
    }
    int winograd = 0;  // convolutions whose last call (the 256x256 input) ran Winograd
    for (auto& m : net->modules(false)) {
      if (auto* c = m->as<fracture::models::YoloConvImpl>())
        winograd += c->fast && c->fast->implementation().rfind("winograd_f4x3:", 0) == 0 ? 1 : 0;
    }
    EXPECT_EQ(winograd > 0, fracture::models::uses_onednn(io)) << winograd << " Winograd convolutions";
    EXPECT_THROW(net->train(true), fracture::Error);
    EXPECT_THROW(fracture::models::optimize_for_inference(*net, io), fracture::Error);
  }
}

// bf16 inference (opt-in): the same detections up to bf16 rounding. Box centres/sizes within 2 % of
// the input size and class scores within 0.03 of the fp32 model's, on a model with moved BatchNorm
// statistics; refused where the fused oneDNN path is not in effect, leaving the model untouched.
TEST(YoloV8, Bf16InferenceStaysCloseToFp32) {
  auto net = yolov8n_with_moved_bn(5);
  {
    torch::NoGradGuard ng;
    // Zero the head's output biases (box 1.0, class ~-10 at init) so the raw maps are the network's
    // own signal, where rounding shows, not a constant.
    for (size_t i = 0; i < net->l22->cv2->size(); ++i) {
      net->l22->cv2->ptr<torch::nn::SequentialImpl>(i)->ptr(2)->as<torch::nn::Conv2d>()->bias.zero_();
      net->l22->cv3->ptr<torch::nn::SequentialImpl>(i)->ptr(2)->as<torch::nn::Conv2d>()->bias.zero_();
    }
  }
  auto x = torch::rand({2, 3, 96, 128});
  torch::Tensor ref;
  std::vector<torch::Tensor> ref_raw;
  {
    torch::NoGradGuard ng;
    ref = net->forward(x);
    ref_raw = net->forward_train(x);  // eval mode: the raw maps before decoding
  }
  fracture::models::InferenceOptions io;
  io.channels_last = false;
  io.bf16 = true;
  EXPECT_THROW(fracture::models::optimize_for_inference(*net, io), fracture::Error);  // needs channels-last
  EXPECT_FALSE(net->inference_only());
  io.channels_last = true;
  if (!fracture::models::uses_onednn(io)) {
    EXPECT_THROW(fracture::models::optimize_for_inference(*net, io), fracture::Error);
    GTEST_SKIP() << "built without oneDNN: bf16 inference is refused (checked)";
  }
  std::string why;
  if (!fracture::models::bf16_supported(&why))
    GTEST_SKIP() << why << " (YoloV8.Bf16RunsFp32WithOneWarningWhereUnsupported covers this CPU)";
  fracture::models::optimize_for_inference(*net, io);
  EXPECT_FALSE(net->l22->fast_box.empty());
  torch::InferenceMode guard;
  auto y = net->forward(fracture::models::inference_input(x, io));
  ASSERT_EQ(y.sizes(), ref.sizes());
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  const double box_err = (y.narrow(1, 0, 4) - ref.narrow(1, 0, 4)).abs().max().item<double>();
  const double score_err = (y.narrow(1, 4, 3) - ref.narrow(1, 4, 3)).abs().max().item<double>();
  std::printf("bf16 vs fp32: box max abs diff %.3f px, score max abs diff %.4f\n", box_err, score_err);
  EXPECT_LT(box_err, 0.02 * 128) << "box max abs diff (px)";
  EXPECT_LT(score_err, 0.03) << "score max abs diff";
  // The raw maps carry bf16 rounding: well above fp32's (~1e-6) and well below 5 %.
  auto raw = net->forward_train(fracture::models::inference_input(x, io));
  double raw_rel = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    EXPECT_EQ(raw[i].scalar_type(), torch::kFloat32);
    raw_rel = std::max(raw_rel, (raw[i] - ref_raw[i]).abs().max().item<double>() /
                                    ref_raw[i].abs().max().item<double>());
  }
  std::printf("bf16 vs fp32: raw maps max abs diff %.2e of their max\n", raw_rel);
  EXPECT_GT(raw_rel, 1e-4) << "no bf16 rounding visible: was the bf16 path taken?";
  EXPECT_LT(raw_rel, 5e-2);
  // Between the convolutions the activations really are bf16.
  for (auto& m : net->modules(false)) {
    if (auto* c = m->as<fracture::models::YoloConvImpl>()) {
      EXPECT_EQ(c->forward(torch::rand({1, c->conv->weight.size(1), 32, 32})).scalar_type(), torch::kBFloat16);
      break;
    }
  }
}

// precision=bf16 on a CPU without native bf16 (AVX2 and older; the suite runs this under
// ONEDNN_MAX_CPU_ISA=AVX2 and SSE41): one warning, then exactly the fp32 optimised model, never an
// abort half-way through val or predict.
TEST(YoloV8, Bf16RunsFp32WithOneWarningWhereUnsupported) {
  std::string why;
  if (fracture::models::bf16_supported(&why))
    GTEST_SKIP() << "this CPU runs bf16 natively (YoloV8.Bf16InferenceStaysCloseToFp32 covers it); the fallback "
                    "is tested under ONEDNN_MAX_CPU_ISA=AVX2";
  fracture::models::InferenceOptions io;
  io.channels_last = true;
  if (!fracture::models::uses_onednn(io)) GTEST_SKIP() << "built without oneDNN: bf16 is refused (YoloV8.Bf16*)";
  std::ostringstream said;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(said);
  spdlog::logger log("test", sink);
  log.set_level(spdlog::level::debug);
  auto fp32 = yolov8n_with_moved_bn(5);
  auto bf16 = yolov8n_with_moved_bn(5);
  fracture::models::optimize_for_inference(*fp32, io);
  io.bf16 = true;
  io.log = &log;
  fracture::models::optimize_for_inference(*bf16, io);
  EXPECT_TRUE(bf16->l22->fast_box.empty()) << "the bf16 head was built although the CPU cannot run it";
  const std::string text = said.str();
  EXPECT_NE(text.find("precision=bf16: "), std::string::npos) << text;
  EXPECT_NE(text.find("running fp32 instead"), std::string::npos) << text;
  EXPECT_EQ(text.find("running fp32 instead"), text.rfind("running fp32 instead")) << "warned more than once";
  torch::InferenceMode guard;
  auto x = fracture::models::inference_input(torch::rand({1, 3, 96, 128}), io);
  auto y = bf16->forward(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(y, fp32->forward(x)));
}
