// YOLOv8 loss (src/fracture/detect/{assigner,loss}.cpp): hand-computed assigner scenes, DFL and
// class-loss values, an independent PyTorch-Python oracle (tests/oracle/yolo_loss_ref.py) for loss,
// items, assignment and gradients, and a few SGD steps of a tiny YOLOv8n.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "fracture/core/error.h"
#include "fracture/detect/boxes.h"
#include "fracture/detect/loss.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/yolov8.h"

using namespace fracture::detect;

namespace {
torch::Tensor t(std::vector<float> v, std::vector<int64_t> shape) { return torch::tensor(v).view(shape); }
float val(const torch::Tensor& x, std::vector<int64_t> idx) {
  torch::Tensor y = x;
  for (auto i : idx) y = y[i];
  return y.item<float>();
}
}  // namespace

// One GT (class 1) [0, 0, 20, 20] and 5 anchors: 3 inside, one outside, one exactly on the right
// edge (distance 0 is not > eps). A second GT row is padding (mask 0) with a big box that must be
// ignored. Predicted boxes share the GT's centre and aspect ratio, so CIoU = IoU exactly:
// a0 = GT (1), a1 = [2,2,18,18] (256/400), a2 = [1,1,19,19] (324/400).
TEST(DetectLoss, AssignerCandidatesTopkAndNormalisedScores) {
  auto anchors = t({4, 4, 10, 10, 16, 16, 30, 10, 20, 10}, {5, 2});
  auto scores = t({0.99f, 0.81f, 0.99f, 0.36f, 0.99f, 0.64f, 0.99f, 0.99f, 0.99f, 0.99f}, {1, 5, 2});
  auto boxes = t({0, 0, 20, 20, 2, 2, 18, 18, 1, 1, 19, 19, 0, 0, 20, 20, 0, 0, 20, 20}, {1, 5, 4});
  auto gt_labels = t({1, 0}, {1, 2, 1});
  auto gt_bboxes = t({0, 0, 20, 20, 0, 0, 40, 40}, {1, 2, 4});
  auto mask_gt = t({1, 0}, {1, 2, 1});
  const double m0 = std::sqrt(0.81) * 1.0, m1 = std::sqrt(0.36) * std::pow(0.64, 6), m2 = std::sqrt(0.64) * std::pow(0.81, 6);
  ASSERT_GT(m0, m2);
  ASSERT_GT(m2, m1);

  TaskAlignedOptions opt;
  opt.topk = 2;  // a0 and a2 win; a1 is a candidate outside the top-2
  auto as = task_aligned_assign(scores, boxes, anchors, gt_labels, gt_bboxes, mask_gt, opt);
  ASSERT_EQ(as.target_scores.sizes(), (std::vector<int64_t>{1, 5, 2}));
  std::vector<bool> want_fg{true, false, true, false, false};
  for (int a = 0; a < 5; ++a) EXPECT_EQ(as.fg_mask[0][a].item<bool>(), want_fg[a]) << "anchor " << a;
  EXPECT_EQ(as.target_labels[0][0].item<int64_t>(), 1);
  EXPECT_EQ(as.target_labels[0][2].item<int64_t>(), 1);
  EXPECT_EQ(as.target_gt_idx[0][2].item<int64_t>(), 0);
  EXPECT_TRUE(torch::allclose(as.target_bboxes[0][2], t({0, 0, 20, 20}, {4})));
  // target = metric * (max IoU of the GT's positives = 1) / max metric.
  EXPECT_NEAR(val(as.target_scores, {0, 0, 1}), 1.0, 1e-5);
  EXPECT_NEAR(val(as.target_scores, {0, 2, 1}), m2 / m0, 1e-5);
  EXPECT_EQ(as.target_scores.select(2, 0).abs().sum().item<float>(), 0.0f);  // only the GT's class
  for (int a : {1, 3, 4}) EXPECT_EQ(as.target_scores[0][a].abs().sum().item<float>(), 0.0f) << a;

  opt.topk = 3;  // now a1 joins; anchors 3 (outside) and 4 (on the edge) never do
  as = task_aligned_assign(scores, boxes, anchors, gt_labels, gt_bboxes, mask_gt, opt);
  want_fg = {true, true, true, false, false};
  for (int a = 0; a < 5; ++a) EXPECT_EQ(as.fg_mask[0][a].item<bool>(), want_fg[a]) << "anchor " << a;
  EXPECT_NEAR(val(as.target_scores, {0, 1, 1}), m1 / m0, 1e-6);

  // Lower the best anchor's IoU: the GT's max IoU over positives scales all its targets.
  auto boxes2 = boxes.clone();
  boxes2[0][0] = t({1, 1, 19, 19}, {4});  // a0 now IoU 0.81
  opt.topk = 2;
  as = task_aligned_assign(scores, boxes2, anchors, gt_labels, gt_bboxes, mask_gt, opt);
  const double n0 = std::sqrt(0.81) * std::pow(0.81, 6);
  EXPECT_NEAR(val(as.target_scores, {0, 0, 1}), 0.81, 1e-5);                 // n0 * 0.81 / n0
  EXPECT_NEAR(val(as.target_scores, {0, 2, 1}), m2 * 0.81 / n0, 1e-5);
}

// Two overlapping GTs: GT0 [0,0,20,20] class 0, GT1 [2,0,22,20] class 1. c0 (11,10) is inside both
// and predicts GT1's box exactly; c1 (1,10) is inside GT0 only; c2 (21.5,10) inside GT1 only with a
// same-centre 16x16 box (IoU 0.64). Class-0 scores are 0.95, class-1 0.05, so the alignment metric
// of c0 favours GT0 while its IoU favours GT1: the conflict must go to GT1 (largest IoU).
TEST(DetectLoss, AssignerConflictGoesToLargestIou) {
  auto anchors = t({11, 10, 1, 10, 21.5f, 10}, {3, 2});
  auto scores = t({0.95f, 0.05f, 0.95f, 0.05f, 0.95f, 0.05f}, {1, 3, 2});
  auto boxes = t({2, 0, 22, 20, 0, 0, 20, 20, 4, 2, 20, 18}, {1, 3, 4});
  auto gt_labels = t({0, 1}, {1, 2, 1});
  auto gt_bboxes = t({0, 0, 20, 20, 2, 0, 22, 20}, {1, 2, 4});
  auto mask_gt = t({1, 1}, {1, 2, 1});
  // Precondition of the scene: metric(c0, GT0) > metric(c0, GT1).
  const double ciou0 = bbox_iou(t({0, 0, 20, 20}, {4}), t({2, 0, 22, 20}, {4}), false, IouKind::ciou).item<float>();
  EXPECT_NEAR(ciou0, 360.0 / 440.0 - 4.0 / (22.0 * 22.0 + 20.0 * 20.0), 1e-5);  // iou - rho^2 / c^2, v = 0
  ASSERT_GT(std::sqrt(0.95) * std::pow(ciou0, 6), std::sqrt(0.05) * 1.0);

  auto as = task_aligned_assign(scores, boxes, anchors, gt_labels, gt_bboxes, mask_gt);  // topk 10 > A
  EXPECT_TRUE(as.fg_mask.all().item<bool>());
  EXPECT_EQ(as.target_gt_idx[0][0].item<int64_t>(), 1);
  EXPECT_EQ(as.target_gt_idx[0][1].item<int64_t>(), 0);
  EXPECT_EQ(as.target_gt_idx[0][2].item<int64_t>(), 1);
  EXPECT_EQ(as.target_labels[0][0].item<int64_t>(), 1);
  EXPECT_EQ(as.target_labels[0][1].item<int64_t>(), 0);
  EXPECT_TRUE(torch::allclose(as.target_bboxes[0][0], t({2, 0, 22, 20}, {4})));
  // GT1's positives c0 (IoU 1) and c2 (IoU 0.64): c2 = sqrt(.05) 0.64^6 * 1 / (sqrt(.05) * 1).
  EXPECT_NEAR(val(as.target_scores, {0, 0, 1}), 1.0, 1e-5);
  EXPECT_NEAR(val(as.target_scores, {0, 0, 0}), 0.0, 0.0);
  EXPECT_NEAR(val(as.target_scores, {0, 2, 1}), std::pow(0.64, 6), 1e-5);
  EXPECT_NEAR(val(as.target_scores, {0, 1, 0}), 1.0, 1e-5);  // GT0 keeps only c1
  EXPECT_NEAR(val(as.target_scores, {0, 1, 1}), 0.0, 0.0);
}

TEST(DetectLoss, AssignerWithoutGroundTruthIsAllBackground) {
  auto as = task_aligned_assign(torch::rand({2, 7, 3}), torch::rand({2, 7, 4}), torch::rand({7, 2}),
                                torch::zeros({2, 0, 1}), torch::zeros({2, 0, 4}), torch::zeros({2, 0, 1}));
  EXPECT_FALSE(as.fg_mask.any().item<bool>());
  EXPECT_EQ(as.target_scores.sizes(), (std::vector<int64_t>{2, 7, 3}));
  EXPECT_EQ(as.target_scores.abs().sum().item<float>(), 0.0f);
  EXPECT_THROW(task_aligned_assign(torch::rand({1, 7, 3}), torch::rand({1, 7, 4}), torch::rand({7, 2}),
                                   t({3}, {1, 1, 1}), t({0, 0, 1, 1}, {1, 1, 4}), t({1}, {1, 1, 1})),
               fracture::Error);  // class 3 with nc 3
}

TEST(DetectLoss, BuildTargetsPadsPerImageAndScalesToPixels) {
  auto targets = t({1, 0, .5f, .5f, .5f, .5f, 0, 1, .25f, .25f, .1f, .2f, 1, 1, .75f, .5f, .2f, .2f}, {3, 6});
  auto gt = build_targets(targets, 3, 64, 128);  // h 64, w 128
  ASSERT_EQ(gt.sizes(), (std::vector<int64_t>{3, 2, 5}));
  EXPECT_TRUE(torch::allclose(gt[0][0], t({1, 25.6f, 9.6f, 38.4f, 22.4f}, {5}), 1e-5, 1e-4)) << gt[0][0];
  EXPECT_EQ(gt[0][1].abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(torch::allclose(gt[1][0], t({0, 32, 16, 96, 48}, {5}), 1e-5, 1e-4)) << gt[1][0];  // input order kept
  EXPECT_TRUE(torch::allclose(gt[1][1], t({1, 83.2f, 25.6f, 108.8f, 38.4f}, {5}), 1e-5, 1e-4)) << gt[1][1];
  EXPECT_EQ(gt[2].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(build_targets(torch::zeros({0, 6}), 2, 64, 64).sizes(), (std::vector<int64_t>{2, 0, 5}));
  EXPECT_THROW(build_targets(t({2, 0, .5f, .5f, .1f, .1f}, {1, 6}), 2, 64, 64), fracture::Error);
  EXPECT_THROW(build_targets(torch::zeros({3, 5}), 2, 64, 64), fracture::Error);
}

// Logits 2 on bin 3 and 0 elsewhere: p3 = e^2 / (e^2 + 15), every other bin 1 / (e^2 + 15).
TEST(DetectLoss, DflOnABinAndBetweenBins) {
  auto logits = torch::zeros({2, 4, 16});
  logits.select(2, 3).fill_(2.0);
  const double z = std::exp(2.0) + 15.0, ce3 = std::log(z) - 2.0, ce_other = std::log(z);
  auto target = t({3, 3, 3, 3, 3.4f, 0, 2.5f, 14.99f}, {2, 4});
  auto loss = dfl_loss(logits, target);
  ASSERT_EQ(loss.sizes(), (std::vector<int64_t>{2, 1}));
  EXPECT_NEAR(loss[0][0].item<float>(), ce3, 1e-5);  // exactly on bin 3: all weight on the left bin
  const double side_34 = 0.6 * ce3 + 0.4 * ce_other;   // tl 3 (w 0.6), tr 4 (w 0.4)
  const double side_0 = ce_other;                       // tl 0 (w 1)
  const double side_25 = 0.5 * ce_other + 0.5 * ce3;    // tl 2, tr 3, halves
  const double side_1499 = ce_other;                    // tl 14 (w 0.01), tr 15 (w 0.99), both "other"
  EXPECT_NEAR(loss[1][0].item<float>(), (side_34 + side_0 + side_25 + side_1499) / 4, 1e-5);
  EXPECT_THROW(dfl_loss(logits, torch::full({2, 4}, 15.0)), fracture::Error);  // must be clamped first
}

// No GT in the batch: box = dfl = 0, cls = 0.5 * sum BCE(x, 0) / 1 = 0.5 * sum softplus(x).
TEST(DetectLoss, NoGroundTruthGivesBceSumOverOne) {
  torch::manual_seed(1);
  const int64_t nc = 2, B = 2;
  std::vector<torch::Tensor> feats{torch::randn({B, 64 + nc, 8, 8}, torch::requires_grad()),
                                   torch::randn({B, 64 + nc, 4, 4}, torch::requires_grad()),
                                   torch::randn({B, 64 + nc, 2, 2}, torch::requires_grad())};
  DetectionLoss loss(nc);
  auto out = loss(feats, torch::zeros({0, 6}), 64, 64);
  double want = 0;
  for (auto& f : feats) want += torch::softplus(f.narrow(1, 64, nc).to(torch::kDouble)).sum().item<double>();
  want *= 0.5;
  EXPECT_EQ(out.items[0].item<float>(), 0.0f);
  EXPECT_EQ(out.items[2].item<float>(), 0.0f);
  EXPECT_NEAR(out.items[1].item<float>(), want, 1e-5 * want);
  EXPECT_NEAR(out.total.item<float>(), want * B, 1e-5 * want * B);
  EXPECT_EQ(out.num_fg, 0);
  out.total.backward();
  for (auto& f : feats) {
    EXPECT_EQ(f.grad().narrow(1, 0, 64).abs().sum().item<float>(), 0.0f);
    // d/dx (0.5 * softplus(x)) * B = 0.5 * B * sigmoid(x): every score is pushed down.
    auto g = f.grad().narrow(1, 64, nc);
    EXPECT_TRUE(torch::allclose(g, 0.5 * B * torch::sigmoid(f.narrow(1, 64, nc)).detach(), 1e-5, 1e-7));
  }
}

TEST(DetectLoss, RejectsBadInput) {
  DetectionLoss loss(2);
  std::vector<torch::Tensor> feats{torch::zeros({1, 66, 8, 8}), torch::zeros({1, 66, 4, 4}), torch::zeros({1, 66, 2, 2})};
  EXPECT_THROW(loss(feats, t({0, 2, .5f, .5f, .2f, .2f}, {1, 6}), 64, 64), fracture::Error);  // class 2, nc 2
  EXPECT_THROW(loss(feats, t({1, 0, .5f, .5f, .2f, .2f}, {1, 6}), 64, 64), fracture::Error);  // image 1 of 1
  EXPECT_THROW(loss({feats[0], feats[1]}, torch::zeros({0, 6}), 64, 64), fracture::Error);    // 2 maps, 3 strides
  EXPECT_THROW(loss({feats[0], feats[1], torch::zeros({1, 65, 2, 2})}, torch::zeros({0, 6}), 64, 64), fracture::Error);
  EXPECT_THROW(DetectionLoss(0), fracture::Error);
}

namespace {
struct OracleCase {
  int64_t B, nc, H, W;
  torch::Tensor targets;
  torch::Dtype dtype;
  double tol;
};

// Random feats, the C++ loss, the Python oracle on the same inputs; compares total, items, the
// assignment and d total / d feats (max-norm relative).
void run_oracle_case(const OracleCase& c, uint64_t seed, const std::string& tag) {
  torch::manual_seed(seed);
  const std::vector<double> strides{8, 16, 32};
  std::vector<torch::Tensor> feats;
  fracture::models::NamedTensors in;
  for (size_t i = 0; i < strides.size(); ++i) {
    auto f = (torch::randn({c.B, 64 + c.nc, c.H / static_cast<int64_t>(strides[i]), c.W / static_cast<int64_t>(strides[i])}) * 1.5)
                 .to(c.dtype);
    in.emplace_back("feat" + std::to_string(i), f);
    feats.push_back(f.clone().requires_grad_(true));
  }
  in.emplace_back("targets", c.targets.to(torch::kFloat));
  in.emplace_back("strides", torch::tensor(strides, torch::kFloat));
  in.emplace_back("meta", torch::tensor(std::vector<int64_t>{c.nc, c.H, c.W, 16}, torch::kLong));
  const auto dir = std::filesystem::temp_directory_path() / ("fracture_loss_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  fracture::models::write_safetensors(in, dir / "in.safetensors");
  const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/yolo_loss_ref.py " +
                          (dir / "in.safetensors").string() + " " + (dir / "out.safetensors").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto list = fracture::models::read_safetensors(dir / "out.safetensors");
  std::filesystem::remove_all(dir);
  std::map<std::string, torch::Tensor> ref(list.begin(), list.end());

  DetectionLoss loss(c.nc, strides);
  auto out = loss(feats, c.targets, c.H, c.W);
  out.total.backward();
  const double tol = c.tol;
  ASSERT_GT(ref.at("num_fg").item<int64_t>(), 0) << "scene without foreground tests too little";
  EXPECT_EQ(out.num_fg, ref.at("num_fg").item<int64_t>());
  EXPECT_NEAR(out.target_scores_sum, ref.at("target_scores_sum").item<double>(),
              tol * ref.at("target_scores_sum").item<double>());
  const double total_ref = ref.at("total").item<double>();
  EXPECT_NEAR(out.total.item<double>(), total_ref, tol * std::abs(total_ref)) << tag;
  for (int i = 0; i < 3; ++i) {
    const double r = ref.at("items")[i].item<double>();
    EXPECT_GT(r, 0.0) << "item " << i;
    EXPECT_NEAR(out.items[i].item<double>(), r, tol * std::abs(r)) << tag << " item " << i;
  }
  // The assignment itself.
  auto as = loss.assign(feats, c.targets, c.H, c.W);
  EXPECT_TRUE(torch::equal(as.fg_mask.to(torch::kLong), ref.at("fg"))) << tag;
  EXPECT_LE((as.target_scores - ref.at("target_scores")).abs().max().item<double>(), tol) << tag;
  for (int i = 0; i < 3; ++i) {
    auto g = feats[i].grad();
    auto gr = ref.at("grad" + std::to_string(i));
    ASSERT_EQ(g.sizes(), gr.sizes());
    const double scale = gr.abs().max().item<double>();
    ASSERT_GT(scale, 0.0);
    EXPECT_LE((g - gr).abs().max().item<double>(), tol * scale) << tag << " grad " << i;
  }
}

// Boxes that overlap within an image (so some anchors are candidates of two GTs), an image without
// boxes, and a non-square input (x scales by W, y by H).
torch::Tensor oracle_targets() {
  return t({0, 0, 0.40f, 0.50f, 0.50f, 0.60f,   // image 0: three overlapping boxes
            0, 2, 0.55f, 0.45f, 0.45f, 0.55f,   //
            0, 1, 0.70f, 0.60f, 0.30f, 0.50f,   //
            2, 1, 0.30f, 0.30f, 0.40f, 0.40f,   // image 2: two boxes (image 1 has none)
            2, 2, 0.75f, 0.70f, 0.35f, 0.45f},
           {5, 6});
}
}  // namespace

TEST(DetectLoss, MatchesPythonOracleFloat32) {
  run_oracle_case({3, 3, 64, 96, oracle_targets(), torch::kFloat, 1e-4}, 7, "f32");
}

TEST(DetectLoss, MatchesPythonOracleFloat64) {
  run_oracle_case({3, 3, 64, 96, oracle_targets(), torch::kDouble, 1e-9}, 11, "f64");
}

// More boxes per image at 128 px (A = 336) so that the top-10 cut-off selects among many candidates.
TEST(DetectLoss, MatchesPythonOracleManyBoxes) {
  torch::manual_seed(3);
  const int64_t n = 9;
  auto boxes = torch::rand({n, 4});
  auto targets = torch::stack({torch::tensor({0, 0, 0, 0, 1, 1, 1, 1, 1}, torch::kFloat),
                               torch::tensor({0, 1, 1, 0, 1, 0, 0, 1, 1}, torch::kFloat),
                               0.25 + 0.5 * boxes.select(1, 0), 0.25 + 0.5 * boxes.select(1, 1),
                               0.2 + 0.4 * boxes.select(1, 2), 0.2 + 0.4 * boxes.select(1, 3)},
                              1);
  run_oracle_case({2, 2, 128, 128, targets, torch::kDouble, 1e-9}, 5, "many");
}

// Sanity (not a proof): a tiny YOLOv8n (nc 2, 64 px, 2 images) fitting one fixed batch.
// (a) With the assignment frozen at step 0 (a fixed objective) 12 SGD steps lower the loss, its class
//     term and its DFL term. (The plain loss is not a fixed objective: as predictions align with the
//     GTs the soft targets grow and with them the box/DFL weights, so its value may rise early on.)
// (b) Training on the plain loss raises the alignment of predictions with the GTs, measured by the
//     sum of the soft target scores (score^0.5 * CIoU^6 normalised), by far.
TEST(DetectLoss, SgdStepsLowerTinyYolov8Loss) {
  torch::manual_seed(0);
  fracture::models::YoloV8Options o;
  o.scale = "n";
  o.nc = 2;
  auto images = torch::rand({2, 3, 64, 64});
  auto targets = t({0, 0, 0.5f, 0.5f, 0.4f, 0.3f, 1, 1, 0.3f, 0.6f, 0.25f, 0.5f, 1, 0, 0.7f, 0.3f, 0.3f, 0.3f}, {3, 6});
  DetectionLoss loss(2);
  {
    torch::manual_seed(0);
    fracture::models::YoloV8 net(o);
    net->train();
    auto as0 = loss.assign(net->forward_train(images), targets, 64, 64);
    ASSERT_GT(as0.fg_mask.sum().item<int64_t>(), 0);
    torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
    LossOutput first, last;
    for (int step = 0; step < 12; ++step) {
      sgd.zero_grad();
      auto out = loss.with_assignment(net->forward_train(images), as0);
      ASSERT_TRUE(std::isfinite(out.total.item<double>()));
      out.total.backward();
      sgd.step();
      if (step == 0) first = out;
      last = out;
    }
    EXPECT_LT(last.total.item<double>(), 0.95 * first.total.item<double>());
    EXPECT_LT(last.items[1].item<float>(), first.items[1].item<float>()) << "cls";
    EXPECT_LT(last.items[2].item<float>(), first.items[2].item<float>()) << "dfl";
  }
  {
    torch::manual_seed(0);
    fracture::models::YoloV8 net(o);
    net->train();
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(0.001));
    double first = 0, last = 0;
    for (int step = 0; step < 10; ++step) {
      adam.zero_grad();
      auto out = loss(net->forward_train(images), targets, 64, 64);
      ASSERT_TRUE(std::isfinite(out.total.item<double>()));
      out.total.backward();
      adam.step();
      if (step == 0) first = out.target_scores_sum;
      last = out.target_scores_sum;
    }
    EXPECT_GT(last, 10 * first) << "alignment sum " << first << " -> " << last;
  }
}
