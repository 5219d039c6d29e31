// Fuzz target: COCO detection JSON (data/yolo.cpp load_coco), strict and lenient. Checks: refusals
// name the JSON file; kept boxes have a class < names and coordinates in [0, 1].
#include "dataset_checks.h"
#include "fracture/data/yolo.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path d = fuzz::scratch("coco_json");
  fuzz::write(d / "ann.json", data, size);
  for (bool strict : {true, false}) {
    fracture::DetDataset ds;
    std::vector<fracture::Problem> problems;
    if (!fuzz::refused_naming("ann.json", [&] {
          ds = fracture::load_coco(d / "ann.json", d / "images", strict, fuzz::quiet(), &problems);
        }))
      continue;
    fuzz::boxes_valid(ds, "coco");
  }
  return 0;
}
