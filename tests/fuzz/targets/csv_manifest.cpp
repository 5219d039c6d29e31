// Fuzz target: a classification CSV manifest (data/classification.cpp) and the RFC 4180 reader
// under it (core/csv.h), strict and lenient. Checks: refusals name manifest.csv; kept items have
// label 0 or 1 and a split of "", train, val or test; the reader's records survive a write and
// re-read unchanged.
#include <opencv2/imgcodecs.hpp>

#include "../fuzz_util.h"
#include "fracture/core/csv.h"
#include "fracture/data/classification.h"

namespace fs = std::filesystem;

static fs::path setup() {
  const fs::path d = fuzz::scratch("csv_manifest");
  for (const char* n : {"a.png", "b.png", "sub/c.png"}) {
    fs::create_directories((d / n).parent_path());
    cv::imwrite((d / n).string(), cv::Mat(16, 16, CV_8UC1, cv::Scalar(90)));
  }
  return d;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path d = setup();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // the reader alone: what it parses, written back with csv::line, parses to the same fields
  std::vector<fracture::csv::Record> recs;
  if (fuzz::refused_naming("fuzz.csv", [&] { recs = fracture::csv::parse(text, "fuzz.csv"); })) {
    std::string again;
    for (const auto& r : recs) again += fracture::csv::line(r.fields) + "\n";
    const auto back = fracture::csv::parse(again, "again.csv");
    if (back.size() != recs.size()) fuzz::fail("csv: re-read record count differs");
    for (size_t i = 0; i < recs.size(); ++i)
      if (back[i].fields != recs[i].fields) fuzz::fail("csv: a written and re-read record differs");
  }
  fuzz::write(d / "manifest.csv", data, size);
  for (bool strict : {true, false}) {
    fracture::ClsDataset ds;
    std::vector<fracture::Problem> problems;
    if (!fuzz::refused_naming("manifest.csv", [&] {
          ds = fracture::load_csv_manifest(d / "manifest.csv", "fractured", strict, fuzz::quiet(), &problems);
        }))
      continue;
    for (const fracture::ClsItem& it : ds.items)
      if ((it.label != 0 && it.label != 1) ||
          !(it.split.empty() || it.split == "train" || it.split == "val" || it.split == "test"))
        fuzz::fail("a kept manifest row has a bad label or split");
  }
  return 0;
}
