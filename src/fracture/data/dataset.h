// Datasets in memory: detection (YOLO data.yaml or COCO json) and image-level classification
// (class folders, CSV manifest, or derived from a detection set).
//
//   std::vector<fracture::Problem> problems;
//   fracture::DetDataset ds = fracture::load_yolo("data.yaml", /*strict=*/false, *log, &problems);
//   for (const auto& item : ds.splits.at("train")) ... item.boxes[0].cx ...
//   fracture::ClsDataset cls = fracture::cls_from_detection(ds, "train", {"forearm fracture"});
//
// Paths in the dataset are never written to: a user's dataset folder is read-only to us.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fracture/core/log.h"

namespace fracture {

/// One box in YOLO convention: class index and normalised centre-x, centre-y, width, height in [0, 1]
/// relative to the image width/height.
struct Box {
  int cls = 0;
  float cx = 0, cy = 0, w = 0, h = 0;
};

struct DetItem {
  std::filesystem::path image;
  std::filesystem::path label;  ///< the label file it came from ("" for COCO or background images)
  std::vector<Box> boxes;       ///< empty: a background image
  std::string patient_id;       ///< "" when unknown
};

struct DetDataset {
  std::filesystem::path source;                      ///< data.yaml or COCO json
  std::vector<std::string> names;                    ///< class names, index = class id
  std::map<std::string, std::vector<DetItem>> splits;  ///< "train", "val", "test" (those present)
};

/// A problem found while loading or checking: file, 1-based line (0 = whole file), what was expected.
struct Problem {
  std::filesystem::path file;
  int line = 0;
  std::string message;
  std::string str() const;  ///< "file:line: message"
};

struct ClsItem {
  std::filesystem::path image;
  int label = 0;           ///< 1 = fractured (positive), 0 = not
  std::string patient_id;  ///< "" when unknown
  std::string split;       ///< "train", "val", "test" when the source says so (CSV column, folder), else ""
};

struct ClsDataset {
  std::filesystem::path source;
  std::vector<std::string> classes = {"not_fractured", "fractured"};  ///< index = label
  std::vector<ClsItem> items;
};

}  // namespace fracture
