// Cross-validation and hold-out splits: stratified k-fold, repeated k-fold, stratified group
// k-fold on patient_id, and a grouped train/val/test split. Deterministic for a seed.
//
//   std::vector<int> labels = {0, 1, 0, 1, 1, 0, ...};
//   std::vector<int> fold = fracture::stratified_kfold(labels, /*k=*/5, /*seed=*/0);   // fold[i] in [0, 5)
//   std::vector<std::string> patients = {"P1", "P1", "P2", ...};
//   std::vector<int> g = fracture::stratified_group_kfold(labels, patients, 5, 0);   // no patient in two folds
//
//   std::vector<fracture::SplitItem> items = {{"a.png", "P1", 1}, {"b.png", "P2", 0}};   // image, patient, label
//   fracture::CvSplitOptions cv;  cv.folds = 5;  cv.repeats = 3;
//   std::vector<fracture::SplitRow> rows = fracture::make_cv_splits(items, cv);   // role per (repeat, fold)
//   fracture::write_split_csv(run / "splits.csv", rows);            // atomic; the study's one split file
//   std::vector<fracture::SplitRow> again = fracture::read_split_csv(run / "splits.csv");
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

/// Inner split of an outer training part: role 0 (inner train) or 1 (inner validation) per item, a
/// share `val_fraction` of each class in validation, grouped by patient (no patient in both roles)
/// when `patients` has ids. Throws fracture::Error when either role would lack a class.
std::vector<int> inner_split(const std::vector<int>& labels, const std::vector<std::string>& patients,
                             double val_fraction, uint64_t seed);

/// Seed of one (model, repeat, fold) cell: SplitMix64 mix of the four (inner splits use the model
/// name "inner"; training seeds the backbone's name).
uint64_t fold_seed(uint64_t seed, const std::string& model, int repeat, int fold);

/// One item to split.
struct SplitItem {
  std::string image;       ///< image path as the dataset names it
  std::string patient_id;  ///< "" when unknown
  int label = 0;           ///< class index (0 / 1 for the inner split)
};

/// One row of a run's splits.csv: in cell (repeat, fold), item `image` is in `role`: "test" (the
/// outer fold), "val" (the inner validation split of the rest) or "train".
struct SplitRow {
  std::string image;
  std::string patient_id;
  int label = 0;
  int repeat = 0;
  int fold = 0;
  std::string role;
};

struct CvSplitOptions {
  int folds = 5, repeats = 3;
  uint64_t seed = 0;
  bool group_by_patient = true;  ///< group by patient_id where items have one
  double val_fraction = 0.2;     ///< inner validation share of each outer training part
};

/// The cross-validation study's splits: repeated_kfold(labels, patients) gives each item its test
/// fold per repeat; in cell (r, f) the rest is split by inner_split(val_fraction,
/// fold_seed(seed, "inner", r, f)) into train and val. Rows repeat-major, then fold, then item
/// order, every item in every cell. Errors of a cell's inner split name the repeat and fold.
std::vector<SplitRow> make_cv_splits(const std::vector<SplitItem>& items, const CvSplitOptions& options,
                                     const std::vector<std::string>& class_names = {});

/// splits.csv: header `image,patient_id,label,repeat,fold,role`, one csv::line per row.
std::string split_csv_text(const std::vector<SplitRow>& rows);
/// Writes split_csv_text(rows) atomically.
void write_split_csv(const std::filesystem::path& file, const std::vector<SplitRow>& rows);

/// Reads a file written by write_split_csv. Throws fracture::Error naming file:line and the expected
/// form on a bad header, wrong field count, a non-integer label/repeat/fold or an unknown role.
std::vector<SplitRow> read_split_csv(const std::filesystem::path& file);

}  // namespace fracture
