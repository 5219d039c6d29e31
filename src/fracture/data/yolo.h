// Detection datasets: Ultralytics YOLO data.yaml and COCO detection JSON, into one DetDataset.
//
//   std::vector<fracture::Problem> problems;
//   fracture::DetDataset ds = fracture::load_yolo("data/data.yaml", /*strict=*/false, *log, &problems);
//   if (!problems.empty()) log->warn("{} dataset problems (see above)", problems.size());
//   for (const fracture::DetItem& it : ds.splits.at("train")) { ... it.image, it.boxes ... }
//
//   fracture::DetDataset coco = fracture::load_coco("ann.json", "images/", /*strict=*/true, *log, nullptr);
//
// YOLO conventions (Ultralytics):
//   path   dataset root; relative to the yaml's folder when relative; the yaml's folder when absent
//   train, val (required), test (optional): each a folder of images (searched recursively), a .txt file
//          listing image paths (one per line, relative to the .txt's folder), or a list of those
//   names  a list, or a map {0: a, 1: b} with ids 0..n-1; nc alone gives names class0..; nc must
//          equal the number of names when both are given
//   labels <root>/.../images/<rest>.<ext> -> <root>/.../labels/<rest>.txt (last "images" component
//          replaced; next to the image when there is none); no label file = background image
//   lines  `cls cx cy w h` normalised to [0, 1], or a polygon `cls x1 y1 x2 y2 x3 y3 ...` (odd count
//          >= 7) reduced to its bounding box; coordinates within 1e-3 outside [0, 1] are clamped,
//          further out is an error; exact duplicate lines are dropped (as Ultralytics does)
// Structural errors (unreadable yaml, missing key, names/nc mismatch, a split entry not found) always
// throw. Per-item problems (bad label line, class index >= nc, label without image, empty split,
// unsupported image format, missing listed image) throw in strict mode; otherwise they are reported
// to `problems` (may be null), logged as warnings, and the image is skipped.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/core/log.h"
#include "fracture/data/dataset.h"

namespace fracture {

/// Loads an Ultralytics data.yaml (see file comment).
DetDataset load_yolo(const std::filesystem::path& data_yaml, bool strict, Logger& log, std::vector<Problem>* problems);

/// Imports COCO detection JSON: `images` (id, file_name, width, height: sizes are taken from the
/// JSON, images are not opened), `annotations` (image_id, category_id, bbox [x, y, w, h] in pixels,
/// top-left origin; iscrowd = 1 skipped), `categories` (id, name). Class index = rank of the
/// category id (names in id order). Boxes are clipped to the image; an empty box after clipping is
/// a problem. Image paths are image_root / file_name. Everything goes into split `split`.
DetDataset load_coco(const std::filesystem::path& json, const std::filesystem::path& image_root, bool strict,
                     Logger& log, std::vector<Problem>* problems, const std::string& split = "train");

/// True when the file name has an image extension the loaders collect (.png .jpg .jpeg .bmp .tif
/// .tiff .dcm .dicom, case-insensitive).
bool is_image_file(const std::filesystem::path& p);

/// The YOLO label path of an image (see file comment).
std::filesystem::path yolo_label_path(const std::filesystem::path& image);

}  // namespace fracture
