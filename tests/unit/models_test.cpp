// Classification backbones and weight files against torchvision 0.14 (tests/oracle/torchvision_oracle.py).
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/classifier.h"
#include "fracture/models/kernels/activation.h"
#include "fracture/models/kernels/batch_split.h"
#include "fracture/models/kernels/cpu_isa.h"
#include "fracture/models/efficientnet.h"
#include "fracture/models/inference.h"
#include "fracture/models/resnet.h"
#include "fracture/models/kernels/squeeze_excite.h"
#include "fracture/models/mobilenet_v3.h"
#include "fracture/models/kernels/winograd.h"

namespace fs = std::filesystem;
using namespace fracture::models;

namespace {

fs::path g_dir;  // oracle outputs, made once per test executable

std::string python_cmd(const std::string& args) {
  return std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/torchvision_oracle.py " + args;
}

torch::Tensor get(const NamedTensors& t, const std::string& key) {
  for (auto& kv : t) {
    if (kv.first == key) return kv.second;
  }
  ADD_FAILURE() << "no key " << key;
  return {};
}

// Relative closeness: max |a - b| <= tol * max(1, max |b|).
void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  double err = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
  double scale = std::max(1.0, b.to(torch::kFloat64).abs().max().item<double>());
  EXPECT_LE(err, tol * scale) << what << ": max abs diff " << err;
}

class OracleEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    g_dir = fs::temp_directory_path() / ("fracture_models_test_" + std::to_string(::getpid()));
    fs::create_directories(g_dir);
    int rc = std::system(python_cmd("gen " + g_dir.string()).c_str());
    ASSERT_EQ(rc, 0) << "oracle script failed";
  }
  void TearDown() override { fs::remove_all(g_dir); }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new OracleEnv);

class Arch : public ::testing::TestWithParam<std::string> {};

// OnednnConv::implementation() of a Winograd call: "winograd_f4x3:" and the transforms' vector width.
bool is_winograd(const std::string& impl) { return impl.rfind("winograd_f4x3:", 0) == 0; }

}  // namespace

TEST(Models, ParameterCountsMatchTorchvision) {
  EXPECT_EQ(parameter_count(*make_classifier("resnet18")), 11689512);
  EXPECT_EQ(parameter_count(*make_classifier("mobilenet_v3_small")), 2542856);
  EXPECT_EQ(parameter_count(*make_classifier("efficientnet_b0")), 5288548);
}

TEST(Models, UnknownNameIsAnError) {
  try {
    make_classifier("resnet50");
    FAIL();
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mobilenet_v3_small"), std::string::npos);
  }
}

TEST(Models, BinaryHeadGivesOneLogit) {
  ClassifierOptions o;
  o.num_classes = 1;
  for (const auto& name : classifier_names()) {
    auto net = make_classifier(name, o);
    net->eval();
    EXPECT_EQ(net->forward(torch::randn({2, 3, 32, 32})).sizes(), (std::vector<int64_t>{2, 1})) << name;
  }
}

TEST(Models, EfficientNetStochasticDepthRampsOnResidualBlocksOnly) {
  auto net = make_classifier("efficientnet_b0");
  std::vector<double> probs;
  std::vector<bool> residual;
  for (auto& m : net->modules(false)) {
    if (auto* b = m->as<MBConvImpl>()) {
      probs.push_back(b->sd_prob);
      residual.push_back(b->use_res_connect);
    }
  }
  ASSERT_EQ(probs.size(), 16u);
  for (size_t i = 0; i < probs.size(); ++i) EXPECT_NEAR(probs[i], 0.2 * i / 16.0, 1e-12);
  EXPECT_FALSE(residual[0]);  // 32 -> 16
  EXPECT_FALSE(residual[1]);  // stride 2
  EXPECT_TRUE(residual[2]);
  EXPECT_EQ(std::count(residual.begin(), residual.end(), true), 9);
}

TEST_P(Arch, KeysAndShapesMatchTorchvisionInOrder) {
  auto file = read_torch_checkpoint(g_dir / (GetParam() + ".pth"));
  auto net = make_classifier(GetParam());
  auto ours = state_dict(*net);
  ASSERT_EQ(ours.size(), file.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i].first, file[i].first) << "key " << i;
    EXPECT_EQ(ours[i].second.sizes(), file[i].second.sizes()) << ours[i].first;
  }
  auto guess = recognise_architecture(file);
  EXPECT_EQ(guess.arch, GetParam());
  EXPECT_EQ(guess.num_classes, 1000);
}

TEST_P(Arch, EvalLogitsAndTrainRunningStatsMatchTorchvision) {
  auto file = read_torch_checkpoint(g_dir / (GetParam() + ".pth"));
  auto expected = read_torch_checkpoint(g_dir / (GetParam() + "_expected.pth"));
  ClassifierOptions o;
  o.dropout = 0.0;
  o.stochastic_depth_prob = 0.0;  // the oracle's train pass has both off
  auto net = make_classifier(GetParam(), o);
  auto report = load_state_dict(*net, file, "oracle");
  EXPECT_TRUE(report.reinitialised.empty() && report.missing.empty() && report.unexpected.empty())
      << report.summary();
  torch::NoGradGuard ng;
  net->eval();
  auto x = get(expected, "input");
  expect_close(net->forward(x), get(expected, "eval_logits"), 1e-4, "eval logits");
  net->train();
  expect_close(net->forward(x), get(expected, "train_logits"), 1e-4, "train logits");
  int n = 0;
  for (auto& kv : state_dict(*net)) {
    auto ref_key = "after_train." + kv.first;
    for (auto& e : expected) {
      if (e.first == ref_key) {
        expect_close(kv.second, e.second, 1e-4, kv.first);
        ++n;
      }
    }
  }
  EXPECT_GT(n, 30);
}

TEST_P(Arch, ExportedFilesLoadBackIntoTorchvision) {
  auto net = make_classifier(GetParam());
  load_state_dict(*net, read_torch_checkpoint(g_dir / (GetParam() + ".pth")), "oracle");
  auto st = g_dir / (GetParam() + "_cpp.safetensors");
  auto pth = g_dir / (GetParam() + "_cpp.pth");
  save_safetensors(*net, st);
  write_torch_checkpoint(state_dict(*net), pth);
  std::string cmd = "check " + GetParam() + " " + g_dir.string() + " " + st.string() + " " + pth.string();
  EXPECT_EQ(std::system(python_cmd(cmd).c_str()), 0);
  // and our own readers give back the same tensors, in the same order
  auto a = read_safetensors(st), b = read_torch_checkpoint(pth), ref = state_dict(*net);
  ASSERT_EQ(a.size(), ref.size());
  ASSERT_EQ(b.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_EQ(a[i].first, ref[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, ref[i].second)) << a[i].first;
    EXPECT_TRUE(torch::equal(b[i].second, ref[i].second)) << b[i].first;
  }
}

// The one-call squeeze-and-excitation kernel against torchvision's block as ATen runs it, for both
// activation pairs (MobileNetV3 relu/hardsigmoid, EfficientNet silu/sigmoid), odd channel counts
// (vector tails), batches below and at the thread count, and the same result on 1 and 3 threads;
// under the ISA caps (isa_* tests) its AVX2 and baseline copies.
TEST(SqueezeExcite, KernelMatchesAtenBlock) {
  using fracture::models::Act;
  for (auto [act, scale_act] : {std::pair{Act::relu, Act::hardsigmoid}, std::pair{Act::silu, Act::sigmoid}}) {
    torch::manual_seed(5);
    fracture::models::SqueezeExcitation se(37, 11, act, scale_act);
    {
      torch::NoGradGuard ng;
      for (auto& p : se->parameters()) p.uniform_(-0.5, 0.5);
    }
    fracture::models::SqueezeExciteKernel kernel(se->fc1->weight, se->fc1->bias, se->fc2->weight, se->fc2->bias, act,
                                                 scale_act);
    torch::InferenceMode guard;
    const int threads = at::get_num_threads();
    // 37 x 45 x 40 = 66,600 values per image: over the kernel's 65,536 below which it keeps an image on one thread.
    for (auto [b, h, w] : {std::tuple<int64_t, int64_t, int64_t>{1, 7, 5}, {3, 7, 5}, {1, 45, 40}, {2, 45, 40}}) {
      auto x = torch::randn({b, 37, h, w}).contiguous(torch::MemoryFormat::ChannelsLast);
      ASSERT_TRUE(kernel.accepts(x));
      EXPECT_FALSE(kernel.accepts(x.contiguous()));  // NCHW goes the ATen way
      auto want = se->forward(x);
      at::set_num_threads(1);
      auto one = kernel.forward(x);
      // 3 threads: batches 1 and 2 of 45x40 split each image's 16 pixel chunks over the team;
      // batch 3 takes an image per thread; 7x5 images stay on one thread.
      at::set_num_threads(3);
      auto got = kernel.forward(x);
      at::set_num_threads(threads);
      EXPECT_TRUE(got.is_contiguous(torch::MemoryFormat::ChannelsLast));
      const double err = (got - want).abs().max().item<double>(), scale = want.abs().max().item<double>();
      EXPECT_LE(err, 1e-5 * scale) << "batch " << b << ": max abs diff " << err << " of " << scale;
      EXPECT_TRUE(torch::equal(got, one)) << "batch " << b << ": the result depends on the thread count";
    }
  }
}

// The kernels' OpenMP regions get ATen's thread count: a kernel file compiled without -fopenmp
// silently runs at::parallel_for and its own loops on one thread (the squeeze-excitation kernel did
// until measured: CMakeLists.txt FRACTURE_OPENMP_SRC).
TEST(SqueezeExcite, KernelsRunOnAtenThreadCount) {
  const int threads = at::get_num_threads();
  at::set_num_threads(3);
  const int team = fracture::models::kernel_team_size();
  at::set_num_threads(threads);
  EXPECT_EQ(team, 3);
}

// Batch slices side by side (kernels/batch_split.h): the cut (near-equal slices, thread-count
// multiples), batch order kept, each slice inside a parallel region when there are 2 threads and
// not otherwise, the caller's inference mode inside, and a slice's exception reaching the caller.
TEST(BatchSlices, CutKeepsOrderRunsSideBySideAndRethrows) {
  const int threads = at::get_num_threads();
  auto x = torch::arange(10, torch::kFloat32).reshape({10, 1});
  for (int t : {1, 2}) {
    at::set_num_threads(t);
    std::mutex mu;
    std::vector<int64_t> sizes;
    int parallel = 0, inference = 0;
    torch::Tensor y;
    {
      c10::InferenceMode guard;
      y = fracture::models::forward_batch_slices(x, 2, [&](const torch::Tensor& s) {
        std::lock_guard<std::mutex> lock(mu);
        sizes.push_back(s.size(0));
        parallel += at::in_parallel_region() ? 1 : 0;
        inference += c10::InferenceMode::is_enabled() ? 1 : 0;
        return s * 2;
      });
    }
    EXPECT_TRUE(torch::equal(y, x * 2)) << t << " threads";
    std::sort(sizes.begin(), sizes.end());
    // 2 threads, 10 images, 2 per slice: 2 x floor(10 / 4) = 4 slices of 10 * i / 4 boundaries.
    const std::vector<int64_t> want = t == 2 ? std::vector<int64_t>{2, 2, 3, 3} : std::vector<int64_t>{10};
    EXPECT_EQ(sizes, want) << t << " threads";
    EXPECT_EQ(parallel, t == 2 ? 4 : 0) << t << " threads";
    EXPECT_EQ(inference, static_cast<int>(sizes.size()));
    // Fewer than threads x images: whole.
    sizes.clear();
    fracture::models::forward_batch_slices(x.narrow(0, 0, 3), 2, [&](const torch::Tensor& s) {
      sizes.push_back(s.size(0));
      return s;
    });
    EXPECT_EQ(sizes, std::vector<int64_t>{3});
  }
  at::set_num_threads(2);
  try {
    fracture::models::forward_batch_slices(x, 2, [&](const torch::Tensor& s) {
      if (s.min().item<float>() <= 5 && s.max().item<float>() >= 5) FRACTURE_FAIL("slice with image 5");
      return s;
    });
    ADD_FAILURE() << "no exception";
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("slice with image 5"), std::string::npos) << e.what();
  }
  at::set_num_threads(threads);
}

// BatchNorm folding (optimize_for_inference): logits within 1e-4 of the unfolded model relative to
// the largest logit, with non-trivial BN statistics; the BN is really skipped afterwards.
TEST_P(Arch, FoldedBatchNormMatchesUnfoldedLogits) {
  // (channels_last, onednn): NCHW ATen, NHWC ATen, NHWC fused oneDNN (when built in).
  for (auto [channels_last, onednn] : {std::pair{false, false}, std::pair{true, false}, std::pair{true, true}}) {
    torch::manual_seed(3);
    ClassifierOptions o;
    o.num_classes = 10;
    auto ref = make_classifier(GetParam(), o);
    auto opt = make_classifier(GetParam(), o);
    {
      torch::NoGradGuard ng;
      for (auto& m : ref->modules(false)) {
        if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
          bn->running_mean.uniform_(-0.1, 0.1);
          bn->running_var.uniform_(0.5, 1.5);
          bn->weight.uniform_(0.8, 1.2);
          bn->bias.uniform_(-0.1, 0.1);
        }
      }
      auto src = ref->named_parameters();
      for (auto& p : opt->named_parameters()) p.value().copy_(src[p.key()]);
      auto bsrc = ref->named_buffers();
      for (auto& b : opt->named_buffers()) b.value().copy_(bsrc[b.key()]);
    }
    ref->eval();
    InferenceOptions io;
    io.channels_last = channels_last;
    io.onednn = onednn;
    io.winograd_tune = false;  // Winograd wherever it may pay: the count below is the same on every CPU
    optimize_for_inference(*opt, io);
    // The fused path is really taken when asked for and built in (and only then).
    int fused = 0;
    for (auto& m : opt->modules(true)) {
      if (auto* seq = m->as<fracture::models::SeqImpl>()) {
        for (auto& f : seq->fast) fused += f ? 1 : 0;
      } else if (auto* b = m->as<fracture::models::BasicBlockImpl>()) {
        fused += (b->fast1 ? 1 : 0) + (b->fast2 ? 1 : 0);
      }
    }
    EXPECT_EQ(fused > 0, uses_onednn(io)) << GetParam() << ": " << fused << " fused convolutions";
    int se_kernels = 0, se_blocks = 0;
    for (auto& m : opt->modules(true)) {
      if (auto* se = m->as<fracture::models::SqueezeExcitationImpl>()) {
        ++se_blocks;
        se_kernels += se->fast ? 1 : 0;
      }
    }
    EXPECT_EQ(se_kernels, channels_last ? se_blocks : 0) << GetParam();
    if (auto* mobile = opt->as<fracture::models::MobileNetV3SmallImpl>()) {
      EXPECT_EQ(mobile->fast_fc1 != nullptr, uses_onednn(io));  // the head as 1x1 convolutions
    }
    if (onednn && channels_last) EXPECT_EQ(uses_onednn(io), fracture::models::OnednnConv::available());
    torch::InferenceMode guard;
    // Batch 8 on 2 threads: slices side by side (io.batch_slice -1: the architecture's, 4 images,
    // efficientnet_b0 1), the others whole.
    const int threads = at::get_num_threads();
    at::set_num_threads(2);
    EXPECT_EQ(opt->batch_slice(), GetParam() == "efficientnet_b0" ? 1 : 4);
    for (auto shape : {std::vector<int64_t>{2, 3, 64, 64}, std::vector<int64_t>{1, 3, 61, 47},
                       std::vector<int64_t>{8, 3, 32, 32}}) {
      auto x = torch::randn(shape);
      auto want = ref->forward(x);
      auto got = opt->forward(inference_input(x, io));
      double err = (got - want).abs().max().item<double>();
      double scale = want.abs().max().item<double>();
      EXPECT_GT(scale, 1e-3) << "logits too small to make the comparison meaningful";
      EXPECT_LE(err, 1e-4 * scale) << GetParam() << " channels_last " << channels_last << " onednn " << onednn
                                   << " input " << x.sizes() << ": max abs diff " << err;
    }
    at::set_num_threads(threads);
    auto x = torch::randn({2, 3, 64, 64});
    auto got = opt->forward(inference_input(x, io));
    if (GetParam() == std::string("resnet18") && uses_onednn(io)) {
      // At 64 px, batch 2, Winograd pays (io.winograd's default) for layer1's 3x3 convolutions
      // (64 channels, 16x16) and layer2's stride-1 ones (128 channels, 8x8; its first is strided).
      int winograd = 0;
      for (auto& m : opt->modules(true)) {
        if (auto* b = m->as<fracture::models::BasicBlockImpl>())
          winograd += is_winograd(b->fast1->implementation()) + is_winograd(b->fast2->implementation());
      }
      EXPECT_EQ(winograd, 4 + 3);
    }
    // The folded BatchNorms are skipped: changing their statistics no longer changes the logits.
    for (auto& m : opt->modules(false)) {
      if (auto* bn = m->as<torch::nn::BatchNorm2d>()) bn->running_mean.add_(5.0);
    }
    EXPECT_TRUE(torch::equal(got, opt->forward(inference_input(x, io))));
    EXPECT_THROW(opt->train(), fracture::Error);
    EXPECT_THROW(optimize_for_inference(*opt, io), fracture::Error);
  }
  ClassifierOptions co;
  co.num_classes = 1;
  auto fresh = make_classifier(GetParam(), co);
  InferenceOptions bad;
  bad.batch_slice = -2;  // only -1 (the architecture's) and >= 0 mean something
  EXPECT_THROW(optimize_for_inference(*fresh, bad), fracture::Error);
}

// The activation `a` as ATen computes it (the reference for the fused and Winograd convolutions).
static torch::Tensor aten_activation(const torch::Tensor& y, fracture::models::OnednnAct a) {
  switch (a) {
    case OnednnAct::relu: return torch::relu(y);
    case OnednnAct::silu: return torch::silu(y);
    case OnednnAct::hardswish: return torch::hardswish(y);
    case OnednnAct::sigmoid: return torch::sigmoid(y);
    case OnednnAct::none: break;
  }
  return y;
}

// OnednnConv against ATen: conv + bias + activation (+ residual before or after it) for plain,
// strided, dilated, grouped and depthwise convolutions, batch 1 and 3, NCHW and sliced inputs.
TEST(OnednnConv, MatchesAtenConvolutionActivationAndResidual) {
  if (!fracture::models::OnednnConv::available()) GTEST_SKIP() << "built without oneDNN (FRACTURE_WITH_ONEDNN)";
  torch::manual_seed(11);
  torch::InferenceMode guard;
  struct Case { int64_t cin, cout, k, stride, pad, dil, groups; };
  const Case cases[] = {{8, 16, 3, 1, 1, 1, 1}, {8, 16, 3, 2, 1, 1, 1}, {16, 16, 1, 1, 0, 1, 1},
                        {8, 8, 3, 1, 2, 2, 1},  {16, 16, 5, 2, 2, 1, 16}, {8, 16, 3, 1, 1, 1, 4}};
  for (const auto& c : cases) {
    auto w = torch::randn({c.cout, c.cin / c.groups, c.k, c.k}) * 0.3;
    auto b = torch::randn({c.cout});
    for (auto act : {OnednnAct::none, OnednnAct::relu, OnednnAct::silu, OnednnAct::hardswish, OnednnAct::sigmoid}) {
      for (bool after : {true, false}) {
        OnednnConvSpec s;
        s.stride = c.stride;
        s.padding = c.pad;
        s.dilation = c.dil;
        s.groups = c.groups;
        s.act = act;
        s.add_after_act = after;
        OnednnConv conv(w, b, s);
        for (int64_t batch : {1, 3}) {
          // A channel slice of a wider NCHW tensor: neither contiguous nor channels-last.
          auto wide = torch::randn({batch, c.cin * 2, 19, 13});
          auto x = wide.narrow(1, c.cin / 2, c.cin);
          auto lin = torch::conv2d(x, w, b, c.stride, c.pad, c.dil, c.groups);
          auto skip = torch::randn(lin.sizes());
          auto want = after ? aten_activation(lin, act) + skip : aten_activation(lin + skip, act);
          auto got = conv.forward(x, &skip);
          EXPECT_TRUE(got.is_contiguous(torch::MemoryFormat::ChannelsLast));
          double err = (got - want).abs().max().item<double>();
          EXPECT_LE(err, 1e-4 * (1 + want.abs().max().item<double>()))
              << "cin " << c.cin << " k " << c.k << " stride " << c.stride << " dil " << c.dil << " groups "
              << c.groups << " act " << int(act) << " after " << after << " batch " << batch;
          const std::string impl = conv.implementation();
          auto plain = conv.forward(x);
          EXPECT_LE((plain - aten_activation(lin, act)).abs().max().item<double>(), 1e-4 * (1 + lin.abs().max().item<double>()));
          if (act == OnednnAct::silu && after && batch == 1)
            std::printf("cin %2ld cout %2ld k %ld stride %ld dil %ld groups %2ld: with residual %s, without %s\n",
                        long(c.cin), long(c.cout), long(c.k), long(c.stride), long(c.dil), long(c.groups),
                        impl.c_str(), conv.implementation().c_str());
        }
        EXPECT_NE(conv.implementation(), "");
      }
    }
  }
  // Bad input is refused with the expected channel count named.
  OnednnConvSpec s;
  OnednnConv conv(torch::randn({4, 3, 1, 1}), torch::Tensor(), s);
  EXPECT_THROW(conv.forward(torch::randn({1, 5, 8, 8})), fracture::Error);
}

// bf16 (opt-in) where the CPU runs it natively: bf16 output, or fp32 with fp32_out, within bf16
// rounding of ATen's fp32 result (8-bit mantissa on inputs, weights and, without fp32_out, the output:
// 2e-2 of the largest value). Elsewhere (AVX2 and older, or AVX-512 without bf16 instructions, e.g.
// under ONEDNN_MAX_CPU_ISA=AVX2) a bf16 OnednnConv still gives the same numbers, through ATen.
TEST(OnednnConv, Bf16WithinRoundingOfFp32OnEveryCpu) {
  if (!fracture::models::OnednnConv::available()) GTEST_SKIP() << "built without oneDNN (FRACTURE_WITH_ONEDNN)";
  torch::manual_seed(12);
  torch::InferenceMode guard;
  const bool native = fracture::models::bf16_supported();
  auto w = torch::randn({16, 8, 3, 3}) * 0.3;
  auto b = torch::randn({16});
  auto x = torch::randn({2, 8, 15, 11});
  auto want = torch::silu(torch::conv2d(x, w, b, 1, 1));
  for (bool fp32_out : {false, true}) {
    OnednnConvSpec s;
    s.padding = 1;
    s.act = OnednnAct::silu;
    s.bf16 = true;
    s.fp32_out = fp32_out;
    OnednnConv conv(w, b, s);
    auto got = conv.forward(x);
    EXPECT_EQ(got.scalar_type(), fp32_out ? torch::kFloat32 : torch::kBFloat16);
    const double err = (got.to(torch::kFloat32) - want).abs().max().item<double>();
    const double scale = want.abs().max().item<double>();
    EXPECT_LE(err, 2e-2 * scale) << "fp32_out " << fp32_out;
    if (native) {
      EXPECT_NE(conv.implementation(), "aten");
      EXPECT_GT(err, 1e-6 * scale) << "no bf16 rounding at all: was bf16 used?";
    } else if (fracture::models::cpu_isa().bf16 == fracture::models::Bf16Support::none) {
      EXPECT_EQ(conv.implementation(), "aten") << "oneDNN 2.6 has no bf16 convolution below AVX-512";
    }
  }
}

// oneDNN's gemm convolution (grouped convolutions without AVX-512) reads a full-tensor binary
// post-op at the wrong offsets in NHWC; OnednnConv routes the residual through the sum post-op there
// (act(conv + skip)) or adds it after the primitive (act(conv) + skip). Checked on the shape that
// exposed it, with the implementation it ran on named; never ATen's fallback for this shape.
TEST(OnednnConv, GroupedConvolutionWithResidualOnEveryKernel) {
  if (!fracture::models::OnednnConv::available()) GTEST_SKIP() << "built without oneDNN (FRACTURE_WITH_ONEDNN)";
  torch::manual_seed(13);
  torch::InferenceMode guard;
  auto w = torch::randn({16, 2, 3, 3}) * 0.3;
  auto b = torch::randn({16});
  auto x = torch::randn({3, 8, 19, 13});
  auto skip = torch::randn({3, 16, 19, 13}).contiguous(torch::MemoryFormat::ChannelsLast);
  const auto skip_before = skip.clone();
  for (bool after : {true, false}) {
    OnednnConvSpec s;
    s.padding = 1;
    s.groups = 4;
    s.act = OnednnAct::relu;
    s.add_after_act = after;
    OnednnConv conv(w, b, s);
    auto lin = torch::conv2d(x, w, b, 1, 1, 1, 4);
    auto want = after ? torch::relu(lin) + skip : torch::relu(lin + skip);
    auto got = conv.forward(x, &skip);
    std::printf("grouped 8->16 g4 with residual %s: %s\n", after ? "after relu" : "before relu",
                conv.implementation().c_str());
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-4 * (1 + want.abs().max().item<double>()))
        << conv.implementation();
    EXPECT_TRUE(torch::equal(skip, skip_before)) << "the residual must not be written to";
    EXPECT_NE(conv.implementation(), "aten");
  }
}

// Each call's oneDNN arguments come from a pool and its scratchpad from a per-thread buffer
// (onednn_conv.cpp): calls from several threads at once on the same convolutions, with the same
// shapes, must each read their own input and residual and write their own output. A mix-up gives
// another thread's numbers, far outside the tolerance.
TEST(OnednnConv, ConcurrentCallsKeepTheirOwnBuffers) {
  if (!fracture::models::OnednnConv::available()) GTEST_SKIP() << "built without oneDNN (FRACTURE_WITH_ONEDNN)";
  torch::manual_seed(15);
  torch::InferenceMode guard;
  OnednnConvSpec s3;
  s3.padding = 1;
  s3.act = OnednnAct::silu;
  OnednnConvSpec s1;
  s1.act = OnednnAct::hardswish;
  const auto w3 = torch::randn({32, 16, 3, 3}) * 0.2, b3 = torch::randn({32});
  const auto w1 = torch::randn({8, 32, 1, 1}) * 0.2, b1 = torch::randn({8});
  OnednnConv conv3(w3, b3, s3), conv1(w1, b1, s1);
  constexpr int kThreads = 4;
  std::vector<torch::Tensor> xs, skips, wants;
  for (int t = 0; t < kThreads; ++t) {
    xs.push_back(torch::randn({1, 16, 21, 17}).contiguous(torch::MemoryFormat::ChannelsLast));
    skips.push_back(torch::randn({1, 32, 21, 17}).contiguous(torch::MemoryFormat::ChannelsLast));
    auto h = torch::silu(torch::conv2d(xs[t], w3, b3, 1, 1)) + skips[t];
    wants.push_back(torch::hardswish(torch::conv2d(h, w1, b1)));
  }
  std::vector<double> worst(kThreads, 0.0);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t] {
      c10::InferenceMode g;
      for (int i = 0; i < 40; ++i) {
        auto y = conv1.forward(conv3.forward(xs[t], &skips[t]));
        worst[t] = std::max(worst[t], (y - wants[t]).abs().max().item<double>());
      }
    });
  }
  for (auto& th : pool) th.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_LE(worst[t], 1e-4 * (1 + wants[t].abs().max().item<double>())) << "thread " << t;
}

// silu_inplace (the SiLU OnednnConv runs after a primitive without oneDNN's swish) against
// torch::silu: lengths around the 16-value vectors and the 4096-value work items, values from
// -100 to 100 (the exponent's clamps) and zeros; on the ISA this run allows (the isa_* copies of
// this test run the AVX2 and baseline copies).
TEST(Activation, SiluInplaceMatchesTorch) {
  torch::manual_seed(17);
  for (int64_t n : {1, 15, 16, 17, 4096 * 3 + 5}) {
    auto x = torch::randn({n}) * 8;
    if (n > 4) {
      x[0] = -100.0;
      x[1] = 100.0;
      x[2] = 0.0;
      x[3] = -87.5;
    }
    auto y = x.clone();
    fracture::models::silu_inplace(y.data_ptr<float>(), n);
    auto want = torch::silu(x);
    auto err = ((y - want).abs() - 2e-6 * want.abs()).max().item<double>();
    EXPECT_LE(err, 1e-30) << "n " << n << ": worst |diff| beyond 2e-6 relative";
  }
}

// forward_scaled (a squeeze-and-excitation gate taken into a 1x1 convolution's weights) against
// ATen's convolution of the scaled input, with and without a residual, on channel counts that are
// and are not multiples of oneDNN's 16-channel blocks; plain calls on the same convolution still
// use the unscaled weights; and the SE + projection of a batch-1 EfficientNet block folds (its
// projection runs forward_scaled), its stage's output equal to the unfused model's.
TEST(OnednnConv, ForwardScaledEqualsTheScaledInput) {
  if (!fracture::models::OnednnConv::available()) GTEST_SKIP() << "built without oneDNN (FRACTURE_WITH_ONEDNN)";
  torch::manual_seed(16);
  torch::InferenceMode guard;
  for (auto [in, out] : {std::pair<int64_t, int64_t>{96, 24}, std::pair<int64_t, int64_t>{40, 21}}) {
    const auto w = torch::randn({out, in, 1, 1}) * 0.2, b = torch::randn({out});
    OnednnConv conv(w, b, OnednnConvSpec{});
    ASSERT_TRUE(conv.folds_input_scale());
    EXPECT_EQ(conv.out_channels(), out);
    auto x = torch::randn({1, in, 13, 11}).contiguous(torch::MemoryFormat::ChannelsLast);
    auto skip = torch::randn({1, out, 13, 11}).contiguous(torch::MemoryFormat::ChannelsLast);
    auto scale = torch::rand({in}) + 0.1;
    auto want = torch::conv2d(x * scale.view({1, in, 1, 1}), w, b);
    const float* sp = scale.data_ptr<float>();
    const double tol = 1e-5 * (1 + want.abs().max().item<double>());
    EXPECT_LE((conv.forward_scaled(x, sp) - want).abs().max().item<double>(), tol) << in << "->" << out;
    EXPECT_LE((conv.forward_scaled(x, sp, &skip) - (want + skip)).abs().max().item<double>(), tol) << in << "->" << out;
    EXPECT_LE((conv.forward(x) - torch::conv2d(x, w, b)).abs().max().item<double>(), tol) << "unscaled after scaled";
    EXPECT_THROW(conv.forward_scaled(torch::randn({2, in, 4, 4}), sp), fracture::Error);  // one image only
  }
  OnednnConvSpec s3;
  s3.padding = 1;
  EXPECT_FALSE(OnednnConv(torch::randn({8, 8, 3, 3}), torch::Tensor(), s3).folds_input_scale());

  fracture::models::ClassifierOptions o;
  o.num_classes = 3;
  auto ref = fracture::models::make_classifier("efficientnet_b0", o);
  auto net = fracture::models::make_classifier("efficientnet_b0", o);
  {
    torch::NoGradGuard ng;
    for (auto& m : ref->modules(false))  // gates far from torchvision's initial ~0.5 everywhere
      if (auto* se = m->as<fracture::models::SqueezeExcitationImpl>()) se->fc2->bias.normal_(0.0, 3.0);
    auto src = ref->named_parameters();
    for (auto& p : net->named_parameters()) p.value().copy_(src[p.key()]);
  }
  ref->eval();
  fracture::models::InferenceOptions io;
  io.channels_last = true;
  io.batch_slice = 0;
  optimize_for_inference(*net, io);
  auto x = torch::randn({2, 3, 64, 64});
  auto block = net->as<fracture::models::EfficientNetB0Impl>()->features->ptr(2)->as<fracture::models::SeqImpl>();
  ASSERT_NE(block, nullptr);
  auto* mb = block->ptr(0)->as<fracture::models::MBConvImpl>();  // stage 2's first block: 16 -> 24, 32x32 -> 16x16
  ASSERT_NE(mb, nullptr);
  auto in = net->forward_features_until(inference_input(x.narrow(0, 0, 1), io), "features.1");
  auto pre = mb->block->forward_range(in, 0, 2);  // expansion and depthwise: the SE's input
  std::vector<float> gate;
  EXPECT_NE(mb->block->fold_se(2, pre, &gate), nullptr) << "16x16 pixels, 24 output channels: folds";
  EXPECT_EQ(mb->block->fold_se(2, torch::cat({pre, pre}), &gate), nullptr) << "two images: no fold";
  // Stage 2's output (its first block folds) for image 0 alone, against the unfused model's for
  // the batch of two (no fold there), relative to its largest value.
  auto got = net->forward_features_until(inference_input(x.narrow(0, 0, 1), io), "features.2");
  auto ref2 = ref->forward_features_until(x, "features.2").narrow(0, 0, 1);
  const double scale = ref2.abs().max().item<double>();
  EXPECT_GT(scale, 1e-3);
  EXPECT_LE((got - ref2).abs().max().item<double>(), 1e-4 * scale);
}

// ONEDNN_MAX_CPU_ISA really moves every kernel family to the older ISA: oneDNN's own name of the
// convolution it runs, our Winograd transforms' vector width, and ATEN_CPU_CAPABILITY ATen's. The
// suite runs this under AVX2 and SSE41 caps too (tests/CMakeLists.txt).
TEST(CpuIsa, CapsChangeTheKernelsChosen) {
  const auto& isa = fracture::models::cpu_isa();
  std::printf("%s\n", isa.summary().c_str());
  if (const char* aten = std::getenv("ATEN_CPU_CAPABILITY"); aten && *aten) {
    const std::string want = std::string(aten) == "avx512" ? "AVX512" : std::string(aten) == "avx2" ? "AVX2" : "NO AVX";
    EXPECT_EQ(isa.aten, want);
  }
  if (!fracture::models::OnednnConv::available()) GTEST_SKIP() << "built without oneDNN (FRACTURE_WITH_ONEDNN)";
  const char* cap_env = std::getenv("ONEDNN_MAX_CPU_ISA");
  std::string cap = cap_env ? cap_env : "";
  for (auto& ch : cap) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  if (cap == "avx2" || cap == "sse41") {
    if (cap == "avx2" && !__builtin_cpu_supports("avx2")) GTEST_SKIP() << "this CPU has no AVX2";
    EXPECT_EQ(isa.onednn, cap);
    EXPECT_EQ(isa.simd, cap == "avx2" ? fracture::models::SimdLevel::avx2 : fracture::models::SimdLevel::baseline);
    EXPECT_EQ(isa.bf16, fracture::models::Bf16Support::none);
  }
  torch::manual_seed(14);
  torch::InferenceMode guard;
  fracture::models::OnednnConvSpec s;
  s.padding = 1;
  s.winograd = true;
  s.winograd_tune = false;
  fracture::models::OnednnConv conv(torch::randn({64, 64, 3, 3}) * 0.1, torch::randn({64}), s);
  conv.forward(torch::randn({1, 64, 8, 8}));  // too small for Winograd: oneDNN's direct kernel
  const std::string direct = conv.implementation();
  conv.forward(torch::randn({2, 64, 32, 32}));  // Winograd pays
  const std::string wino = conv.implementation();
  std::printf("direct 3x3: %s; Winograd: %s\n", direct.c_str(), wino.c_str());
  EXPECT_EQ(wino, std::string("winograd_f4x3:") + fracture::models::to_string(isa.simd));
  if (isa.onednn.rfind("avx512", 0) != 0) EXPECT_EQ(direct.find("avx512"), std::string::npos) << direct;
  if (isa.onednn == "sse41") EXPECT_EQ(direct.find("avx"), std::string::npos) << direct;
  if (isa.onednn == "avx2") EXPECT_NE(direct.find("avx2"), std::string::npos) << direct;
}

// Winograd F(4x4, 3x3) against ATen's direct convolution: odd sizes (partial 4x4 tiles at the right
// and bottom edges), padding 0 and 1, channel counts off the 64-channel blocks of the transforms,
// every activation with the residual before and after it, NCHW-sliced input, and a batch large
// enough for two chunks of tiles. Error bound 3e-5 of the largest pre-activation value (float
// rounding through transforms with constants up to 8 and 1/24; measured up to 1.9e-5 at 288 channels).
TEST(Winograd, MatchesAtenConvolution) {
  torch::manual_seed(5);
  torch::InferenceMode guard;
  struct Case { int64_t cin, cout, batch, h, w, pad; };
  // The last case: 64 + 64 channels -> chunks of 910 tiles; 4 x 16 x 16 = 1024 tiles -> two chunks.
  const Case cases[] = {{3, 5, 1, 9, 7, 1}, {70, 33, 2, 13, 9, 1}, {16, 130, 1, 8, 8, 0}, {64, 64, 4, 64, 64, 1}};
  double worst = 0;
  for (const auto& c : cases) {
    auto w = torch::randn({c.cout, c.cin, 3, 3}) * 0.3;
    auto b = torch::randn({c.cout});
    auto wide = torch::randn({c.batch, c.cin + 4, c.h, c.w});
    auto x = wide.narrow(1, 2, c.cin);  // neither contiguous nor channels-last
    auto lin = torch::conv2d(x, w, b, 1, c.pad);
    auto skip = torch::randn(lin.sizes());
    const double scale = lin.abs().max().item<double>();
    for (auto act : {OnednnAct::none, OnednnAct::relu, OnednnAct::silu, OnednnAct::hardswish, OnednnAct::sigmoid}) {
      for (bool after : {true, false}) {
        WinogradConv conv(w, b, c.pad, act, after);
        auto plain = conv.forward(x);
        ASSERT_EQ(plain.sizes(), lin.sizes());
        EXPECT_TRUE(plain.is_contiguous(torch::MemoryFormat::ChannelsLast));
        const double e0 = (plain - aten_activation(lin, act)).abs().max().item<double>();
        auto want = after ? aten_activation(lin, act) + skip : aten_activation(lin + skip, act);
        const double e1 = (conv.forward(x, &skip) - want).abs().max().item<double>();
        worst = std::max({worst, e0 / scale, e1 / scale});
        EXPECT_LE(e0, 3e-5 * scale) << "cin " << c.cin << " cout " << c.cout << " " << c.h << "x" << c.w << " pad "
                                    << c.pad << " act " << int(act);
        EXPECT_LE(e1, 3e-5 * scale) << "with residual, after " << after << ", cin " << c.cin << " act " << int(act);
      }
    }
  }
  std::printf("Winograd F(4x4,3x3): worst error %.2e of the largest pre-activation value\n", worst);
  EXPECT_GT(worst, 0.0) << "bit-identical to ATen: is the Winograd path running at all?";
  // The same bits at any OpenMP thread count: each tile, and each tile position's product, is one
  // thread's work (also what `make tsan`, which runs OpenMP on one thread, cannot check).
  {
    const int before = at::get_num_threads();
    WinogradConv conv(torch::randn({64, 64, 3, 3}) * 0.3, torch::randn({64}), 1, OnednnAct::silu, true);
    const auto x = torch::randn({4, 64, 64, 64});
    at::set_num_threads(1);
    const auto one = conv.forward(x);
    for (int t : {2, 3}) {
      at::set_num_threads(t);
      EXPECT_TRUE(torch::equal(conv.forward(x), one)) << t << " threads";
    }
    at::set_num_threads(before);
  }
  // Refusals: not a 3x3 kernel, wrong channel count, an input smaller than the kernel.
  EXPECT_FALSE(WinogradConv::supports(torch::zeros({4, 4, 3, 3}), 2, 1, 1));
  EXPECT_FALSE(WinogradConv::supports(torch::zeros({4, 4, 5, 5}), 1, 1, 1));
  EXPECT_FALSE(WinogradConv::supports(torch::zeros({4, 2, 3, 3}), 1, 1, 2));
  EXPECT_THROW(WinogradConv(torch::zeros({4, 4, 1, 1}), torch::Tensor(), 0, OnednnAct::none, true), fracture::Error);
  WinogradConv conv(torch::randn({4, 3, 3, 3}), torch::Tensor(), 0, OnednnAct::none, true);
  EXPECT_THROW(conv.forward(torch::randn({1, 5, 8, 8})), fracture::Error);
  EXPECT_THROW(conv.forward(torch::randn({1, 3, 2, 8})), fracture::Error);
}

// OnednnConv with spec.winograd takes the Winograd path exactly where WinogradConv::pays() (and
// never for bf16 or strided convolutions), and its results stay within the Winograd bound.
TEST(Winograd, OnednnConvUsesItWherePaying) {
  if (!fracture::models::OnednnConv::available()) GTEST_SKIP() << "built without oneDNN (FRACTURE_WITH_ONEDNN)";
  torch::manual_seed(6);
  torch::InferenceMode guard;
  auto w = torch::randn({48, 48, 3, 3}) * 0.2;
  auto b = torch::randn({48});
  OnednnConvSpec s;
  s.padding = 1;
  s.act = OnednnAct::silu;
  s.winograd = true;
  s.winograd_tune = false;  // Winograd wherever pays(); the timed choice: Winograd.TunedChoiceIsOneOfTheTwo
  OnednnConv conv(w, b, s);
  EXPECT_TRUE(WinogradConv::pays(48, 48, 4, 16, 16));   // 64 tiles x 48 x 48 = 147,456 >= 131,072
  EXPECT_FALSE(WinogradConv::pays(64, 64, 1, 20, 20));  // 25 tiles x 64 x 64 = 102,400
  EXPECT_FALSE(WinogradConv::pays(48, 48, 1, 16, 16));  // 16 tiles: too little work
  EXPECT_FALSE(WinogradConv::pays(32, 64, 8, 64, 64));  // too few input channels
  EXPECT_FALSE(WinogradConv::pays(512, 512, 8, 7, 7));  // 7x7 maps: most of each tile wasted
  auto x = torch::randn({4, 48, 16, 16});
  auto want = torch::silu(torch::conv2d(x, w, b, 1, 1));
  auto got = conv.forward(x);
  EXPECT_TRUE(is_winograd(conv.implementation()));
  EXPECT_LE((got - want).abs().max().item<double>(), 3e-5 * (1 + want.abs().max().item<double>()));
  conv.forward(x.narrow(0, 0, 1));
  EXPECT_FALSE(is_winograd(conv.implementation()));  // batch 1: does not pay, oneDNN's direct kernel
  s.stride = 2;
  OnednnConv strided(w, b, s);
  strided.forward(x);
  EXPECT_FALSE(is_winograd(strided.implementation()));
  s.stride = 1;
  s.winograd = false;
  OnednnConv off(w, b, s);
  off.forward(x);
  EXPECT_FALSE(is_winograd(off.implementation()));
}

// The timed choice (OnednnConvSpec::winograd_tune, opt-in): at a shape where Winograd may pay,
// the first call times both and every later call of that shape takes the same path, right either
// way; where it cannot pay, never Winograd.
TEST(Winograd, TunedChoiceIsOneOfTheTwoAndSticks) {
  if (!fracture::models::OnednnConv::available()) GTEST_SKIP() << "built without oneDNN (FRACTURE_WITH_ONEDNN)";
  torch::manual_seed(7);
  torch::InferenceMode guard;
  auto w = torch::randn({64, 64, 3, 3}) * 0.1;
  auto b = torch::randn({64});
  OnednnConvSpec s;
  s.padding = 1;
  s.act = OnednnAct::relu;
  s.winograd = true;
  s.winograd_tune = true;
  OnednnConv conv(w, b, s);
  auto x = torch::randn({2, 64, 32, 32});
  auto want = torch::relu(torch::conv2d(x, w, b, 1, 1));
  const double tol = 3e-5 * (1 + want.abs().max().item<double>());
  EXPECT_LE((conv.forward(x) - want).abs().max().item<double>(), tol);
  const std::string first = conv.implementation();
  for (int i = 0; i < 3; ++i) {
    EXPECT_LE((conv.forward(x) - want).abs().max().item<double>(), tol);
    EXPECT_EQ(conv.implementation(), first);
  }
  std::printf("64 channels, 32x32, batch 2: %s\n", first.c_str());
  conv.forward(torch::randn({1, 64, 8, 8}));  // cannot pay: not timed, direct
  EXPECT_FALSE(is_winograd(conv.implementation()));
}

INSTANTIATE_TEST_SUITE_P(Torchvision, Arch, ::testing::Values("resnet18", "mobilenet_v3_small", "efficientnet_b0"));

TEST(Checkpoint, BinaryHeadIsReinitialisedAndEverythingElseLoaded) {
  auto file = read_torch_checkpoint(g_dir / "mobilenet_v3_small.pth");
  ClassifierOptions o;
  o.num_classes = 1;
  auto net = make_classifier("mobilenet_v3_small", o);
  auto report = load_state_dict(*net, file, "oracle");
  ASSERT_EQ(report.reinitialised.size(), 2u) << report.summary();
  EXPECT_EQ(report.reinitialised[0].rfind("classifier.3.weight", 0), 0u);
  EXPECT_EQ(report.reinitialised[1].rfind("classifier.3.bias", 0), 0u);
  EXPECT_EQ(report.loaded.size(), file.size() - 2);
  auto sd = state_dict(*net);
  EXPECT_TRUE(torch::equal(get(sd, "classifier.0.weight"), get(file, "classifier.0.weight")));
  EXPECT_TRUE(torch::equal(get(sd, "features.5.block.2.fc1.weight"), get(file, "features.5.block.2.fc1.weight")));
}

TEST(Checkpoint, AnotherArchitectureIsRefusedAndNothingIsLoaded) {
  auto file = read_torch_checkpoint(g_dir / "resnet18.pth");
  auto net = make_classifier("efficientnet_b0");
  auto before = state_dict(*net);
  std::vector<torch::Tensor> copies;
  for (auto& kv : before) copies.push_back(kv.second.clone());
  try {
    load_state_dict(*net, file, "resnet18.pth");
    FAIL() << "expected a refusal";
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
  }
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i].second, copies[i]));
}

TEST(Checkpoint, NonHeadShapeMismatchAndMissingKeysAreNamed) {
  auto file = read_torch_checkpoint(g_dir / "resnet18.pth");
  auto bad = file;
  for (auto& kv : bad) {
    if (kv.first == "layer1.0.conv1.weight") kv.second = torch::zeros({64, 64, 1, 1});
  }
  auto net = make_classifier("resnet18");
  try {
    load_state_dict(*net, bad, "x.pth");
    FAIL();
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer1.0.conv1.weight"), std::string::npos) << e.what();
  }
  auto missing = file;
  missing.erase(missing.begin() + 2);  // bn1.bias
  try {
    load_state_dict(*net, missing, "x.pth");
    FAIL();
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing keys: bn1.bias"), std::string::npos) << e.what();
  }
  auto extra = file;
  extra.emplace_back("fc2.weight", torch::zeros({3}));
  EXPECT_THROW(load_state_dict(*net, extra, "x.pth"), fracture::Error);
  EXPECT_NO_THROW(load_state_dict(*net, extra, "x.pth", /*strict=*/false));
}

TEST(Checkpoint, WrongDtypeIsAnErrorNamingTheKey) {
  auto file = read_torch_checkpoint(g_dir / "resnet18.pth");
  for (auto& kv : file) {
    if (kv.first == "conv1.weight") kv.second = kv.second.to(torch::kInt64);
  }
  auto path = g_dir / "int.safetensors";
  write_safetensors(file, path);
  auto net = make_classifier("resnet18");
  try {
    load_state_dict(*net, read_safetensors(path), path.string());
    FAIL();
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("wrong dtype for conv1.weight"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, HalfPrecisionFileLoadsIntoFloatModel) {
  auto file = read_torch_checkpoint(g_dir / "mobilenet_v3_small.pth");
  NamedTensors half;
  for (auto& kv : file) half.emplace_back(kv.first, kv.second.is_floating_point() ? kv.second.to(torch::kHalf) : kv.second);
  auto path = g_dir / "half.pth";
  write_torch_checkpoint(half, path);
  auto back = read_checkpoint(path);
  EXPECT_EQ(get(back, "features.0.0.weight").scalar_type(), torch::kHalf);
  auto net = make_classifier("mobilenet_v3_small");
  load_state_dict(*net, back, path.string());
  expect_close(get(state_dict(*net), "features.0.0.weight"), get(file, "features.0.0.weight"), 1e-3, "half");
}

TEST(Checkpoint, TruncatedFilesGiveErrorsNamingTheFile) {
  for (const char* name : {"resnet18.pth", "resnet18_cpp.safetensors"}) {
    auto src = g_dir / name;
    if (!fs::exists(src)) {
      auto net = make_classifier("resnet18");
      save_safetensors(*net, src);
    }
    std::string bytes = fracture::read_file(src);
    auto cut = g_dir / (std::string("cut_") + name);
    for (size_t len : {size_t(5), bytes.size() / 2, bytes.size() - 100}) {
      fracture::write_file_atomic(cut, std::string_view(bytes).substr(0, len));
      try {
        read_checkpoint(cut);
        FAIL() << name << " cut at " << len;
      } catch (const fracture::Error& e) {
        EXPECT_NE(std::string(e.what()).find(cut.string()), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_THROW(read_checkpoint(g_dir / "does_not_exist.pth"), fracture::Error);
}

TEST(Checkpoint, GreyStemEqualsReplicatedRgb) {
  auto file = read_torch_checkpoint(g_dir / "resnet18.pth");
  auto rgb = make_classifier("resnet18");
  load_state_dict(*rgb, file, "oracle");
  ClassifierOptions o;
  o.in_channels = 1;
  auto grey = make_classifier("resnet18", o);
  auto report = load_state_dict(*grey, file, "oracle");
  ASSERT_EQ(report.adapted, std::vector<std::string>{"conv1.weight"});
  rgb->eval();
  grey->eval();
  torch::NoGradGuard ng;
  auto g = torch::randn({2, 1, 32, 32});
  expect_close(grey->forward(g), rgb->forward(g.repeat({1, 3, 1, 1})), 1e-4, "grey vs rgb");
  EXPECT_EQ(recognise_architecture(state_dict(*grey)).in_channels, 1);
}

// Found by fuzz_state_dict_mapping: an RGB first conv whose other dims differ from the grey model's
// (here no output channels) was taken for the RGB-to-grey case and failed in libtorch's copy_ after
// earlier tensors were already copied. It is a shape mismatch: refused by name, the model untouched.
TEST(Weights, RgbStemOfAnotherShapeIsAShapeMismatch) {
  ClassifierOptions o;
  o.in_channels = 1;
  auto grey = make_classifier("resnet18", o);
  NamedTensors sd = state_dict(*make_classifier("resnet18"));
  const torch::Tensor before = grey->named_parameters()["conv1.weight"].clone();
  const torch::Tensor fc_before = grey->named_parameters()["fc.weight"].clone();
  for (auto& kv : sd) {
    if (kv.first == "conv1.weight") kv.second = torch::zeros({0, 3, 7, 7});
    if (kv.first != "conv1.weight") kv.second = kv.second.detach().clone().fill_(0.5);
  }
  try {
    load_state_dict(*grey, sd, "rgb-stem.pth");
    FAIL() << "a (0, 3, 7, 7) stem was loaded into a (64, 1, 7, 7) one";
  } catch (const fracture::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rgb-stem.pth"), std::string::npos) << msg;
    EXPECT_NE(msg.find("conv1.weight"), std::string::npos) << msg;
  }
  EXPECT_TRUE(torch::equal(grey->named_parameters()["conv1.weight"], before));
  EXPECT_TRUE(torch::equal(grey->named_parameters()["fc.weight"], fc_before));
}

// recognise_architecture builds each candidate network once (random initialisation) and caches its
// keys: neither the first call nor a later one may move the caller's random stream.
TEST(Weights, RecogniseArchitectureLeavesTheRandomStreamAlone) {
  ClassifierOptions o;
  o.num_classes = 2;
  o.in_channels = 1;
  const NamedTensors sd = state_dict(*make_classifier("mobilenet_v3_small", o));
  for (int call = 0; call < 2; ++call) {
    torch::manual_seed(7);
    const torch::Tensor expected = torch::rand({4});
    torch::manual_seed(7);
    const ArchGuess g = recognise_architecture(sd);
    EXPECT_EQ(g.arch, "mobilenet_v3_small");
    EXPECT_EQ(g.in_channels, 1);
    EXPECT_EQ(g.num_classes, 2);
    EXPECT_TRUE(torch::equal(torch::rand({4}), expected)) << "call " << call;
  }
}

TEST(FineTuning, FreezeKeepsBackboneBatchNormInEvalAndOnlyHeadTrainable) {
  ClassifierOptions o;
  o.num_classes = 1;
  auto net = make_classifier("efficientnet_b0", o);
  freeze_backbone(*net);
  net->train();
  EXPECT_EQ(net->head_parameter_names(), (std::vector<std::string>{"classifier.1.weight", "classifier.1.bias"}));
  for (auto& p : net->named_parameters()) {
    EXPECT_EQ(p.value().requires_grad(), p.key().rfind("classifier.", 0) == 0) << p.key();
  }
  auto before = get(state_dict(*net), "features.0.1.running_mean").clone();
  auto y = net->forward(torch::randn({2, 3, 32, 32}));
  y.sum().backward();
  EXPECT_TRUE(torch::equal(before, get(state_dict(*net), "features.0.1.running_mean")));  // stats frozen
  EXPECT_TRUE(net->head_parameters()[0].grad().defined());
  EXPECT_FALSE(net->backbone_parameters()[0].grad().defined());
  unfreeze(*net);
  net->train();
  for (auto& p : net->parameters()) EXPECT_TRUE(p.requires_grad());
  net->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_FALSE(torch::equal(before, get(state_dict(*net), "features.0.1.running_mean")));
}
