// Files about the data a run used: skipped.csv, the images left out because they cannot be read
// (data/screen.h), written into the run directory and read back here.
//
//   fracture::report::write_skipped(run, skipped);                  // run/skipped.csv (report/data_files.h)
//   std::vector<fracture::UnusableFile> again = fracture::report::read_skipped(run / "skipped.csv");
#pragma once
#include <filesystem>
#include <vector>

#include "fracture/data/screen.h"

namespace fracture::report {

/// skipped.csv: image,split,reason (csv.h quoting), one row per file, in listing order; written
/// (also when empty: the header alone says the run left nothing out).
void write_skipped(const std::filesystem::path& run, const std::vector<UnusableFile>& files);
/// Reads a file written by write_skipped; throws naming file:line on another layout.
std::vector<UnusableFile> read_skipped(const std::filesystem::path& file);

}  // namespace fracture::report
