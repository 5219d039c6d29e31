// The dataset targets' shared check: every box a load kept is valid.
#pragma once
#include <string>

#include "../fuzz_util.h"
#include "fracture/data/dataset.h"

namespace fuzz {

/// Class in [0, names), centre in [0, 1], width and height in (0, 1].
inline void boxes_valid(const fracture::DetDataset& ds, const char* what) {
  for (const auto& [split, items] : ds.splits)
    for (const fracture::DetItem& it : items)
      for (const fracture::Box& b : it.boxes)
        if (b.cls < 0 || size_t(b.cls) >= ds.names.size() || !(b.cx >= 0 && b.cx <= 1 && b.cy >= 0 && b.cy <= 1) ||
            !(b.w > 0 && b.w <= 1 && b.h > 0 && b.h <= 1))
          fail(std::string(what) + ": a kept box is out of range: class " + std::to_string(b.cls) + " " +
               std::to_string(b.cx) + " " + std::to_string(b.cy) + " " + std::to_string(b.w) + " " +
               std::to_string(b.h));
}

}  // namespace fuzz
