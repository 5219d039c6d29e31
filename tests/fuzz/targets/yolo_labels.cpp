// Fuzz target: one YOLO label file (data/yolo.cpp) in a fixed data.yaml dataset, loaded strict and
// lenient. Checks: refusals name the label file; what the lenient load keeps is valid (class < nc,
// coordinates in [0, 1], positive width and height).
#include <opencv2/imgcodecs.hpp>

#include "dataset_checks.h"
#include "fracture/data/yolo.h"

namespace fs = std::filesystem;

static fs::path setup() {
  const fs::path d = fuzz::scratch("yolo_labels");
  fs::create_directories(d / "images/train");
  fs::create_directories(d / "labels/train");
  cv::imwrite((d / "images/train/a.png").string(), cv::Mat(16, 16, CV_8UC1, cv::Scalar(90)));
  fuzz::write(d / "data.yaml", "path: .\ntrain: images/train\nval: images/train\nnames: [a, b, c]\n");
  return d;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path d = setup();
  fuzz::write(d / "labels/train/a.txt", data, size);
  fuzz::refused_naming("a.txt", [&] { fracture::load_yolo(d / "data.yaml", true, fuzz::quiet(), nullptr); });
  std::vector<fracture::Problem> problems;
  fracture::DetDataset ds;
  fuzz::refused_naming("a.txt", [&] { ds = fracture::load_yolo(d / "data.yaml", false, fuzz::quiet(), &problems); });
  fuzz::boxes_valid(ds, "yolo labels");
  return 0;
}
