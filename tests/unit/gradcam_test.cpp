// Grad-CAM (models/gradcam.h) against a reference computed on torchvision's own models with hooks
// (tests/oracle/gradcam_oracle.py), for the three backbones, unoptimised and optimize_for_inference'd;
// and the pointing game's geometry on hand-made maps and boxes.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "fracture/core/error.h"
#include "fracture/engine/classify_run.h"
#include "fracture/models/classifier.h"
#include "fracture/models/gradcam.h"
#include "fracture/models/inference.h"
#include "fracture/models/weights/checkpoint.h"

namespace fs = std::filesystem;
using namespace fracture;
using namespace fracture::models;

namespace {

struct Oracle {
  fs::path dir;
  Oracle() {
    char tmpl[] = "/tmp/fracture_gradcam_oracle_XXXXXX";
    const char* d = mkdtemp(tmpl);
    if (!d) throw std::runtime_error("mkdtemp");
    dir = d;
    const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/gradcam_oracle.py " + dir.string();
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("oracle failed: " + cmd);
  }
  ~Oracle() { fs::remove_all(dir); }
};

const Oracle& oracle() {
  static Oracle o;
  return o;
}

torch::Tensor named(const NamedTensors& t, const std::string& key) {
  for (const auto& [k, v] : t)
    if (k == key) return v;
  throw std::runtime_error("oracle file has no " + key);
}

Classifier load(const std::string& arch) {
  ClassifierOptions o;
  o.num_classes = 1;
  auto net = make_classifier(arch, o);
  load_state_dict(*net, read_torch_checkpoint(oracle().dir / (arch + ".pth")), arch + ".pth", /*strict=*/true);
  net->eval();
  return net;
}

}  // namespace

class GradCamOracle : public ::testing::TestWithParam<std::string> {};

TEST_P(GradCamOracle, MatchesTorchvisionHooks) {
  const std::string arch = GetParam();
  const NamedTensors ref = read_torch_checkpoint(oracle().dir / (arch + "_cam.pth"));
  const torch::Tensor x = named(ref, "input"), want = named(ref, "cam");
  // unoptimised; optimised NCHW (BatchNorm folded); optimised channels-last as the engines run it
  // (fused oneDNN convolutions, the SE kernel, MobileNetV3's fused head, which Grad-CAM differentiates)
  for (int mode : {0, 1, 2}) {
    const bool optimised = mode > 0;
    Classifier net = load(arch);
    InferenceOptions io;
    io.channels_last = mode == 2;
    if (optimised) optimize_for_inference(*net, io);
    const torch::Tensor xin = inference_input(x, io);
    {
      torch::NoGradGuard g;
      EXPECT_TRUE(torch::allclose(net->forward(xin), named(ref, "logits"), 1e-4, 1e-4)) << arch << " mode " << mode;
    }
    const torch::Tensor cam = grad_cam(*net, xin);
    ASSERT_EQ(cam.sizes(), want.sizes()) << arch;
    // the same libtorch kernels: equal (0 seen); optimised (BatchNorm folded, fused oneDNN): 2e-6 to 6e-6 seen
    const double err = (cam - want).abs().max().item<double>();
    std::printf("%s%s: max |cam - reference| = %.2e\n", arch.c_str(),
                mode == 2 ? " (optimised, channels-last)" : optimised ? " (optimised)" : "", err);
    EXPECT_LT(err, optimised ? 1e-4 : 1e-5) << arch << (optimised ? " (optimised)" : "");
    for (int64_t b = 0; b < cam.size(0); ++b) {
      EXPECT_FLOAT_EQ(cam[b].max().item<float>(), 1.0f);
      EXPECT_FLOAT_EQ(cam[b].min().item<float>(), 0.0f);
      const CamPeak p = cam_peak(cam[b]), q = cam_peak(want[b]);
      // the same hot spot (ties on a smooth maximum may pick a neighbour)
      EXPECT_LE(std::abs(p.row - q.row) + std::abs(p.col - q.col), 2) << arch << " image " << b;
    }
  }
}

// An inner target layer (gradcam_layer): torchvision's module of the same name, hooked in Python.
TEST_P(GradCamOracle, InnerLayerMatchesTorchvisionHooks) {
  const std::string arch = GetParam();
  const std::string layer = arch == "resnet18" ? "layer3" : arch == "mobilenet_v3_small" ? "features.8" : "features.6";
  const NamedTensors ref = read_torch_checkpoint(oracle().dir / (arch + "_cam.pth"));
  const torch::Tensor x = named(ref, "input"), want = named(ref, "cam_inner");
  Classifier net = load(arch);
  {
    torch::NoGradGuard g;  // the split forward is the forward
    EXPECT_TRUE(torch::equal(net->forward_features_from(net->forward_features_until(x, layer), layer),
                             net->forward_features(x))) << arch;
  }
  const torch::Tensor cam = grad_cam(*net, x, 0, layer);
  ASSERT_EQ(cam.sizes(), want.sizes()) << arch;
  const double err = (cam - want).abs().max().item<double>();
  std::printf("%s %s: max |cam - reference| = %.2e\n", arch.c_str(), layer.c_str(), err);
  EXPECT_LT(err, 1e-5) << arch << " " << layer;
  // the default layer by name is the default
  EXPECT_TRUE(torch::equal(grad_cam(*net, x, 0, net->feature_layers().back()), grad_cam(*net, x))) << arch;
  // an optimised network cannot be differentiated through its fused layers: refused, named
  optimize_for_inference(*net, InferenceOptions{});
  try {
    grad_cam(*net, x, 0, layer);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optimize_for_inference"), std::string::npos) << e.what();
  }
  try {
    grad_cam(*net, x, 0, "layer9");
    FAIL() << "expected an unknown-layer error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Grad-CAM layer 'layer9': expected one of"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Backbones, GradCamOracle,
                         ::testing::Values("resnet18", "mobilenet_v3_small", "efficientnet_b0"));

TEST(GradCam, PeakAndErrors) {
  torch::Tensor m = torch::zeros({4, 5});
  m[2][3] = 0.9;
  const CamPeak p = cam_peak(m);
  EXPECT_EQ(p.row, 2);
  EXPECT_EQ(p.col, 3);
  EXPECT_FLOAT_EQ(p.value, 0.9f);
  EXPECT_THROW(cam_peak(torch::zeros({3})), Error);
  ClassifierOptions o;
  o.num_classes = 1;
  auto net = make_classifier("mobilenet_v3_small", o);
  EXPECT_THROW(grad_cam(*net, torch::zeros({3, 32, 32})), Error);
  EXPECT_THROW(grad_cam(*net, torch::zeros({1, 3, 32, 32}), 1), Error);
  // an untrained network's map is still scaled into [0, 1]
  const torch::Tensor cam = grad_cam(*net, torch::randn({1, 3, 64, 64}));
  EXPECT_GE(cam.min().item<float>(), 0.0f);
  EXPECT_LE(cam.max().item<float>(), 1.0f);
}

// The pointing game's geometry, expectations worked out by hand: a 10 x 20 map peaking at row 2,
// column 15 has its peak centre at (15.5 / 20, 2.5 / 10) = (0.775, 0.25).
TEST(PointingGame, GeometryByHand) {
  cv::Mat m = cv::Mat::zeros(10, 20, CV_32FC1);
  m.at<float>(2, 15) = 1.0f;
  m.at<float>(7, 3) = 0.5f;  // a lower second bump: not the peak
  const Box inside{0, 0.8f, 0.25f, 0.1f, 0.2f};    // x 0.75-0.85, y 0.15-0.35: holds (0.775, 0.25)
  const Box elsewhere{0, 0.2f, 0.7f, 0.1f, 0.2f};  // holds the second bump only
  const Box big{0, 0.5f, 0.5f, 0.5f, 0.5f}, small{0, 0.5f, 0.5f, 0.25f, 0.25f};  // small inside big
  const engine::PointingGame g =
      engine::score_pointing({m, m, m, m}, {{inside}, {elsewhere}, {}, {big, small}});
  EXPECT_EQ(g.n_images, 3);  // the image without boxes is left out
  EXPECT_EQ(g.hits, 1);
  // chance per image: 0.1 x 0.2 = 0.02 (20 x 40 cells of the 200 x 200 grid), 0.02, and the union
  // of the nested boxes 0.5 x 0.5 = 0.25 (not 0.25 + 0.0625)
  EXPECT_NEAR(g.chance, (0.02 + 0.02 + 0.25) / 3, 1e-12);
  // a map whose peak is on a box's corner pixel counts (the peak pixel's centre inside)
  cv::Mat c = cv::Mat::zeros(100, 100, CV_32FC1);
  c.at<float>(25, 25) = 1.0f;  // centre (0.255, 0.255): inside big (from 0.25)
  EXPECT_EQ(engine::score_pointing({c}, {{big}}).hits, 1);
  c.at<float>(25, 25) = 0.0f;
  c.at<float>(24, 24) = 1.0f;  // centre (0.245, 0.245): outside
  EXPECT_EQ(engine::score_pointing({c}, {{big}}).hits, 0);
  EXPECT_THROW(engine::score_pointing({m}, {}), Error);
}
