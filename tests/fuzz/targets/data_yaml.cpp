// Fuzz target: an Ultralytics data.yaml (data/yolo.cpp) over a fixed folder with images and labels
// (images/{train,val}, a list file, labels). Checks: refusals name the yaml (or the file it points
// to); a loaded dataset's boxes carry classes < its names.
#include <cctype>

#include <opencv2/imgcodecs.hpp>

#include "dataset_checks.h"
#include "fracture/data/yolo.h"

namespace fs = std::filesystem;

static fs::path setup() {
  const fs::path d = fuzz::scratch("data_yaml");
  for (const char* s : {"train", "val"}) {
    fs::create_directories(d / "images" / s);
    fs::create_directories(d / "labels" / s);
    cv::imwrite((d / "images" / s / "a.png").string(), cv::Mat(16, 16, CV_8UC1, cv::Scalar(90)));
    fuzz::write(d / "labels" / s / "a.txt", "0 0.5 0.5 0.25 0.25\n1 0.2 0.2 0.1 0.1\n");
  }
  fuzz::write(d / "train.txt", "images/train/a.png\n./images/val/a.png\n");
  return d;
}

// Absolute paths and ".." lead out of the scratch folder: "val: /" lists every image on the machine
// (a legitimate request, but 20 s per input); such inputs are skipped. YAML has many ways to start a
// value with '/' (after a space, a newline, a flow indicator, a tag or anchor, a block scalar's
// indentation) and double-quoted escapes spell '.' and '/' ("\x2f", "\u002F", "\/"), so the filter
// is by allowance: a '/' is kept only right after a letter, digit, '_' or '.', and any escape of
// U+0020..U+002F is skipped.
static bool leaves_the_folder(std::string_view s) {
  if (s.find("..") != std::string_view::npos || (!s.empty() && s[0] == '/')) return true;
  for (size_t i = 1; i < s.size(); ++i) {
    const auto p = static_cast<unsigned char>(s[i - 1]);
    if (s[i] == '/' && !(std::isalnum(p) || p == '_' || p == '.')) return true;
    if (p == '\\') {
      const std::string_view rest = s.substr(i);
      for (std::string_view esc : {"/", "x2", "X2", "u002", "U0000002"})
        if (rest.substr(0, esc.size()) == esc) return true;
    }
  }
  return false;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path d = setup();
  if (leaves_the_folder(std::string_view(reinterpret_cast<const char*>(data), size))) return 0;
  fuzz::write(d / "data.yaml", data, size);
  for (bool strict : {true, false}) {
    fracture::DetDataset ds;
    std::vector<fracture::Problem> problems;
    try {
      ds = fracture::load_yolo(d / "data.yaml", strict, fuzz::quiet(), &problems);
    } catch (const fracture::Error& e) {
      const std::string m = e.what();
      // the yaml itself, or a path it leads to (a split folder, list file, image or label)
      if (m.find("data.yaml") == std::string::npos && m.find('/') == std::string::npos)
        fuzz::fail("the error names neither data.yaml nor a path: " + m);
      continue;
    }
    fuzz::boxes_valid(ds, "data.yaml");
  }
  return 0;
}
