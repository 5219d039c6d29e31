// Fuzz target: COCO detection JSON (data/yolo.cpp load_coco), strict and lenient. Checks: refusals
// name the JSON file; kept boxes have a class < names and coordinates in [0, 1].
#include "../fuzz_util.h"
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
    for (const auto& [split, items] : ds.splits)
      for (const fracture::DetItem& it : items)
        for (const fracture::Box& b : it.boxes)
          if (b.cls < 0 || size_t(b.cls) >= ds.names.size() || !(b.cx >= 0 && b.cx <= 1 && b.cy >= 0 && b.cy <= 1) ||
              !(b.w > 0 && b.w <= 1 && b.h > 0 && b.h <= 1))
            fuzz::fail("a kept COCO box is out of range");
  }
  return 0;
}
