// Fuzz target: class-folder listings with odd names (data/classification.cpp load_class_folders).
// The input is a list of relative paths, one per line (up to 24, 4 levels, 120 bytes a component);
// each becomes a file under a fresh root, a small PNG when the line ends in ".png", else the line's
// bytes. Checks: refusals name the root or a path under it; kept items are files under the root
// with label 0 or 1.
#include <opencv2/imgcodecs.hpp>

#include "../fuzz_util.h"
#include "fracture/data/classification.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path base = fuzz::scratch("class_folders");
  static std::vector<uchar> png;
  if (png.empty()) cv::imencode(".png", cv::Mat(8, 8, CV_8UC1, cv::Scalar(7)), png);
  const fs::path root = base / "root";
  fs::remove_all(root);
  fs::create_directories(root);
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (int n = 0; n < 24 && !rest.empty(); ++n) {
    auto [line, after] = fuzz::split_once(rest, "\n");
    rest = after;
    // the components of a relative path, without "", ".", ".." and NUL (they cannot be names)
    fs::path rel;
    int depth = 0;
    for (std::string_view s = line; !s.empty() && depth < 4;) {
      auto [comp, more] = fuzz::split_once(s, "/");
      s = more;
      std::string c(comp.substr(0, 120));
      c.erase(std::remove(c.begin(), c.end(), '\0'), c.end());
      if (c.empty() || c == "." || c == "..") continue;
      rel /= c;
      ++depth;
    }
    if (rel.empty()) continue;
    std::error_code ec;
    fs::create_directories((root / rel).parent_path(), ec);
    if (ec || fs::is_directory(root / rel)) continue;
    if (rel.extension() == ".png")
      fuzz::write(root / rel, png.data(), png.size());
    else
      fuzz::write(root / rel, line);
  }
  for (bool strict : {true, false}) {
    fracture::ClsDataset ds;
    std::vector<fracture::Problem> problems;
    if (!fuzz::refused_naming(root.string(), [&] {
          ds = fracture::load_class_folders(root, "fractured", strict, fuzz::quiet(), &problems);
        }))
      continue;
    for (const fracture::ClsItem& it : ds.items) {
      if (it.label != 0 && it.label != 1) fuzz::fail("a class-folder item with label " + std::to_string(it.label));
      if (!fs::is_regular_file(it.image) || it.image.string().rfind(root.string(), 0) != 0)
        fuzz::fail("a class-folder item that is not a file under the root: " + it.image.string());
    }
  }
  return 0;
}
