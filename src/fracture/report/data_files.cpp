#include "fracture/report/data_files.h"

#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"

namespace fracture::report {

namespace fs = std::filesystem;

void write_skipped(const fs::path& run, const std::vector<UnusableFile>& files) {
  std::string text = csv::line({"image", "split", "reason"});
  for (const auto& f : files) text += csv::line({f.file.string(), f.split, f.reason});
  write_file_atomic(run / "skipped.csv", text);
}

std::vector<UnusableFile> read_skipped(const fs::path& file) {
  const auto recs = csv::parse(read_file(file), file.string());
  FRACTURE_CHECK(!recs.empty() && recs[0].fields == std::vector<std::string>({"image", "split", "reason"}),
                 file.string(), ":1: expected the header image,split,reason");
  std::vector<UnusableFile> out;
  for (size_t k = 1; k < recs.size(); ++k) {
    FRACTURE_CHECK(recs[k].fields.size() == 3, file.string(), ":", recs[k].line, ": expected 3 fields, got ",
                   recs[k].fields.size());
    out.push_back({recs[k].fields[0], recs[k].fields[1], recs[k].fields[2]});
  }
  return out;
}

}  // namespace fracture::report
