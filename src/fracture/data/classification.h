// Image-level (fractured / not fractured) datasets: class folders, a CSV manifest, or labels derived
// from a detection dataset.
//
//   std::vector<fracture::Problem> problems;
//   fracture::ClsDataset a = fracture::load_classification("xray/", "fractured", false, *log, &problems);
//   fracture::ClsDataset b = fracture::load_classification("manifest.csv", "fractured", true, *log, nullptr);
//   fracture::DetDataset det = fracture::load_yolo("data.yaml", true, *log, nullptr);
//   fracture::ClsDataset c = fracture::cls_from_detection(det, "train", {"forearm fracture"});
//
// Class folders: root/<class>/**/<image>, exactly two class folders, the one named `positive` is
//   label 1 (classes = {other, positive}). Split layout root/{train,val,test}/<class>/... is also
//   read; items then carry their split. Hidden folders/files are ignored.
// CSV manifest: a header row naming the columns: `path` and `label` required, `patient_id` and
//   `split` optional, other columns ignored. RFC 4180 quoting ("a, b", "say ""x"""). Paths are
//   relative to the CSV's folder. label is 0/1 or a class name: `positive` = 1, any one other name = 0
//   (a third distinct name is an error). split is train, val, test or empty.
// Errors name file:line. Structural errors (no header, missing column, wrong class count) always
// throw; per-row problems (missing image, bad label, wrong field count) throw in strict mode, else
// they are reported to `problems`, logged, and the row skipped.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/core/log.h"
#include "fracture/data/dataset.h"

namespace fracture {

/// Class-folder dataset (see file comment).
ClsDataset load_class_folders(const std::filesystem::path& root, const std::string& positive, bool strict, Logger& log,
                              std::vector<Problem>* problems);

/// CSV manifest (see file comment).
ClsDataset load_csv_manifest(const std::filesystem::path& csv, const std::string& positive, bool strict, Logger& log,
                             std::vector<Problem>* problems);

/// Which detection classes count as fractured: `fracture_classes` by name (unknown names throw,
/// listing the valid ones), or when empty every class whose name contains "fracture" or "positive".
std::vector<bool> fracture_class_mask(const DetDataset& det, const std::vector<std::string>& fracture_classes);

/// Image labels from a detection split: label 1 iff the image has a box of one of `fracture_classes`.
/// Empty list: classes whose name contains "fracture" or "positive" (case-insensitive) count. Unknown
/// names, an unknown split, or no counting class are errors naming the valid choices.
ClsDataset cls_from_detection(const DetDataset& det, const std::string& split,
                              const std::vector<std::string>& fracture_classes);

/// Picks the reader by what `path` is: a folder (class folders), a .csv (manifest), or a .yaml/.yml
/// (YOLO data.yaml: every split, labels via cls_from_detection with `fracture_classes`, items carry
/// their split).
ClsDataset load_classification(const std::filesystem::path& path, const std::string& positive, bool strict,
                               Logger& log, std::vector<Problem>* problems,
                               const std::vector<std::string>& fracture_classes = {});

}  // namespace fracture
