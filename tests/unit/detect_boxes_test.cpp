// Box ops and NMS (src/fracture/detect): hand-computed values, and NMS against torchvision's own
// nms / batched_nms (tests/oracle/nms_oracle.py).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <unistd.h>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/detect/boxes.h"
#include "fracture/detect/nms.h"

using namespace fracture::detect;

namespace {
torch::Tensor t(std::vector<float> v, std::vector<int64_t> shape) { return torch::tensor(v).view(shape); }
}  // namespace

TEST(DetectBoxes, ConversionsRoundTrip) {
  auto xyxy = xywh2xyxy(t({10, 20, 4, 6}, {1, 4}));
  EXPECT_TRUE(torch::allclose(xyxy, t({8, 17, 12, 23}, {1, 4})));
  EXPECT_TRUE(torch::allclose(xyxy2xywh(xyxy), t({10, 20, 4, 6}, {1, 4})));
  torch::manual_seed(0);
  auto b = torch::rand({2, 5, 4}) * 100;
  EXPECT_TRUE(torch::allclose(xyxy2xywh(xywh2xyxy(b)), b, 1e-4, 1e-4));
  EXPECT_THROW(xywh2xyxy(torch::zeros({3, 5})), fracture::Error);
}

TEST(DetectBoxes, BoxIouMatrix) {
  auto a = t({0, 0, 10, 10}, {1, 4});
  auto b = t({5, 0, 15, 10, 0, 0, 10, 10, 20, 20, 30, 30}, {3, 4});
  auto iou = box_iou(a, b);
  ASSERT_EQ(iou.sizes(), (std::vector<int64_t>{1, 3}));
  EXPECT_NEAR(iou[0][0].item<float>(), 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(iou[0][1].item<float>(), 1.0, 1e-6);
  EXPECT_NEAR(iou[0][2].item<float>(), 0.0, 1e-7);
}

TEST(DetectBoxes, GiouDiouHandComputed) {
  auto a = t({0, 0, 2, 2}, {4}), b = t({3, 0, 5, 2}, {4});  // disjoint, 1 px gap
  // GIoU: iou 0, enclosing 5 x 2 = 10, union 8 -> -(10 - 8) / 10.
  EXPECT_NEAR(bbox_iou(a, b, false, IouKind::giou).item<float>(), -0.2, 1e-5);
  // DIoU: centres (1, 1) and (4, 1): rho^2 = 9, enclosing diagonal^2 = 5^2 + 2^2 = 29.
  EXPECT_NEAR(bbox_iou(a, b, false, IouKind::diou).item<float>(), -9.0 / 29.0, 1e-5);
  auto c = t({0, 0, 10, 10}, {4}), d = t({5, 0, 15, 10}, {4});
  EXPECT_NEAR(bbox_iou(c, d, false, IouKind::iou).item<float>(), 1.0 / 3.0, 1e-5);
  EXPECT_NEAR(bbox_iou(c, d, false, IouKind::giou).item<float>(), 1.0 / 3.0, 1e-5);  // enclosing == union
  EXPECT_EQ(bbox_iou(c, d, false).sizes(), (std::vector<int64_t>{1}));  // keeps a trailing dim of 1
}

TEST(DetectBoxes, CiouFormulaAndDetachedAlpha) {
  // xywh: b1 centre (2, 1) 4 x 2, b2 centre (2, 2) 2 x 4. Overlap 2 x 2 = 4, union 12, iou 1/3.
  // Enclosing box x 0..4, y 0..4: c^2 = 32. rho^2 = 1.
  const double iou = 1.0 / 3.0, pi = M_PI;
  const double v = 4.0 / (pi * pi) * std::pow(std::atan(2.0 / 4.0) - std::atan(4.0 / 2.0), 2);
  const double alpha = v / (v - iou + 1.0);
  const double want = iou - (1.0 / 32.0 + alpha * v);
  auto b1 = torch::tensor({2.0, 1.0, 4.0, 2.0}, torch::kDouble).requires_grad_(true);
  auto b2 = torch::tensor({2.0, 2.0, 2.0, 4.0}, torch::kDouble);
  auto ciou = bbox_iou(b1, b2, true, IouKind::ciou);
  EXPECT_NEAR(ciou.item<double>(), want, 1e-6);
  // Gradient: alpha must be a constant. Compare with the same formula where alpha is detached,
  // built from autograd-able pieces in the test.
  ciou.sum().backward();
  auto g = b1.grad().clone();
  auto x = torch::tensor({2.0, 1.0, 4.0, 2.0}, torch::kDouble).requires_grad_(true);
  auto w1 = x[2], h1 = x[3];
  auto bx1 = x[0] - w1 / 2, bx2 = x[0] + w1 / 2, by1 = x[1] - h1 / 2, by2 = x[1] + h1 / 2;
  auto inter = (torch::min(bx2, torch::tensor(3.0, torch::kDouble)) - torch::max(bx1, torch::tensor(1.0, torch::kDouble))).clamp_min(0) *
               (torch::min(by2, torch::tensor(4.0, torch::kDouble)) - torch::max(by1, torch::tensor(0.0, torch::kDouble))).clamp_min(0);
  auto uni = w1 * h1 + 8.0 - inter + 1e-7;
  auto io = inter / uni;
  auto cw = torch::max(bx2, torch::tensor(3.0, torch::kDouble)) - torch::min(bx1, torch::tensor(1.0, torch::kDouble));
  auto ch = torch::max(by2, torch::tensor(4.0, torch::kDouble)) - torch::min(by1, torch::tensor(0.0, torch::kDouble));
  auto c2 = cw * cw + ch * ch + 1e-7;
  auto rho2 = ((1.0 + 3.0 - bx1 - bx2).pow(2) + (0.0 + 4.0 - by1 - by2).pow(2)) / 4;
  auto vv = 4.0 / (pi * pi) * (std::atan(2.0 / 4.0) - torch::atan(w1 / h1)).pow(2);
  auto al = (vv / (vv - io + (1 + 1e-7))).detach();
  auto ref = io - (rho2 / c2 + vv * al);
  ref.backward();
  EXPECT_NEAR(ref.item<double>(), want, 1e-6);
  EXPECT_TRUE(torch::allclose(g, x.grad(), 1e-9, 1e-9)) << g << x.grad();
}

TEST(DetectBoxes, MakeAnchors) {
  auto [pts, st] = make_anchors({torch::zeros({1, 3, 2, 3}), torch::zeros({1, 3, 1, 2})}, {8, 16});
  auto want = t({0.5, 0.5, 1.5, 0.5, 2.5, 0.5, 0.5, 1.5, 1.5, 1.5, 2.5, 1.5, 0.5, 0.5, 1.5, 0.5}, {8, 2});
  EXPECT_TRUE(torch::equal(pts, want)) << pts;
  EXPECT_TRUE(torch::equal(st, t({8, 8, 8, 8, 8, 8, 16, 16}, {8, 1})));
}

TEST(DetectBoxes, Dist2BboxAndBack) {
  auto anchor = t({5, 5}, {1, 2});
  auto dist = t({1, 2, 3, 4}, {1, 4});  // left, top, right, bottom
  EXPECT_TRUE(torch::equal(dist2bbox(dist, anchor, false), t({4, 3, 8, 9}, {1, 4})));
  EXPECT_TRUE(torch::equal(dist2bbox(dist, anchor, true), t({6, 6, 4, 6}, {1, 4})));
  EXPECT_TRUE(torch::allclose(bbox2dist(anchor, t({4, 3, 8, 9}, {1, 4}), 15), dist));
  // Clamped to reg_max - 0.01.
  EXPECT_NEAR(bbox2dist(anchor, t({-100, 3, 8, 9}, {1, 4}), 15)[0][0].item<float>(), 14.99, 1e-5);
  // dim = 1 layout as the Detect head uses: (B, 4, A) with anchors (1, 2, A).
  auto d = dist.t().unsqueeze(0);  // (1, 4, 1)
  EXPECT_TRUE(torch::equal(dist2bbox(d, anchor.t().unsqueeze(0), true, 1), t({6, 6, 4, 6}, {1, 4, 1})));
}

TEST(DetectBoxes, DflDecodeOneHot) {
  auto x = torch::full({1, 64, 2}, -50.0);  // 4 sides x 16 bins, 2 anchors
  const int bins[2][4] = {{0, 3, 7, 15}, {1, 2, 4, 8}};
  for (int a = 0; a < 2; ++a)
    for (int s = 0; s < 4; ++s) x[0][s * 16 + bins[a][s]][a] = 50.0;
  auto d = dfl_decode(x, 16);
  ASSERT_EQ(d.sizes(), (std::vector<int64_t>{1, 4, 2}));
  for (int a = 0; a < 2; ++a)
    for (int s = 0; s < 4; ++s) EXPECT_NEAR(d[0][s][a].item<float>(), bins[a][s], 1e-4);
  EXPECT_NEAR(dfl_decode(torch::zeros({1, 64, 1}))[0][0][0].item<float>(), 7.5, 1e-5);  // uniform: mean of 0..15
}

TEST(DetectBoxes, ScaleBoxesFromLetterbox) {
  // Original 100 (h) x 200 (w) letterboxed into 64 x 64: gain 0.32, pad x 0, pad y round(15.9) = 16.
  auto b = scale_boxes(64, 64, t({0, 16, 32, 32, -5, 10, 70, 60}, {2, 4}), 100, 200);
  EXPECT_TRUE(torch::allclose(b[0], t({0, 0, 100, 50}, {4}), 1e-4, 1e-4)) << b;
  EXPECT_TRUE(torch::allclose(b[1], t({0, 0, 200, 100}, {4}), 1e-4, 1e-4)) << b;  // clipped
}

TEST(DetectNms, GreedySuppressionAndOrder) {
  // 0: C far away (0.7), 1: A (0.9), 2: B overlaps A with IoU 90 / 110 = 0.818 (0.8).
  auto boxes = t({20, 20, 30, 30, 0, 0, 10, 10, 1, 0, 11, 10}, {3, 4});
  auto scores = torch::tensor({0.7f, 0.9f, 0.8f});
  auto k = nms(boxes, scores, 0.5);
  EXPECT_TRUE(torch::equal(k, torch::tensor({1, 0}, torch::kLong))) << k;
  k = nms(boxes, scores, 0.85);  // IoU 0.818 is not > 0.85: nothing suppressed, by score
  EXPECT_TRUE(torch::equal(k, torch::tensor({1, 2, 0}, torch::kLong))) << k;
  EXPECT_EQ(nms(torch::zeros({0, 4}), torch::zeros({0}), 0.5).numel(), 0);
}

TEST(DetectNms, MaxKeepIsThePrefixOfTheFullResult) {
  // 600 random boxes (many overlapping): stopping after k kept boxes gives exactly the first k.
  torch::manual_seed(3);
  auto xy = torch::rand({600, 2}) * 200, wh = torch::rand({600, 2}) * 40 + 2;
  auto boxes = torch::cat({xy, xy + wh}, 1);
  auto scores = torch::rand({600});
  auto full = nms(boxes, scores, 0.5);
  ASSERT_GT(full.size(0), 20);
  ASSERT_LT(full.size(0), 600);  // something was suppressed
  for (int64_t k : {0, 1, 7, 20}) {
    auto part = nms(boxes, scores, 0.5, k);
    EXPECT_TRUE(torch::equal(part, full.narrow(0, 0, k))) << k;
  }
  EXPECT_TRUE(torch::equal(nms(boxes, scores, 0.5, 100000), full));
}

// 48 random scenes (1 to 400 boxes, some zero-area, many overlapping, distinct scores, 3 classes,
// IoU thresholds 0.3 to 0.9): our greedy nms keeps exactly torchvision.ops.nms's indices in its
// order; class-aware NMS the Ultralytics way (boxes offset by class * max_wh, one nms) keeps exactly
// torchvision.ops.batched_nms's.
TEST(DetectNms, MatchesTorchvisionNmsAndBatchedNms) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("fracture_nms_oracle_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  torch::manual_seed(17);
  struct Case {
    torch::Tensor boxes, scores, classes;
    double iou;
  };
  std::vector<Case> cases;
  nlohmann::json in = nlohmann::json::array();
  const int64_t sizes[] = {1, 2, 5, 50, 120, 400};
  const double ious[] = {0.3, 0.5, 0.7, 0.9};
  for (int64_t n : sizes)
    for (double iou : ious)
      for (int rep = 0; rep < 2; ++rep) {
        auto xy = torch::rand({n, 2}) * 100, wh = torch::rand({n, 2}) * 30;
        if (rep == 1 && n > 2) wh.index_put_({torch::indexing::Slice(0, n / 5)}, 0.0);  // zero-area boxes
        Case c{torch::cat({xy, xy + wh}, 1), torch::randperm(n, torch::kFloat) / float(n) + 0.01f,
               torch::randint(0, 3, {n}, torch::kLong), iou};
        nlohmann::json b = nlohmann::json::array();
        for (int64_t i = 0; i < n; ++i)
          b.push_back({c.boxes[i][0].item<float>(), c.boxes[i][1].item<float>(), c.boxes[i][2].item<float>(),
                       c.boxes[i][3].item<float>()});
        std::vector<float> sc(c.scores.data_ptr<float>(), c.scores.data_ptr<float>() + n);
        std::vector<int64_t> cl(c.classes.data_ptr<int64_t>(), c.classes.data_ptr<int64_t>() + n);
        in.push_back({{"boxes", b}, {"scores", sc}, {"classes", cl}, {"iou", iou}});
        cases.push_back(c);
      }
  fracture::write_file_atomic(dir / "in.json", in.dump());
  const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/nms_oracle.py " +
                          (dir / "in.json").string() + " " + (dir / "out.json").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const nlohmann::json ref = nlohmann::json::parse(fracture::read_file(dir / "out.json"));
  ASSERT_EQ(ref.size(), cases.size());
  int suppressed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const torch::Tensor keep = nms(c.boxes, c.scores, c.iou);
    const std::vector<int64_t> got(keep.data_ptr<int64_t>(), keep.data_ptr<int64_t>() + keep.numel());
    EXPECT_EQ(got, ref[i]["nms"].get<std::vector<int64_t>>()) << "case " << i << " iou " << c.iou;
    const torch::Tensor offset = c.boxes + c.classes.unsqueeze(1).to(torch::kFloat) * 7680.0f;  // NmsOptions::max_wh
    const torch::Tensor kb = nms(offset, c.scores, c.iou);
    const std::vector<int64_t> gotb(kb.data_ptr<int64_t>(), kb.data_ptr<int64_t>() + kb.numel());
    EXPECT_EQ(gotb, ref[i]["batched"].get<std::vector<int64_t>>()) << "case " << i << " (class-aware)";
    suppressed += int(c.scores.numel() - keep.numel());
  }
  EXPECT_GT(suppressed, 300);  // the scenes overlap enough for suppression to matter (426 boxes here)
  fs::remove_all(dir);
}

TEST(DetectNms, NonMaxSuppressionHead) {
  // (1, 4 + 2, 4): xywh boxes then 2 class scores.
  // a0: (5, 5, 10, 10) class 0 0.9;  a1: (6, 5, 10, 10) class 1 0.8 (overlaps a0, other class);
  // a2: (5.5, 5, 10, 10) class 0 0.6 (overlaps a0, same class); a3: far, below conf.
  auto p = torch::zeros({1, 6, 4});
  float v[4][6] = {{5, 5, 10, 10, 0.9f, 0.1f}, {6, 5, 10, 10, 0.05f, 0.8f}, {5.5f, 5, 10, 10, 0.6f, 0.3f},
                   {50, 50, 10, 10, 0.1f, 0.2f}};
  for (int a = 0; a < 4; ++a)
    for (int c = 0; c < 6; ++c) p[0][c][a] = v[a][c];
  NmsOptions o;
  o.conf_thres = 0.25;
  o.iou_thres = 0.5;
  auto d = non_max_suppression(p, o)[0];
  ASSERT_EQ(d.sizes(), (std::vector<int64_t>{2, 6}));  // class-aware: a0 and a1 survive, a2 suppressed
  EXPECT_TRUE(torch::allclose(d[0], t({0, 0, 10, 10, 0.9f, 0}, {6}))) << d;
  EXPECT_TRUE(torch::allclose(d[1], t({1, 0, 11, 10, 0.8f, 1}, {6}))) << d;
  o.agnostic = true;
  EXPECT_EQ(non_max_suppression(p, o)[0].size(0), 1);
  o.agnostic = false;
  o.max_det = 1;
  d = non_max_suppression(p, o)[0];
  ASSERT_EQ(d.size(0), 1);
  EXPECT_NEAR(d[0][4].item<float>(), 0.9, 1e-6);
  // Multi-label: rows a0 c0 0.9, a1 c1 0.8, a2 c0 0.6, a2 c1 0.3 (a3 below conf). a2 overlaps a0 and
  // a1 with IoU 9.5 x 10 / 105 = 0.905, so at iou 0.95 nothing is suppressed: 4 rows by confidence.
  o.max_det = 300;
  o.multi_label = true;
  o.iou_thres = 0.95;
  d = non_max_suppression(p, o)[0];
  ASSERT_EQ(d.size(0), 4) << d;
  EXPECT_TRUE(torch::allclose(d.select(1, 4), torch::tensor({0.9f, 0.8f, 0.6f, 0.3f}))) << d;
  EXPECT_TRUE(torch::equal(d.select(1, 5), torch::tensor({0.f, 1.f, 0.f, 1.f}))) << d;
  o.iou_thres = 0.8;  // now a2 is suppressed in both classes
  EXPECT_EQ(non_max_suppression(p, o)[0].size(0), 2);
  o.classes = {1};
  d = non_max_suppression(p, o)[0];
  for (int64_t i = 0; i < d.size(0); ++i) EXPECT_EQ(d[i][5].item<float>(), 1.0f);
  // Nothing above conf: an empty (0, 6).
  o.conf_thres = 0.95;
  EXPECT_EQ(non_max_suppression(p, o)[0].sizes(), (std::vector<int64_t>{0, 6}));
}
