#include "fracture/data/splits.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <sstream>

#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/rng.h"
#include "fracture/core/fs.h"

namespace fracture {
namespace {

std::string class_name(int c, const std::vector<std::string>& names) {
  if (c >= 0 && size_t(c) < names.size()) return "class '" + names[c] + "' (" + std::to_string(c) + ")";
  return "class " + std::to_string(c);
}

// Unbiased integer in [0, n) by rejection; written out so results do not depend on the standard
// library's distribution implementation (std::uniform_int_distribution and std::shuffle differ
// between libstdc++ and libc++).
uint64_t bounded(std::mt19937_64& rng, uint64_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

// Fisher-Yates.
void shuffle(std::vector<int>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[bounded(rng, i)]);
}

// Number of classes (max label + 1); checks labels are non-negative.
int count_classes(const std::vector<int>& labels) {
  int nc = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    FRACTURE_CHECK(labels[i] >= 0, "splits: item ", i, " has label ", labels[i], "; expected a class index >= 0");
    nc = std::max(nc, labels[i] + 1);
  }
  return nc;
}

std::vector<long> class_counts(const std::vector<int>& labels, int nc) {
  std::vector<long> n(nc, 0);
  for (int y : labels) n[y]++;
  return n;
}

void check_k(int k, const std::vector<int>& labels, const std::vector<std::string>& names) {
  FRACTURE_CHECK(k >= 2, "splits: folds must be >= 2, got ", k);
  FRACTURE_CHECK(!labels.empty(), "splits: no items to split");
  int nc = count_classes(labels);
  std::vector<long> n = class_counts(labels, nc);
  for (int c = 0; c < nc; ++c)
    FRACTURE_CHECK(n[c] == 0 || n[c] >= k, "splits: ", class_name(c, names), " has ", n[c], " item",
                   n[c] == 1 ? "" : "s", " but ", k, " folds need at least ", k, " (one per test fold)");
}

// Group index per item: equal non-empty ids share a group; an empty id is a group of its own.
std::vector<int> group_index(const std::vector<std::string>& groups, int* n_groups) {
  std::map<std::string, int> id;
  std::vector<int> g(groups.size());
  int next = 0;
  for (size_t i = 0; i < groups.size(); ++i) {
    if (groups[i].empty()) {
      g[i] = next++;
      continue;
    }
    auto it = id.find(groups[i]);
    if (it == id.end()) it = id.emplace(groups[i], next++).first;
    g[i] = it->second;
  }
  *n_groups = next;
  return g;
}

double population_std(const std::vector<double>& x) {
  if (x.empty()) return 0;
  double m = 0;
  for (double v : x) m += v;
  m /= x.size();
  double s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return std::sqrt(s / x.size());
}


}  // namespace

std::vector<int> stratified_kfold(const std::vector<int>& labels, int k, uint64_t seed,
                                  const std::vector<std::string>& class_names) {
  check_k(k, labels, class_names);
  int nc = count_classes(labels);
  // Classes in order of first appearance, as scikit-learn encodes them (that order decides which
  // folds get the one-extra items).
  std::vector<int> class_order;
  std::vector<char> seen(nc, 0);
  for (int y : labels)
    if (!seen[y]) seen[y] = 1, class_order.push_back(y);
  std::mt19937_64 rng(seed);
  std::vector<int> fold(labels.size(), -1);
  long t = 0;  // position in the class-sorted order; dealing continues across classes like sklearn
  for (int c : class_order) {
    std::vector<int> idx;
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == c) idx.push_back(int(i));
    shuffle(idx, rng);
    for (int i : idx) fold[i] = int(t++ % k);
  }
  return fold;
}

std::vector<int> stratified_group_kfold(const std::vector<int>& labels, const std::vector<std::string>& groups,
                                        int k, uint64_t seed, const std::vector<std::string>& class_names) {
  FRACTURE_CHECK(labels.size() == groups.size(), "splits: ", labels.size(), " labels but ", groups.size(),
                 " group ids; expected one per item");
  check_k(k, labels, class_names);
  int nc = count_classes(labels);
  std::vector<long> n_class = class_counts(labels, nc);
  int n_groups = 0;
  std::vector<int> g = group_index(groups, &n_groups);
  FRACTURE_CHECK(n_groups >= k, "splits: only ", n_groups, " patient groups but ", k,
                 " folds; each fold needs at least one group");

  // y_counts[group][class]
  std::vector<std::vector<long>> y_counts(n_groups, std::vector<long>(nc, 0));
  for (size_t i = 0; i < labels.size(); ++i) y_counts[g[i]][labels[i]]++;
  for (int c = 0; c < nc; ++c) {
    if (n_class[c] == 0) continue;
    int groups_with_c = 0;
    for (int j = 0; j < n_groups; ++j) groups_with_c += y_counts[j][c] > 0;
    FRACTURE_CHECK(groups_with_c >= k, "splits: ", class_name(c, class_names), " occurs in only ", groups_with_c,
                   " patient group", groups_with_c == 1 ? "" : "s", " but ", k,
                   " folds need at least ", k, " (one per test fold); use fewer folds");
  }
  std::vector<int> present;
  for (int c = 0; c < nc; ++c)
    if (n_class[c] > 0) present.push_back(c);

  std::vector<int> order(n_groups);
  for (int j = 0; j < n_groups; ++j) order[j] = j;
  std::mt19937_64 rng(seed);
  shuffle(order, rng);
  std::vector<double> spread(n_groups);
  for (int j = 0; j < n_groups; ++j) {
    std::vector<double> x;
    for (int c : present) x.push_back(double(y_counts[j][c]));
    spread[j] = population_std(x);
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return spread[a] > spread[b]; });

  std::vector<std::vector<long>> fold_counts(k, std::vector<long>(nc, 0));
  std::vector<long> fold_size(k, 0);
  std::vector<int> group_fold(n_groups, -1);
  std::vector<double> col(k);
  for (int j : order) {
    int best = -1;
    double best_eval = 0;
    long group_size = 0;
    for (int c : present) group_size += y_counts[j][c];
    for (int f = 0; f < k; ++f) {
      // Mean over classes of the std over folds of (class count in fold / class count).
      double eval = 0;
      for (int c : present) {
        for (int h = 0; h < k; ++h)
          col[h] = double(fold_counts[h][c] + (h == f ? y_counts[j][c] : 0)) / double(n_class[c]);
        eval += population_std(col);
      }
      eval /= present.size();
      bool better = best < 0 || eval < best_eval - 1e-12 ||
                    (std::abs(eval - best_eval) <= 1e-12 && fold_size[f] < fold_size[best]);
      if (better) best = f, best_eval = eval;
    }
    group_fold[j] = best;
    fold_size[best] += group_size;
    for (int c : present) fold_counts[best][c] += y_counts[j][c];
  }
  for (int f = 0; f < k; ++f)
    FRACTURE_CHECK(fold_size[f] > 0, "splits: fold ", f, " of ", k,
                   " got no items (groups too unequal in size); use fewer folds");

  std::vector<int> fold(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) fold[i] = group_fold[g[i]];
  return fold;
}

uint64_t repeat_seed(uint64_t seed, int repeat) {
  return splitmix64(splitmix64(seed) ^ (0xD1B54A32D192ED03ull * uint64_t(repeat + 1)));
}

std::vector<std::vector<int>> repeated_kfold(const std::vector<int>& labels, const std::vector<std::string>& groups,
                                             int k, int repeats, uint64_t seed,
                                             const std::vector<std::string>& class_names) {
  FRACTURE_CHECK(repeats >= 1, "splits: repeats must be >= 1, got ", repeats);
  bool grouped = std::any_of(groups.begin(), groups.end(), [](const std::string& s) { return !s.empty(); });
  std::vector<std::vector<int>> out;
  for (int r = 0; r < repeats; ++r) {
    uint64_t s = repeat_seed(seed, r);
    out.push_back(grouped ? stratified_group_kfold(labels, groups, k, s, class_names)
                          : stratified_kfold(labels, k, s, class_names));
  }
  return out;
}

std::vector<int> split_by_group(const std::vector<int>& labels, const std::vector<std::string>& groups,
                                double train, double val, double test, uint64_t seed) {
  FRACTURE_CHECK(labels.size() == groups.size(), "splits: ", labels.size(), " labels but ", groups.size(),
                 " group ids; expected one per item");
  FRACTURE_CHECK(train > 0 && val >= 0 && test >= 0, "splits: fractions must be train > 0, val >= 0, test >= 0; got ",
                 train, ", ", val, ", ", test);
  FRACTURE_CHECK(std::abs(train + val + test - 1.0) < 1e-6, "splits: fractions must sum to 1, got ", train, " + ",
                 val, " + ", test, " = ", train + val + test);
  FRACTURE_CHECK(!labels.empty(), "splits: no items to split");
  int nc = count_classes(labels);
  std::vector<long> n_class = class_counts(labels, nc);
  int n_groups = 0;
  std::vector<int> g = group_index(groups, &n_groups);
  std::vector<std::vector<long>> y_counts(n_groups, std::vector<long>(nc, 0));
  std::vector<long> size(n_groups, 0);
  for (size_t i = 0; i < labels.size(); ++i) y_counts[g[i]][labels[i]]++, size[g[i]]++;

  std::vector<int> order(n_groups);
  for (int j = 0; j < n_groups; ++j) order[j] = j;
  std::mt19937_64 rng(seed);
  shuffle(order, rng);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return size[a] > size[b]; });

  const double frac[3] = {train, val, test};
  std::vector<std::vector<double>> target(3, std::vector<double>(nc));
  for (int s = 0; s < 3; ++s)
    for (int c = 0; c < nc; ++c) target[s][c] = frac[s] * n_class[c];
  std::vector<std::vector<long>> cur(3, std::vector<long>(nc, 0));
  std::vector<long> split_size(3, 0);
  std::vector<int> group_split(n_groups);
  for (int j : order) {
    int best = -1;
    double best_cost = 0, best_deficit = 0;
    for (int s = 0; s < 3; ++s) {
      // Increase in L1 distance to the per-class targets if group j goes to split s.
      double cost = 0;
      for (int c = 0; c < nc; ++c)
        cost += std::abs(cur[s][c] + y_counts[j][c] - target[s][c]) - std::abs(cur[s][c] - target[s][c]);
      double deficit = (frac[s] * labels.size() - split_size[s]) / std::max(frac[s], 1e-9);
      if (frac[s] == 0) deficit = -1e300;
      bool better = best < 0 || cost < best_cost - 1e-9 ||
                    (std::abs(cost - best_cost) <= 1e-9 && deficit > best_deficit);
      if (better) best = s, best_cost = cost, best_deficit = deficit;
    }
    group_split[j] = best;
    split_size[best] += size[j];
    for (int c = 0; c < nc; ++c) cur[best][c] += y_counts[j][c];
  }
  std::vector<int> out(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) out[i] = group_split[g[i]];
  return out;
}

std::vector<int> inner_split(const std::vector<int>& labels, const std::vector<std::string>& patients,
                             double val_fraction, uint64_t seed) {
  FRACTURE_CHECK(val_fraction > 0 && val_fraction < 1, "inner split: val_fraction must be in (0, 1), got ",
                 val_fraction);
  FRACTURE_CHECK(patients.empty() || patients.size() == labels.size(), "inner split: ", labels.size(), " labels vs ",
                 patients.size(), " patient ids");
  std::vector<std::string> groups = patients;
  if (groups.empty()) groups.assign(labels.size(), "");
  std::vector<int> s = split_by_group(labels, groups, 1.0 - val_fraction, val_fraction, 0.0, seed);
  int counts[2][2] = {{0, 0}, {0, 0}};  // [role][label]
  for (size_t i = 0; i < s.size(); ++i) {
    FRACTURE_CHECK(s[i] == 0 || s[i] == 1, "inner split: unexpected role ", s[i]);
    FRACTURE_CHECK(labels[i] == 0 || labels[i] == 1, "inner split: label must be 0 or 1, got ", labels[i]);
    counts[s[i]][labels[i]] += 1;
  }
  FRACTURE_CHECK(counts[1][0] > 0 && counts[1][1] > 0 && counts[0][0] > 0 && counts[0][1] > 0,
                 "inner split of ", labels.size(), " training images (val_fraction ", val_fraction,
                 "): inner train has ", counts[0][1], " fractured / ", counts[0][0], " not, inner validation ",
                 counts[1][1], " / ", counts[1][0], "; each needs both classes: use more images, fewer folds, or ",
                 "another val_fraction");
  return s;
}

uint64_t fold_seed(uint64_t seed, const std::string& model, int repeat, int fold) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ hash_bytes(model));
  h = splitmix64(h ^ uint64_t(repeat));
  h = splitmix64(h ^ (uint64_t(fold) + 0x100000000ull));
  return h >> 1;  // torch seeds are fine with 63 bits; keeps the value printable as a signed int
}

std::vector<SplitRow> make_cv_splits(const std::vector<SplitItem>& items, const CvSplitOptions& opt,
                                     const std::vector<std::string>& class_names) {
  const size_t n = items.size();
  std::vector<int> labels;
  std::vector<std::string> groups;
  for (const auto& it : items) {
    labels.push_back(it.label);
    groups.push_back(opt.group_by_patient ? it.patient_id : std::string());
  }
  const auto fold_of = repeated_kfold(labels, groups, opt.folds, opt.repeats, opt.seed, class_names);
  std::vector<SplitRow> rows;
  rows.reserve(n * size_t(opt.folds) * size_t(opt.repeats));
  for (int r = 0; r < opt.repeats; ++r) {
    for (int f = 0; f < opt.folds; ++f) {
      std::vector<size_t> rest;
      std::vector<int> rl;
      std::vector<std::string> rg;
      for (size_t i = 0; i < n; ++i) {
        if (fold_of[r][i] == f) continue;
        rest.push_back(i);
        rl.push_back(labels[i]);
        rg.push_back(groups[i]);
      }
      std::vector<int> inner;
      try {
        inner = inner_split(rl, rg, opt.val_fraction, fold_seed(opt.seed, "inner", r, f));
      } catch (const Error& e) {
        FRACTURE_FAIL("repeat ", r, " fold ", f, ": ", e.what());
      }
      std::vector<const char*> role(n, "test");
      for (size_t j = 0; j < rest.size(); ++j) role[rest[j]] = inner[j] == 1 ? "val" : "train";
      for (size_t i = 0; i < n; ++i)
        rows.push_back({items[i].image, items[i].patient_id, items[i].label, r, f, role[i]});
    }
  }
  return rows;
}

namespace {

int parse_int_field(const std::string& s, const std::string& where, const char* name) {
  try {
    size_t used = 0;
    long v = std::stol(s, &used);
    if (used == s.size()) return int(v);
  } catch (const std::exception&) {
  }
  FRACTURE_FAIL(where, ": field '", name, "' expects an integer, got '", s, "'");
}

const std::vector<std::string> kSplitHeader = {"image", "patient_id", "label", "repeat", "fold", "role"};

}  // namespace

std::string split_csv_text(const std::vector<SplitRow>& rows) {
  std::string s = csv::line(kSplitHeader);
  for (const auto& r : rows)
    s += csv::line({r.image, r.patient_id, std::to_string(r.label), std::to_string(r.repeat), std::to_string(r.fold),
                    r.role});
  return s;
}

void write_split_csv(const std::filesystem::path& file, const std::vector<SplitRow>& rows) {
  write_file_atomic(file, split_csv_text(rows));
}

std::vector<SplitRow> read_split_csv(const std::filesystem::path& file) {
  const std::vector<csv::Record> recs = csv::parse(read_file(file), file.string());
  FRACTURE_CHECK(!recs.empty() && recs[0].fields == kSplitHeader, file.string(),
                 ":1: expected the header `image,patient_id,label,repeat,fold,role`");
  std::vector<SplitRow> rows;
  for (size_t k = 1; k < recs.size(); ++k) {
    const std::vector<std::string>& f = recs[k].fields;
    const std::string where = file.string() + ":" + std::to_string(recs[k].line);
    FRACTURE_CHECK(f.size() == 6, where, ": expected 6 fields `image,patient_id,label,repeat,fold,role`, got ",
                   f.size());
    FRACTURE_CHECK(!f[0].empty(), where, ": empty image path");
    SplitRow r{f[0], f[1], parse_int_field(f[2], where, "label"), parse_int_field(f[3], where, "repeat"),
               parse_int_field(f[4], where, "fold"), f[5]};
    FRACTURE_CHECK(r.label >= 0 && r.repeat >= 0 && r.fold >= 0, where, ": label, repeat and fold must be >= 0");
    FRACTURE_CHECK(r.role == "train" || r.role == "val" || r.role == "test", where,
                   ": role must be train, val or test, got '", r.role, "'");
    rows.push_back(r);
  }
  return rows;
}

}  // namespace fracture
