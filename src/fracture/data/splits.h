// Cross-validation and hold-out splits: stratified k-fold, repeated k-fold, stratified group
// k-fold on patient_id, and a grouped train/val/test split. Deterministic for a seed.
//
//   std::vector<int> labels = {0, 1, 0, 1, 1, 0, ...};
//   std::vector<int> fold = fracture::stratified_kfold(labels, /*k=*/5, /*seed=*/0);   // fold[i] in [0, 5)
//   std::vector<std::string> patients = {"P1", "P1", "P2", ...};
//   std::vector<int> g = fracture::stratified_group_kfold(labels, patients, 5, 0);   // no patient in two folds
//
//   std::vector<fracture::SplitItem> items = ...;                   // path, patient_id, label
//   auto rows = fracture::make_cv_splits(items, /*k=*/5, /*repeats=*/3, /*seed=*/0, /*group=*/true);
//   fracture::write_split_csv(run / "splits.csv", rows);            // atomic; reproduces the study
//   auto again = fracture::read_split_csv(run / "splits.csv");
//
// A "fold" value is the test fold of an item: in repeat r, fold f trains on every item whose fold
// is not f and tests on the items whose fold is f. Labels are small non-negative integers (class
// indices); class names are only used in error messages.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace fracture {

/// Stratified k-fold in the manner of scikit-learn's StratifiedKFold(shuffle=True): the labels,
/// grouped by class (classes in order of first appearance, as scikit-learn encodes them), are
/// dealt round-robin over the k folds (so every fold holds each class's
/// proportion within one sample and fold sizes differ by at most one), and within each class the
/// items are shuffled with std::mt19937_64(seed) before dealing. Fold sizes and per-class counts
/// equal scikit-learn's; the permutation does not (different RNG).
/// Throws fracture::Error when k < 2 or a class has fewer items than k.
std::vector<int> stratified_kfold(const std::vector<int>& labels, int k, uint64_t seed,
                                  const std::vector<std::string>& class_names = {});

/// Stratified group k-fold in the spirit of scikit-learn's StratifiedGroupKFold(shuffle=True):
/// items with the same non-empty group (patient_id) share one fold; an empty group id makes the
/// item its own group. Groups are shuffled with the seed, stably sorted by the standard deviation
/// of their per-class counts (largest first), then each goes to the fold that minimises the mean
/// over classes of the spread (std over folds) of "fraction of the class in that fold"; ties go to
/// the fold with fewer items, then the lower index. Class proportions are balanced only as well as
/// the group sizes allow.
/// Throws fracture::Error when k < 2, a class has fewer items than k, or a class occurs in fewer
/// than k groups (some test fold would lack it), or sizes differ.
std::vector<int> stratified_group_kfold(const std::vector<int>& labels, const std::vector<std::string>& groups,
                                        int k, uint64_t seed, const std::vector<std::string>& class_names = {});

/// Seed of repeat r of a repeated k-fold: a SplitMix64 mix of (seed, r), so repeats differ and
/// any one repeat can be regenerated alone.
uint64_t repeat_seed(uint64_t seed, int repeat);

/// Repeated (group) stratified k-fold: result[r] is the fold vector of repeat r, made with
/// repeat_seed(seed, r). `groups` empty (or all ids empty) means plain stratified_kfold.
std::vector<std::vector<int>> repeated_kfold(const std::vector<int>& labels, const std::vector<std::string>& groups,
                                             int k, int repeats, uint64_t seed,
                                             const std::vector<std::string>& class_names = {});

/// Hold-out split by group: returns 0 (train), 1 (val) or 2 (test) per item. Groups (patient ids;
/// empty id = own group) are shuffled with the seed, stably sorted largest first, and each goes to
/// the split whose per-class target counts (fraction * class count) it overshoots least (L1), so
/// the split is stratified as far as the groups allow. No group is in two splits.
/// Throws fracture::Error when a fraction is negative, the fractions do not sum to 1, or train is 0.
std::vector<int> split_by_group(const std::vector<int>& labels, const std::vector<std::string>& groups,
                                double train, double val, double test, uint64_t seed);

/// One item to split.
struct SplitItem {
  std::string path;        ///< image path as the dataset names it
  std::string patient_id;  ///< "" when unknown
  int label = 0;           ///< class index
};

/// One row of a split file: item `path` is in test fold `fold` of repeat `repeat`.
struct SplitRow {
  std::string path;
  std::string patient_id;
  int label = 0;
  int repeat = 0;
  int fold = 0;
};

/// Rows for every (repeat, item), repeat-major in item order. Grouped by patient_id when
/// `group_by_patient` and at least one item has a patient id, else plain stratified.
std::vector<SplitRow> make_cv_splits(const std::vector<SplitItem>& items, int k, int repeats, uint64_t seed,
                                     bool group_by_patient, const std::vector<std::string>& class_names = {});

/// Writes rows as CSV with header `path,patient_id,label,repeat,fold` (RFC 4180 quoting for
/// fields holding a comma, quote or newline), atomically.
void write_split_csv(const std::filesystem::path& file, const std::vector<SplitRow>& rows);

/// Reads a split file written by write_split_csv. Throws fracture::Error naming file:line and the
/// expected form on a bad header, wrong field count, or a non-integer label/repeat/fold.
std::vector<SplitRow> read_split_csv(const std::filesystem::path& file);

}  // namespace fracture
