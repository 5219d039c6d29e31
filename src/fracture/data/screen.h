// Screening a dataset's image files before anything is split or trained: the files that cannot be
// read as images are found up front (key `validate`), so that folds and stratification are made of
// what can be used, and a bad file never stops a run with strict=false.
//
//   fracture::ScreenOptions so = fracture::screen_options(cfg);    // validate, strict, workers, dicom_window
//   std::vector<fracture::UnusableFile> skipped = fracture::screen_dataset(ds, so);   // ds: ClsDataset or DetDataset
//   fracture::warn_unusable(*log, "data.yaml", skipped, listed);    // one line: count, first file, reason
//   fracture::report::write_skipped(run, skipped);                  // run/skipped.csv (report/data_files.h)
//
// validate=fast reads the first 512 bytes and the last 64 KiB of each file (format by magic bytes,
// JPEG/PNG end markers, BMP length: image_file_problem); validate=decode decodes every image (slow,
// catches damage inside the data too); validate=off skips the screen. With strict=true the first
// unusable file (in listing order) stops with its name and reason.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/core/config.h"
#include "fracture/core/log.h"
#include "fracture/data/dataset.h"
#include "fracture/data/image.h"

namespace fracture {

struct ScreenOptions {
  std::string mode = "fast";  ///< fast, decode or off (key `validate`)
  bool strict = true;         ///< throw at the first unusable file
  int threads = 2;            ///< files checked in parallel
  ReadOptions read;
};

/// From the keys validate, strict, workers and dicom_window; errors name the key.
ScreenOptions screen_options(const Config& cfg);

/// A file left out, and why (in read_image's words).
struct UnusableFile {
  std::filesystem::path file;
  std::string split;   ///< the split it was listed in ("" when none)
  std::string reason;
};

/// A loader's problem (a listed image that does not exist, a bad manifest row or label line) as a
/// skipped.csv row: file = the listing (manifest, label file), reason = "line N: message".
UnusableFile unusable_from_problem(const Problem& p);

/// A "file: reason" message (the loader's record of an image it left out) as a skipped.csv row.
UnusableFile unusable_from_message(const std::string& message, const std::string& split);

/// usable[i] for every file. Unusable ones are appended to `bad` (listing order); with
/// opt.strict the first throws fracture::Error "file: reason".
std::vector<bool> screen_files(const std::vector<std::filesystem::path>& files, const ScreenOptions& opt,
                               std::vector<UnusableFile>* bad);

/// One warning for files left out: "<where>: N of M images cannot be read and are left out
/// (strict=false; listed in the run's skipped.csv); first: <file>: <reason>". Nothing when `bad` is empty.
void warn_unusable(Logger& log, const std::string& where, const std::vector<UnusableFile>& bad, size_t listed);

/// Removes the unusable items of a dataset (every split), keeping the order of the rest; returns them.
std::vector<UnusableFile> screen_dataset(ClsDataset& ds, const ScreenOptions& opt);
std::vector<UnusableFile> screen_dataset(DetDataset& ds, const ScreenOptions& opt);

}  // namespace fracture
