// Detection metrics: hand-computed cases and a reference following Ultralytics 8.1.0 step by step
// (tests/oracle/ultralytics_val_ref.py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/eval/detection_metrics.h"

using namespace fracture;

namespace {

Prediction pred(double x1, double y1, double x2, double y2, double conf, int cls) {
  return Prediction{BoxXyxy{x1, y1, x2, y2}, conf, cls};
}
GroundTruth gt(double x1, double y1, double x2, double y2, int cls) { return GroundTruth{BoxXyxy{x1, y1, x2, y2}, cls}; }

}  // namespace

TEST(DetectionMetrics, BoxIouHandComputed) {
  // Ultralytics' box_iou: inter / (union + 1e-7).
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.0 / (150.0 + 1e-7));
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {0, 0, 10, 10}), 100.0 / (100.0 + 1e-7));
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {10, 10, 20, 20}), 0.0);  // touching corners
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {2, 2, 4, 4}), 4.0 / (100.0 + 1e-7));
  EXPECT_DOUBLE_EQ(box_iou({1, 1, 1, 1}, {1, 1, 1, 1}), 0.0);  // empty union
}

TEST(DetectionMetrics, IouThresholds) {
  auto t = iou_thresholds();
  EXPECT_DOUBLE_EQ(t[0], 0.5);
  EXPECT_DOUBLE_EQ(t[5], 0.75);
  EXPECT_DOUBLE_EQ(t[9], 0.95);
}

TEST(DetectionMetrics, NpInterpMatchesNumpyRules) {
  std::vector<double> xp = {0, 0.5, 0.5, 1}, fp = {1, 1, 0.5, 0};
  EXPECT_DOUBLE_EQ(np_interp(0.25, xp, fp, 9, 9), 1.0);
  EXPECT_DOUBLE_EQ(np_interp(0.5, xp, fp, 9, 9), 0.5);  // duplicate xp: the last one wins
  EXPECT_DOUBLE_EQ(np_interp(0.75, xp, fp, 9, 9), 0.25);
  EXPECT_DOUBLE_EQ(np_interp(1.0, xp, fp, 9, 9), 0.0);
  EXPECT_DOUBLE_EQ(np_interp(-1.0, xp, fp, 7, 9), 7.0);
  EXPECT_DOUBLE_EQ(np_interp(2.0, xp, fp, 7, 9), 9.0);
}

TEST(DetectionMetrics, ComputeApHandComputed) {
  // Perfect: envelope 1 up to recall 1, then the (1, 0) sentinel: the last trapezoid loses 0.005.
  EXPECT_NEAR(compute_ap({0.5, 1.0}, {1.0, 1.0}), 0.995, 1e-12);
  // One TP then one FP with 2 GT: recall (0.5, 0.5), precision (1, 0.5).
  // Samples: 1 for r < 0.5 (49 segments = 0.49), 0.5 at r = 0.5 (segment 0.0075), then 1 - r
  // from 0.5 to 1 (0.125): 0.6225.
  EXPECT_NEAR(compute_ap({0.5, 0.5}, {1.0, 0.5}), 0.6225, 1e-12);
  // No TP at all: AP 0.
  EXPECT_NEAR(compute_ap({0.0, 0.0}, {0.0, 0.0}), 0.0, 1e-12);
}

TEST(DetectionMetrics, MatchingBasics) {
  for (MatchRule rule : {MatchRule::ultralytics, MatchRule::coco, MatchRule::hungarian}) {
    // Two identical predictions on one GT: one true positive, one false.
    auto m = match_predictions({pred(0, 0, 10, 10, 0.9, 0), pred(0, 0, 10, 10, 0.8, 0)}, {gt(0, 0, 10, 10, 0)}, rule);
    ASSERT_EQ(m.size(), 2u);
    for (int t = 0; t < kNumIouThresholds; ++t) EXPECT_NE(m[0][t], m[1][t]) << to_string(rule);
    // Class mismatch never matches.
    m = match_predictions({pred(0, 0, 10, 10, 0.9, 1)}, {gt(0, 0, 10, 10, 0)}, rule);
    EXPECT_FALSE(m[0][0]);
    // IoU 0.72: true positive at 0.50..0.70 (5 thresholds), false at 0.75..0.95.
    m = match_predictions({pred(0, 0, 10, 7.2, 0.9, 0)}, {gt(0, 0, 10, 10, 0)}, rule);
    for (int t = 0; t < kNumIouThresholds; ++t) EXPECT_EQ(m[0][t], t < 5) << t << " " << to_string(rule);
    // No ground truth or no predictions.
    EXPECT_TRUE(match_predictions({}, {gt(0, 0, 1, 1, 0)}, rule).empty());
    m = match_predictions({pred(0, 0, 1, 1, 0.5, 0)}, {}, rule);
    EXPECT_FALSE(m[0][0]);
  }
  EXPECT_EQ(parse_match_rule("coco"), MatchRule::coco);
  EXPECT_THROW(parse_match_rule("greedy"), Error);
}

// A scene where the three rules disagree, with each rule's correct matrix written out. Predictions
// in NMS order (decreasing confidence), all of class 0:
//   left:  g0 = (0,0,10,10); d0 (conf .90) = (0,0,10,6.2) IoU .62; d1 (.88) = (0,0,10,9.1) IoU .91:
//          two detections on one box, the more confident one with the lower IoU.
//   right: g1 = (100,0,110,10), g2 = (100,2,110,12); d2 (.85) = g1, IoU 1 with g1 and 80/120 = .667
//          with g2; d3 (.80) = (100,1,110,10), IoU .9 with g1 and 80/110 = .727 with g2: a detection
//          overlapping two boxes whose best box goes to another detection.
// Ultralytics: a label goes to the lowest-index detection among those whose best label it is, and a
// detection never falls back to its second-best label. COCO: by confidence, best unmatched IoU.
// Hungarian: the largest total IoU.
TEST(DetectionMetrics, RulesDisagreeOnAHandMadeScene) {
  const std::vector<Prediction> preds = {pred(0, 0, 10, 6.2, 0.90, 0), pred(0, 0, 10, 9.1, 0.88, 0),
                                         pred(100, 0, 110, 10, 0.85, 0), pred(100, 1, 110, 10, 0.80, 0)};
  const std::vector<GroundTruth> gts = {gt(0, 0, 10, 10, 0), gt(100, 0, 110, 10, 0), gt(100, 2, 110, 12, 0)};
  // Rows d0..d3, columns IoU 0.50 0.55 ... 0.95.
  const std::vector<std::string> want_ultralytics = {"1110000000",   // d0 holds g0 while its IoU .62 counts
                                                     "0001111110",   // d1 only once d0 drops out (t > .62)
                                                     "1111111111",   // d2 = g1
                                                     "0000000000"};  // d3: its best (g1) went to d2; no fallback to g2
  const std::vector<std::string> want_coco = {"1110000000", "0001111110", "1111111111",
                                              "1111100000"};  // d3 falls back to g2 (IoU .727) up to t = .70
  const std::vector<std::string> want_hungarian = {"0000000000",   // d1's .91 beats d0's .62
                                                   "1111111110", "1111111111",
                                                   "1111100000"};  // d2-g1 + d3-g2 = 1.727 > d2-g2 + d3-g1 = 1.567
  auto check = [&](MatchRule rule, const std::vector<std::string>& want) {
    auto m = match_predictions(preds, gts, rule);
    ASSERT_EQ(m.size(), want.size());
    for (size_t d = 0; d < want.size(); ++d) {
      std::string got;
      for (int t = 0; t < kNumIouThresholds; ++t) got += m[d][t] ? '1' : '0';
      EXPECT_EQ(got, want[d]) << to_string(rule) << " d" << d;
    }
  };
  check(MatchRule::ultralytics, want_ultralytics);
  check(MatchRule::coco, want_coco);
  check(MatchRule::hungarian, want_hungarian);
  // The rule fracture used before (greedy by IoU over all pairs) made d1, d2 and d3 true positives at
  // 0.5, unlike Ultralytics (d0 and d2): the disagreement that halved mAP on real data.
}

TEST(DetectionMetrics, PerfectDetector) {
  DetectionMetrics dm({"a", "b"});
  dm.update({pred(0, 0, 10, 10, 0.9, 0), pred(20, 20, 40, 40, 0.8, 1)}, {gt(0, 0, 10, 10, 0), gt(20, 20, 40, 40, 1)});
  dm.update({pred(5, 5, 15, 15, 0.7, 0)}, {gt(5, 5, 15, 15, 0)});
  DetectionResults r = dm.compute();
  ASSERT_EQ(r.per_class.size(), 2u);
  EXPECT_NEAR(r.map50, 0.995, 1e-12);  // Ultralytics' ceiling (trapezoid to the (1, 0) sentinel)
  EXPECT_NEAR(r.map, 0.995, 1e-12);
  EXPECT_NEAR(r.mp, 1.0, 1e-12);
  EXPECT_NEAR(r.mr, 1.0, 1e-12);
  EXPECT_EQ(r.per_class[0].n_gt, 2);
  EXPECT_EQ(r.per_class[0].name, "a");
  EXPECT_EQ(r.n_images, 2);
  EXPECT_NEAR(r.fitness(), 0.995, 1e-12);
}

TEST(DetectionMetrics, NoPredictions) {
  DetectionMetrics dm({"a"});
  dm.update({}, {gt(0, 0, 10, 10, 0)});
  DetectionResults r = dm.compute();
  ASSERT_EQ(r.per_class.size(), 1u);
  EXPECT_EQ(r.per_class[0].n_pred, 0);
  EXPECT_EQ(r.map50, 0.0);
  EXPECT_EQ(r.map, 0.0);
  EXPECT_EQ(r.mp, 0.0);
  EXPECT_EQ(r.mr, 0.0);
  EXPECT_EQ(dm.confusion().matrix[1][0], 1);  // missed -> background row
}

TEST(DetectionMetrics, NoGroundTruth) {
  DetectionMetrics dm({"a"});
  dm.update({pred(0, 0, 10, 10, 0.9, 0)}, {});
  DetectionResults r = dm.compute();
  EXPECT_TRUE(r.per_class.empty());
  EXPECT_EQ(r.map50, 0.0);
  EXPECT_EQ(r.map, 0.0);
  EXPECT_EQ(r.n_gt, 0);
  // Ultralytics 8.1.0 (DetectionValidator.update_metrics) calls ConfusionMatrix.process_batch only
  // for images with labels, so a false alarm on a background image is not counted there; we follow it.
  EXPECT_EQ(dm.confusion().matrix[0][1], 0);
  EXPECT_EQ(dm.confusion().matrix[0][0], 0);
}

TEST(DetectionMetrics, ClassWithGroundTruthButNoDetections) {
  DetectionMetrics dm({"a", "b", "c"});
  // a: perfect; b: ground truth, never detected; c: no ground truth, its prediction is ignored.
  dm.update({pred(0, 0, 10, 10, 0.9, 0), pred(50, 50, 60, 60, 0.95, 2)}, {gt(0, 0, 10, 10, 0), gt(20, 20, 30, 30, 1)});
  DetectionResults r = dm.compute();
  ASSERT_EQ(r.per_class.size(), 2u);
  EXPECT_EQ(r.per_class[1].cls, 1);
  EXPECT_EQ(r.per_class[1].ap50, 0.0);
  EXPECT_NEAR(r.map50, 0.995 / 2, 1e-12);
  EXPECT_NEAR(r.map, 0.995 / 2, 1e-12);
  EXPECT_NEAR(r.mr, 0.5, 1e-12);  // a: recall 1, b: recall 0
}

TEST(DetectionMetrics, HalfRightByHand) {
  // One class, 2 GT. p0 (conf 0.9) hits GT A with IoU 0.72; p1 (conf 0.8) hits nothing; GT B missed.
  DetectionMetrics dm({"fracture"});
  dm.update({pred(0, 0, 10, 7.2, 0.9, 0), pred(100, 100, 110, 110, 0.8, 0)},
            {gt(0, 0, 10, 10, 0), gt(40, 40, 50, 50, 0)});
  DetectionResults r = dm.compute();
  ASSERT_EQ(r.per_class.size(), 1u);
  // IoU 0.50..0.70: AP 0.6225 (see ComputeApHandComputed); 0.75..0.95: no TP, AP 0.
  for (int t = 0; t < kNumIouThresholds; ++t) EXPECT_NEAR(r.per_class[0].ap_iou[t], t < 5 ? 0.6225 : 0.0, 1e-12) << t;
  EXPECT_NEAR(r.map50, 0.6225, 1e-12);
  EXPECT_NEAR(r.map, 0.6225 * 5 / 10, 1e-12);
  EXPECT_NEAR(r.map75, 0.0, 1e-12);
  // Recall is 0.5 at every confidence <= 0.9 and the best-F1 confidence lies below 0.9 (F1 0 above).
  EXPECT_LE(r.conf_at_best_f1, 0.9);
  EXPECT_NEAR(r.mr, 0.5, 1e-12);
  EXPECT_GE(r.mp, 0.5);
  EXPECT_LE(r.mp, 1.0);
}

TEST(DetectionMetrics, ConfusionMatrixByHand) {
  DetectionMetrics dm({"a", "b"});
  dm.update({pred(0, 0, 10, 10, 0.9, 0),      // matches g0, right class   -> M[0][0]
             pred(20, 20, 30, 30, 0.8, 0),    // matches g1, wrong class   -> M[0][1]
             pred(50, 50, 60, 60, 0.2, 1),    // below conf 0.25: dropped  -> g2 missed M[2][0]
             pred(80, 80, 90, 90, 0.5, 1)},   // no GT                     -> M[1][2]
            {gt(0, 0, 10, 10, 0), gt(20, 20, 30, 30, 1), gt(50, 50, 60, 60, 0)});
  const auto& m = dm.confusion().matrix;
  std::vector<std::vector<int64_t>> want = {{1, 1, 0}, {0, 0, 1}, {1, 0, 0}};
  EXPECT_EQ(m, want);
}

TEST(DetectionMetrics, BadInputIsRejected) {
  DetectionMetrics dm({"a"});
  try {
    dm.update({pred(0, 0, 10, 10, 0.9, 3)}, {});
    FAIL() << "expected fracture::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("class 3 is outside [0, 1)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(dm.update({}, {gt(10, 0, 0, 10, 0)}), Error);
  EXPECT_THROW(dm.update({pred(0, 0, 1, 1, 1.5, 0)}, {}), Error);
  EXPECT_THROW(DetectionMetrics({}), Error);
  // More true positives than ground truth boxes (recall > 1) is inconsistent input.
  std::array<bool, kNumIouThresholds> all{};
  all.fill(true);
  EXPECT_THROW(ap_per_class({all, all}, {0.9, 0.8}, {0, 0}, {0}, {"a"}), Error);
}

// Random scenes scored by our DetectionMetrics and by tests/oracle/ultralytics_val_ref.py, which
// follows Ultralytics 8.1.0's validator and metrics source step by step in numpy (and pycocotools'
// evaluateImg for "coco", scipy's linear_sum_assignment for "hungarian"): the true-positive matrix
// per prediction must be identical, P, R, mAP50, mAP50-95 and per-class AP within 1e-12, and the
// confusion matrix identical. Predictions cluster around the ground truth (several per box, some
// spanning two boxes) so that the rules disagree, which is checked too.
TEST(DetectionMetrics, MatchesUltralyticsStepByStepReference) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  const int nc = 3;
  const std::vector<std::string> names = {"a", "b", "c"};
  struct Image {
    std::vector<Prediction> preds;
    std::vector<GroundTruth> gts;
  };
  std::vector<Image> images;
  for (int i = 0; i < 60; ++i) {
    Image im;
    const int n_gt = i % 10 == 9 ? 0 : 1 + static_cast<int>(u(rng) * 4);
    for (int g = 0; g < n_gt; ++g) {
      const double x = u(rng) * 200, y = u(rng) * 200, w = 10 + u(rng) * 40, h = 10 + u(rng) * 40;
      im.gts.push_back(gt(x, y, x + w, y + h, static_cast<int>(u(rng) * nc) % nc));
      if (g > 0 && u(rng) < 0.5) {  // a second box overlapping the previous one
        const BoxXyxy& b = im.gts[g - 1].box;
        im.gts[g].box = {b.x1 + u(rng) * 8, b.y1 + u(rng) * 8, b.x2 + u(rng) * 8, b.y2 + u(rng) * 8};
      }
    }
    const int n_pred = i % 10 == 4 ? 0 : static_cast<int>(u(rng) * 12);
    std::vector<double> confs;
    for (int p = 0; p < n_pred; ++p) confs.push_back(u(rng));
    std::sort(confs.rbegin(), confs.rend());  // NMS order
    for (int p = 0; p < n_pred; ++p) {
      BoxXyxy b{u(rng) * 200, u(rng) * 200, 0, 0};
      b.x2 = b.x1 + 10 + u(rng) * 40;
      b.y2 = b.y1 + 10 + u(rng) * 40;
      int cls = static_cast<int>(u(rng) * nc) % nc;
      if (!im.gts.empty() && u(rng) < 0.8) {  // near a ground-truth box, usually of its class
        const GroundTruth& g = im.gts[static_cast<size_t>(u(rng) * im.gts.size()) % im.gts.size()];
        const double j = 1 + u(rng) * 6;
        b = {g.box.x1 + (u(rng) - 0.5) * j, g.box.y1 + (u(rng) - 0.5) * j, g.box.x2 + (u(rng) - 0.5) * j,
             g.box.y2 + (u(rng) - 0.5) * j};
        if (u(rng) < 0.85) cls = g.cls;
      }
      im.preds.push_back(Prediction{b, confs[p], cls});
    }
    images.push_back(im);
  }
  nlohmann::json in;
  in["nc"] = nc;
  for (const auto& im : images) {
    nlohmann::json j;
    j["preds"] = nlohmann::json::array();
    j["gts"] = nlohmann::json::array();
    for (const auto& p : im.preds) j["preds"].push_back({p.box.x1, p.box.y1, p.box.x2, p.box.y2, p.conf, p.cls});
    for (const auto& g : im.gts) j["gts"].push_back({g.cls, g.box.x1, g.box.y1, g.box.x2, g.box.y2});
    in["images"].push_back(j);
  }
  const auto dir = std::filesystem::temp_directory_path() / ("fracture_detref_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  write_file_atomic(dir / "in.json", in.dump());
  const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/ultralytics_val_ref.py " +
                          (dir / "in.json").string() + " " + (dir / "out.json").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto out = nlohmann::json::parse(read_file(dir / "out.json"));
  std::filesystem::remove_all(dir);

  std::map<std::string, int> tp_count;
  std::map<std::string, std::vector<std::array<bool, kNumIouThresholds>>> tp_of;
  for (MatchRule rule : {MatchRule::ultralytics, MatchRule::coco, MatchRule::hungarian}) {
    const auto& ref = out[to_string(rule)];
    DetectionMetrics dm(names, rule);
    std::vector<std::array<bool, kNumIouThresholds>> tp;
    for (const auto& im : images) {
      dm.update(im.preds, im.gts);
      for (const auto& row : match_predictions(im.preds, im.gts, rule)) tp.push_back(row);
    }
    ASSERT_EQ(tp.size(), ref["tp"].size()) << to_string(rule);
    int differing = 0, n_tp = 0;
    for (size_t k = 0; k < tp.size(); ++k)
      for (int t = 0; t < kNumIouThresholds; ++t) {
        differing += tp[k][t] != (ref["tp"][k][t].get<int>() == 1);
        n_tp += tp[k][t];
      }
    EXPECT_EQ(differing, 0) << to_string(rule) << ": true-positive entries differing from the reference";
    tp_count[to_string(rule)] = n_tp;
    tp_of[to_string(rule)] = tp;
    const DetectionResults r = dm.compute();
    EXPECT_NEAR(r.mp, ref["mp"].get<double>(), 1e-12) << to_string(rule);
    EXPECT_NEAR(r.mr, ref["mr"].get<double>(), 1e-12) << to_string(rule);
    EXPECT_NEAR(r.map50, ref["map50"].get<double>(), 1e-12) << to_string(rule);
    EXPECT_NEAR(r.map, ref["map"].get<double>(), 1e-12) << to_string(rule);
    ASSERT_EQ(r.per_class.size(), ref["classes"].size()) << to_string(rule);
    for (size_t c = 0; c < r.per_class.size(); ++c) {
      EXPECT_EQ(r.per_class[c].cls, ref["classes"][c].get<int>());
      for (int t = 0; t < kNumIouThresholds; ++t)
        EXPECT_NEAR(r.per_class[c].ap_iou[t], ref["ap"][c][t].get<double>(), 1e-12) << to_string(rule) << c << t;
      EXPECT_NEAR(r.per_class[c].p, ref["p"][c].get<double>(), 1e-12);
      EXPECT_NEAR(r.per_class[c].r, ref["r"][c].get<double>(), 1e-12);
    }
    EXPECT_GT(r.map50, 0.1) << "the random scenes are not degenerate";
    if (rule == MatchRule::ultralytics) {
      const auto& m = dm.confusion().matrix;
      for (int a = 0; a <= nc; ++a)
        for (int b = 0; b <= nc; ++b) EXPECT_EQ(m[a][b], out["confusion"][a][b].get<int64_t>()) << a << " " << b;
    }
  }
  // The scenes exercise the differences between the rules.
  std::printf("true-positive entries: ultralytics %d, coco %d, hungarian %d\n", tp_count["ultralytics"],
              tp_count["coco"], tp_count["hungarian"]);
  EXPECT_TRUE(tp_of["ultralytics"] != tp_of["coco"]);
  EXPECT_TRUE(tp_of["coco"] != tp_of["hungarian"]);
}
