// Detection metrics: hand-computed cases and a numpy oracle (tests/oracle/detection_ap_ref.py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
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
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.0 / 150.0);
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.0);
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {10, 10, 20, 20}), 0.0);  // touching corners
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {2, 2, 4, 4}), 4.0 / 100.0);
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

TEST(DetectionMetrics, MatchingTiesAndGreedy) {
  // Two identical predictions on one GT: tie in IoU, the lower prediction index wins.
  auto m = match_predictions({pred(0, 0, 10, 10, 0.9, 0), pred(0, 0, 10, 10, 0.9, 0)}, {gt(0, 0, 10, 10, 0)});
  ASSERT_EQ(m.size(), 2u);
  for (int t = 0; t < kNumIouThresholds; ++t) {
    EXPECT_TRUE(m[0][t]);
    EXPECT_FALSE(m[1][t]);
  }
  // Class mismatch never matches.
  m = match_predictions({pred(0, 0, 10, 10, 0.9, 1)}, {gt(0, 0, 10, 10, 0)});
  EXPECT_FALSE(m[0][0]);
  // Greedy by IoU: pairs (p0,g1) = 1, (p1,g1) = 80/100 = 0.8, (p0,g0) = 60/100 = 0.6,
  // (p1,g0) = 40/100 = 0.4. p0 takes g1 first; p1 is left with g0 below 0.5: one TP, although
  // p0-g0 + p1-g1 would have given two (greedy, not optimal, as Ultralytics).
  m = match_predictions({pred(0, 0, 10, 10, 0.5, 0), pred(0, 0, 10, 8, 0.9, 0)},
                        {gt(0, 4, 10, 10, 0), gt(0, 0, 10, 10, 0)});
  EXPECT_TRUE(m[0][0]);
  EXPECT_FALSE(m[1][0]);
  // IoU 0.72: true positive at 0.50..0.70 (5 thresholds), false at 0.75..0.95.
  m = match_predictions({pred(0, 0, 10, 7.2, 0.9, 0)}, {gt(0, 0, 10, 10, 0)});
  for (int t = 0; t < kNumIouThresholds; ++t) EXPECT_EQ(m[0][t], t < 5) << t;
  // No ground truth or no predictions.
  EXPECT_TRUE(match_predictions({}, {gt(0, 0, 1, 1, 0)}).empty());
  m = match_predictions({pred(0, 0, 1, 1, 0.5, 0)}, {});
  EXPECT_FALSE(m[0][0]);
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
  EXPECT_EQ(dm.confusion().matrix[0][1], 1);  // false alarm -> background column
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

TEST(DetectionMetrics, MatchesNumpyOracle) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  const int nc = 3;
  std::vector<std::array<bool, kNumIouThresholds>> tp;
  std::vector<double> conf;
  std::vector<int> pred_cls, target_cls;
  for (int i = 0; i < 180; ++i) target_cls.push_back(static_cast<int>(u(rng) * nc) % nc);
  for (int i = 0; i < 150; ++i) {
    std::array<bool, kNumIouThresholds> row{};
    const double q = u(rng);  // a "match quality": TP at the first k thresholds
    const int k = q < 0.4 ? 0 : static_cast<int>((q - 0.4) / 0.6 * 11);
    for (int t = 0; t < kNumIouThresholds; ++t) row[t] = t < k;
    tp.push_back(row);
    conf.push_back(std::round(u(rng) * 1000) / 1000);  // some ties
    pred_cls.push_back(static_cast<int>(u(rng) * nc) % nc);
  }
  nlohmann::json in;
  in["nc"] = nc;
  in["conf"] = conf;
  in["pred_cls"] = pred_cls;
  in["target_cls"] = target_cls;
  for (auto& row : tp) {
    std::vector<int> r;
    for (bool b : row) r.push_back(b ? 1 : 0);
    in["tp"].push_back(r);
  }
  const auto dir = std::filesystem::temp_directory_path() / ("fracture_detap_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  write_file_atomic(dir / "in.json", in.dump());
  const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/detection_ap_ref.py " +
                          (dir / "in.json").string() + " " + (dir / "out.json").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto out = nlohmann::json::parse(read_file(dir / "out.json"));
  std::filesystem::remove_all(dir);

  DetectionResults r = ap_per_class(tp, conf, pred_cls, target_cls, {"a", "b", "c"});
  // (ap_per_class refuses more true positives of a class than its ground truth: see BadInputIsRejected.)
  ASSERT_EQ(r.per_class.size(), out["classes"].size());
  for (size_t c = 0; c < r.per_class.size(); ++c) {
    EXPECT_EQ(r.per_class[c].cls, out["classes"][c].get<int>());
    for (int t = 0; t < kNumIouThresholds; ++t)
      EXPECT_NEAR(r.per_class[c].ap_iou[t], out["ap"][c][t].get<double>(), 1e-12) << c << " " << t;
    EXPECT_NEAR(r.per_class[c].p, out["p"][c].get<double>(), 1e-12);
    EXPECT_NEAR(r.per_class[c].r, out["r"][c].get<double>(), 1e-12);
  }
  EXPECT_NEAR(r.map50, out["map50"].get<double>(), 1e-12);
  EXPECT_NEAR(r.map, out["map"].get<double>(), 1e-12);
  EXPECT_GT(r.map50, 0.05);  // the random case is not degenerate
}
