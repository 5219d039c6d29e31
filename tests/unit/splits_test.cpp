// Cross-validation splits: stratified / repeated / grouped k-fold, hold-out by group, split files.
// The plain stratified k-fold is compared with scikit-learn's StratifiedKFold (fold sizes and
// per-class counts) through tests/oracle/splits_oracle.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/data/splits.h"

namespace fs = std::filesystem;
using fracture::Error;

namespace {

std::vector<int> make_labels(const std::vector<int>& per_class) {
  std::vector<int> y;
  for (size_t c = 0; c < per_class.size(); ++c)
    for (int i = 0; i < per_class[c]; ++i) y.push_back(int(c));
  // Interleave deterministically so class order in the input is not sorted.
  std::mt19937 rng(7);
  for (size_t i = y.size(); i > 1; --i) std::swap(y[i - 1], y[rng() % i]);
  return y;
}

// counts[f][c]
std::vector<std::vector<int>> fold_class_counts(const std::vector<int>& y, const std::vector<int>& fold, int k) {
  int nc = *std::max_element(y.begin(), y.end()) + 1;
  std::vector<std::vector<int>> n(k, std::vector<int>(nc, 0));
  for (size_t i = 0; i < y.size(); ++i) {
    EXPECT_GE(fold[i], 0);
    EXPECT_LT(fold[i], k);
    n[fold[i]][y[i]]++;
  }
  return n;
}

fs::path temp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("fracture_splits_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Synthetic cohort: patients with 1..4 images, a per-patient label (fractured patients have mostly
// positive images), some items with no patient id.
void make_cohort(int n_patients, uint64_t seed, std::vector<int>* y, std::vector<std::string>* g) {
  std::mt19937_64 rng(seed);
  for (int p = 0; p < n_patients; ++p) {
    int n = 1 + int(rng() % 4);
    int base = (rng() % 3 == 0) ? 1 : 0;
    for (int i = 0; i < n; ++i) {
      y->push_back((rng() % 5 == 0) ? 1 - base : base);
      g->push_back("P" + std::to_string(p));
    }
  }
  for (int i = 0; i < 10; ++i) y->push_back(int(rng() % 2)), g->push_back("");
}

}  // namespace

TEST(Splits, StratifiedEachItemOnceWithinOneSample) {
  std::vector<int> y = make_labels({37, 13, 5});
  for (int k : {2, 3, 5}) {
    std::vector<int> fold = fracture::stratified_kfold(y, k, 42);
    ASSERT_EQ(fold.size(), y.size());
    auto n = fold_class_counts(y, fold, k);
    std::vector<int> size(k, 0);
    for (int f = 0; f < k; ++f)
      for (int c : n[f]) size[f] += c;
    EXPECT_LE(*std::max_element(size.begin(), size.end()) - *std::min_element(size.begin(), size.end()), 1) << k;
    for (int c = 0; c < 3; ++c) {
      int lo = 1 << 30, hi = 0;
      for (int f = 0; f < k; ++f) lo = std::min(lo, n[f][c]), hi = std::max(hi, n[f][c]);
      EXPECT_LE(hi - lo, 1) << "class " << c << " k " << k;
    }
  }
}

TEST(Splits, StratifiedMatchesSklearnSizesAndClassCounts) {
  fs::path dir = temp_dir("oracle");
  const std::vector<std::pair<std::vector<int>, int>> cases = {
      {{7, 5}, 5}, {{37, 13, 5}, 5}, {{10, 10}, 3}, {{23, 4, 9, 6}, 4}, {{101, 37}, 10}, {{3, 3, 3}, 2}};
  nlohmann::json in = nlohmann::json::array();
  std::vector<std::vector<int>> ys;
  for (const auto& [per_class, k] : cases) {
    ys.push_back(make_labels(per_class));
    in.push_back({{"k", k}, {"labels", ys.back()}});
  }
  fracture::write_file_atomic(dir / "in.json", in.dump());
  std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/splits_oracle.py " +
                    (dir / "in.json").string() + " " + (dir / "out.json").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  nlohmann::json ref_all = nlohmann::json::parse(fracture::read_file(dir / "out.json"));
  ASSERT_EQ(ref_all.size(), cases.size());
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const std::vector<int>& y = ys[ci];
    const int k = cases[ci].second;
    const nlohmann::json& ref = ref_all[ci];
    ASSERT_EQ(ref["sizes"].size(), size_t(k));
    for (uint64_t seed : {0ull, 1ull, 12345ull}) {
      std::vector<int> fold = fracture::stratified_kfold(y, k, seed);
      auto n = fold_class_counts(y, fold, k);
      for (int f = 0; f < k; ++f) {
        int size = 0;
        for (size_t c = 0; c < n[f].size(); ++c) {
          EXPECT_EQ(n[f][c], ref["counts"][f][c].get<int>()) << "case " << ci << " fold " << f << " class " << c;
          size += n[f][c];
        }
        EXPECT_EQ(size, ref["sizes"][f].get<int>()) << "case " << ci << " fold " << f;
      }
    }
  }
  fs::remove_all(dir);
}

TEST(Splits, DeterministicForSeedAndSeedsDiffer) {
  std::vector<int> y = make_labels({40, 20});
  EXPECT_EQ(fracture::stratified_kfold(y, 5, 3), fracture::stratified_kfold(y, 5, 3));
  EXPECT_NE(fracture::stratified_kfold(y, 5, 3), fracture::stratified_kfold(y, 5, 4));
  std::vector<int> gy;
  std::vector<std::string> g;
  make_cohort(80, 1, &gy, &g);
  EXPECT_EQ(fracture::stratified_group_kfold(gy, g, 5, 9), fracture::stratified_group_kfold(gy, g, 5, 9));
  EXPECT_NE(fracture::stratified_group_kfold(gy, g, 5, 9), fracture::stratified_group_kfold(gy, g, 5, 10));
}

TEST(Splits, RepeatsDifferAndEachIsAPartition) {
  std::vector<int> y = make_labels({30, 12});
  auto reps = fracture::repeated_kfold(y, {}, 4, 3, 0);
  ASSERT_EQ(reps.size(), 3u);
  EXPECT_NE(reps[0], reps[1]);
  EXPECT_NE(reps[1], reps[2]);
  EXPECT_NE(reps[0], reps[2]);
  for (const auto& fold : reps) {
    auto n = fold_class_counts(y, fold, 4);
    for (int f = 0; f < 4; ++f) {
      EXPECT_GE(n[f][1], 3);
      EXPECT_LE(n[f][1], 3);  // 12 positives over 4 folds: exactly 3 each
    }
  }
  // A repeat can be regenerated alone from its seed.
  EXPECT_EQ(reps[2], fracture::stratified_kfold(y, 4, fracture::repeat_seed(0, 2)));
  EXPECT_NE(fracture::repeat_seed(0, 0), fracture::repeat_seed(1, 0));
}

TEST(Splits, GroupedNoPatientInTwoFoldsAndBalanced) {
  std::vector<int> y;
  std::vector<std::string> g;
  make_cohort(150, 5, &y, &g);
  const int k = 5;
  auto reps = fracture::repeated_kfold(y, g, k, 3, 11);
  double total_pos = 0;
  for (int v : y) total_pos += v;
  for (const auto& fold : reps) {
    std::map<std::string, std::set<int>> folds_of;
    for (size_t i = 0; i < y.size(); ++i)
      if (!g[i].empty()) folds_of[g[i]].insert(fold[i]);
    for (const auto& [pid, fs_] : folds_of) EXPECT_EQ(fs_.size(), 1u) << pid << " is in several folds";
    auto n = fold_class_counts(y, fold, k);
    for (int f = 0; f < k; ++f) {
      double size = n[f][0] + n[f][1];
      // Each fold holds about 1/k of the items and 1/k of each class (tolerance: groups are up to 4 images).
      EXPECT_NEAR(size / y.size(), 1.0 / k, 0.03) << "fold " << f;
      EXPECT_NEAR(n[f][1] / total_pos, 1.0 / k, 0.03) << "fold " << f;
      EXPECT_NEAR(n[f][1] / size, total_pos / y.size(), 0.06) << "fold " << f;
    }
  }
  EXPECT_NE(reps[0], reps[1]);
}

// Patient-grouped folds against scikit-learn's own StratifiedGroupKFold (tests/oracle/
// group_kfold_oracle.py): groups whose class counts all have different standard deviations fix the
// greedy order whatever the shuffle, so every item must land in sklearn's fold, for any seed.
TEST(Splits, GroupedMatchesSklearnStratifiedGroupKFold) {
  fs::path dir = temp_dir("group_oracle");
  std::mt19937 rng(5);
  nlohmann::json in = nlohmann::json::array();
  struct Case {
    std::vector<int> y;
    std::vector<std::string> g;
    int k;
  };
  std::vector<Case> cases;
  for (int k : {2, 3, 5})
    for (int ng : {12, 20, 31}) {
      Case c{{}, {}, k};
      // group j: |positives - negatives| = j (distinct for every group), plus a random common part
      for (int j = 0; j < ng; ++j) {
        const int common = int(rng() % 4), pos = common + (j % 2 ? j : 0), neg = common + (j % 2 ? 0 : j);
        for (int i = 0; i < pos; ++i) c.y.push_back(1), c.g.push_back("P" + std::to_string(j));
        for (int i = 0; i < neg; ++i) c.y.push_back(0), c.g.push_back("P" + std::to_string(j));
      }
      // shuffle the items (not the groups' contents): the item order must not matter either
      std::vector<size_t> order(c.y.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      Case s{{}, {}, k};
      for (size_t i : order) s.y.push_back(c.y[i]), s.g.push_back(c.g[i]);
      in.push_back({{"k", k}, {"labels", s.y}, {"groups", s.g}});
      cases.push_back(s);
    }
  fracture::write_file_atomic(dir / "in.json", in.dump());
  std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/group_kfold_oracle.py " +
                    (dir / "in.json").string() + " " + (dir / "out.json").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  nlohmann::json ref = nlohmann::json::parse(fracture::read_file(dir / "out.json"));
  ASSERT_EQ(ref.size(), cases.size());
  for (size_t ci = 0; ci < cases.size(); ++ci)
    for (uint64_t seed : {0ull, 7ull}) {
      const std::vector<int> fold = fracture::stratified_group_kfold(cases[ci].y, cases[ci].g, cases[ci].k, seed);
      EXPECT_EQ(fold, ref[ci].get<std::vector<int>>()) << "case " << ci << " k " << cases[ci].k << " seed " << seed;
    }
}

TEST(Splits, GroupedEmptyIdsAreTheirOwnGroups) {
  // All ids empty: every item its own group, so the grouped split is still a fine stratified split.
  std::vector<int> y = make_labels({20, 10});
  std::vector<std::string> g(y.size());
  std::vector<int> fold = fracture::stratified_group_kfold(y, g, 5, 0);
  auto n = fold_class_counts(y, fold, 5);
  for (int f = 0; f < 5; ++f) {
    EXPECT_EQ(n[f][0], 4);
    EXPECT_EQ(n[f][1], 2);
  }
}

TEST(Splits, Errors) {
  std::vector<int> y = make_labels({10, 3});
  try {
    fracture::stratified_kfold(y, 5, 0, {"not_fractured", "fractured"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'fractured'"), std::string::npos) << m;
    EXPECT_NE(m.find("has 3 items but 5 folds"), std::string::npos) << m;
  }
  EXPECT_THROW(fracture::stratified_kfold(y, 1, 0), Error);
  EXPECT_THROW(fracture::stratified_kfold({}, 2, 0), Error);
  EXPECT_THROW(fracture::stratified_kfold({0, 1, -1, 0}, 2, 0), Error);
  // Grouped: 10 positives but all from two patients.
  std::vector<int> gy;
  std::vector<std::string> g;
  for (int i = 0; i < 20; ++i) gy.push_back(0), g.push_back("N" + std::to_string(i));
  for (int i = 0; i < 10; ++i) gy.push_back(1), g.push_back(i < 5 ? "A" : "B");
  try {
    fracture::stratified_group_kfold(gy, g, 3, 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("only 2 patient groups"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fracture::stratified_group_kfold(gy, {"a"}, 3, 0), Error);
  EXPECT_THROW(fracture::repeated_kfold(gy, g, 2, 0, 0), Error);
}

TEST(Splits, HoldOutByGroup) {
  std::vector<int> y;
  std::vector<std::string> g;
  make_cohort(200, 3, &y, &g);
  std::vector<int> s = fracture::split_by_group(y, g, 0.7, 0.15, 0.15, 1);
  EXPECT_EQ(s, fracture::split_by_group(y, g, 0.7, 0.15, 0.15, 1));
  std::map<std::string, std::set<int>> where;
  double n[3] = {0, 0, 0}, pos[3] = {0, 0, 0}, total_pos = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    ASSERT_GE(s[i], 0);
    ASSERT_LE(s[i], 2);
    if (!g[i].empty()) where[g[i]].insert(s[i]);
    n[s[i]]++, pos[s[i]] += y[i], total_pos += y[i];
  }
  for (const auto& [pid, ss] : where) EXPECT_EQ(ss.size(), 1u) << pid;
  const double frac[3] = {0.7, 0.15, 0.15};
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(n[k] / y.size(), frac[k], 0.02) << k;
    EXPECT_NEAR(pos[k] / total_pos, frac[k], 0.03) << k;
  }
  std::vector<int> no_test = fracture::split_by_group(y, g, 0.8, 0.2, 0.0, 1);
  EXPECT_EQ(std::count(no_test.begin(), no_test.end(), 2), 0);
  EXPECT_THROW(fracture::split_by_group(y, g, 0.7, 0.2, 0.2, 1), Error);
  EXPECT_THROW(fracture::split_by_group(y, g, 0.0, 0.5, 0.5, 1), Error);
  EXPECT_THROW(fracture::split_by_group(y, g, 1.1, -0.1, 0.0, 1), Error);
}

TEST(Splits, CvSplitsRolesAndFileRoundTrip) {
  fs::path dir = temp_dir("csv");
  std::vector<fracture::SplitItem> items;
  for (int i = 0; i < 30; ++i)
    items.push_back({"images/a,b \"q\"/" + std::to_string(i) + ".png", i % 3 ? "P" + std::to_string(i / 2) : "",
                     i % 2});
  fracture::CvSplitOptions cv;
  cv.folds = 3;
  cv.repeats = 2;
  cv.seed = 7;
  cv.val_fraction = 0.25;
  auto rows = fracture::make_cv_splits(items, cv, {"no", "yes"});
  ASSERT_EQ(rows.size(), items.size() * 3 * 2);
  // Row (r, f, i) at (r * folds + f) * n + i; in every repeat each item is "test" in exactly one fold.
  const size_t n = items.size();
  for (int r = 0; r < 2; ++r) {
    std::vector<int> test_count(n, 0);
    for (int f = 0; f < 3; ++f) {
      std::map<std::string, std::set<std::string>> roles_of_patient;
      for (size_t i = 0; i < n; ++i) {
        const auto& row = rows[(size_t(r) * 3 + size_t(f)) * n + i];
        EXPECT_EQ(row.image, items[i].image);
        EXPECT_EQ(row.repeat, r);
        EXPECT_EQ(row.fold, f);
        test_count[i] += row.role == "test";
        if (!row.patient_id.empty()) roles_of_patient[row.patient_id].insert(row.role);
      }
      for (const auto& [p, roles] : roles_of_patient) EXPECT_EQ(roles.size(), 1u) << p;  // grouped: one role each
    }
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(test_count[i], 1) << i;
  }
  // Reproducible from the options alone (a resumed run compares splits.csv byte for byte).
  EXPECT_EQ(fracture::split_csv_text(rows), fracture::split_csv_text(fracture::make_cv_splits(items, cv, {"no", "yes"})));

  fracture::write_split_csv(dir / "run" / "splits.csv", rows);
  auto back = fracture::read_split_csv(dir / "run" / "splits.csv");
  ASSERT_EQ(back.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(back[i].image, rows[i].image);
    EXPECT_EQ(back[i].patient_id, rows[i].patient_id);
    EXPECT_EQ(back[i].label, rows[i].label);
    EXPECT_EQ(back[i].repeat, rows[i].repeat);
    EXPECT_EQ(back[i].fold, rows[i].fold);
    EXPECT_EQ(back[i].role, rows[i].role);
  }

  const std::string head = "image,patient_id,label,repeat,fold,role\n";
  fracture::write_file_atomic(dir / "bad1.csv", "file,label\nx,1\n");
  fracture::write_file_atomic(dir / "bad2.csv", head + "a.png,,0,0,1,test\nb.png,,x,0,1,test\n");
  fracture::write_file_atomic(dir / "bad3.csv", head + "a.png,,0,0,test\n");
  fracture::write_file_atomic(dir / "bad4.csv", head + "a.png,,0,0,1,holdout\n");
  auto expect_msg = [](const fs::path& p, const std::string& want) {
    try {
      fracture::read_split_csv(p);
      ADD_FAILURE() << p << ": expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  expect_msg(dir / "bad1.csv", "bad1.csv:1: expected the header");
  expect_msg(dir / "bad2.csv", "bad2.csv:3: field 'label' expects an integer, got 'x'");
  expect_msg(dir / "bad3.csv", "bad3.csv:2: expected 6 fields");
  expect_msg(dir / "bad4.csv", "bad4.csv:2: role must be train, val or test, got 'holdout'");
  fs::remove_all(dir);
}
