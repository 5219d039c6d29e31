// Dataset validation for `fracture check`: loads a dataset with the regular loaders, decodes every
// image, summarises it, and looks for leakage between splits.
//
//   fracture::CheckOptions opt;                    // strict = false: collect every problem
//   opt.strict = false;
//   fracture::CheckReport r = fracture::check_dataset("data/data.yaml", opt, *log);
//   std::fputs(fracture::format_report(r).c_str(), stdout);
//   fracture::write_check_json("check.json", r);   // report_json, atomically
//   return r.errors() > 0 ? 1 : 0;
//
// Accepted inputs (by what the path is): a YOLO data.yaml (.yaml/.yml), a COCO detection json
// (.json; images are looked up next to the json, else in its images/ folder), a class-folder root
// (a folder), or a CSV manifest (.csv). See fracture/data/yolo.h and classification.h.
//
// Findings, in order: everything the loader reports (bad label lines, class index >= nc, label
// without image, empty split, missing listed image: errors); images that do not decode (errors);
// byte-identical images in two splits (error: test leakage) or twice in one split (warning);
// perceptual near-duplicates (pHash distance <= near_duplicate_bits, min over flips, confirmed by a
// 32x32 thumbnail correlation >= near_duplicate_correlation; data/hashing.h) across or within splits (warnings: the same radiograph re-encoded, flipped or slightly rotated); one
// patient id in two splits (error: patient-level leakage; the id is printed only as a salted hash).
// Then the summary a reviewer asks for: duplicate clusters (copies linked transitively) and, per
// pair of splits, "N of M test images (K clusters) also appear in train (byte-identical: A;
// near-duplicate: B); P patients in both".
// strict = true stops at the first error (throws fracture::Error "file:line: message"); warnings
// never stop. Nothing is ever written into the dataset folder.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fracture/core/log.h"
#include "fracture/data/dataset.h"
#include "fracture/data/hashing.h"
#include "fracture/data/image.h"

namespace fracture {

struct CheckOptions {
  bool strict = true;                          ///< stop at the first error (warnings never stop)
  int threads = 2;                             ///< threads decoding and hashing images
  int near_duplicate_bits = kNearDuplicateBits;  ///< pHash distance <= this makes a candidate pair; < 0 disables
  double near_duplicate_correlation = kNearDuplicateCorrelation;  ///< ... confirmed at this thumbnail correlation
  std::string positive = "fractured";          ///< positive class name for class folders / CSV
  ReadOptions read;                            ///< how images are decoded (DICOM window, size guard)
};

/// Patient ids come from the listing (CSV patient_id, YOLO/COCO ids), else from a DICOM file's
/// PatientID.
/// One finding: an error (the dataset is wrong) or a warning (worth a look).
struct Finding {
  bool error = true;
  std::string kind;  ///< "load", "decode", "duplicate", "near_duplicate"
  Problem where;     ///< file, line (0 = whole file), message
};

/// min / median / max of a list of integers (0 when empty). Median of an even count: the lower middle.
struct IntStats {
  long min = 0, median = 0, max = 0;
};

struct SplitSummary {
  std::string name;                          ///< train, val, test; "all" for a classification set without splits
  long images = 0;                           ///< images listed by the loader
  long decoded = 0;                          ///< images that decoded
  long background = 0;                       ///< detection: images without boxes; classification: label 0
  std::vector<long> per_class;               ///< detection: boxes per class; classification: images per label
  IntStats width, height;                    ///< pixels, over decoded images
  std::map<int, long> bit_depths;            ///< 8 / 16 -> images
  std::map<std::string, long> formats;       ///< "jpeg", "png", ... -> images
};

/// Images linked by byte-identical or near-duplicate pairs (transitively): one radiograph, copied.
struct DuplicateCluster {
  std::vector<std::filesystem::path> files;
  std::vector<std::string> splits;  ///< per file
  bool byte_identical = true;       ///< every link is a byte-identical copy
  int min_bits = -1, max_bits = -1; ///< pHash distances of its near-duplicate links (-1: none)
};

/// What a later split shares with an earlier one (train/val, train/test, val/test).
struct SplitOverlap {
  std::string earlier, later;
  long later_images = 0;   ///< decoded images of `later`
  long shared = 0;         ///< of them, images with a copy in `earlier`
  long byte_identical = 0; ///< ... a byte-identical one
  long near = 0;           ///< ... only near-duplicates (shared - byte_identical)
  long clusters = 0;       ///< duplicate clusters with images in both splits
  long patients = 0;       ///< patient ids with images in both splits
};

struct CheckReport {
  std::filesystem::path source;
  std::string kind;                  ///< "yolo", "coco", "class folders", "csv"
  std::vector<std::string> names;    ///< class names (index = class id or label)
  std::vector<SplitSummary> splits;  ///< in train, val, test order
  std::vector<Finding> findings;
  std::vector<DuplicateCluster> clusters;  ///< largest first
  std::vector<SplitOverlap> overlaps;      ///< one per pair of train / val / test present
  int near_duplicate_bits = kNearDuplicateBits;
  double near_duplicate_correlation = kNearDuplicateCorrelation;
  int errors() const;
  int warnings() const;
};

/// Checks a dataset (see file comment). Throws fracture::Error on structural problems (unreadable
/// yaml, missing keys) and, when opt.strict, on the first error-level finding.
CheckReport check_dataset(const std::filesystem::path& data, const CheckOptions& opt, Logger& log);

/// Throws fracture::Error when `out` lies inside the dataset folder of `data` (the folder itself
/// for a class-folder root, else the folder holding the yaml/json/csv): datasets are read-only.
void refuse_write_into_dataset(const std::filesystem::path& out, const std::filesystem::path& data);

/// Human-readable summary and findings (what `fracture check` prints).
std::string format_report(const CheckReport& r, int max_warnings = -1);

/// The same as JSON: {source, kind, names, splits: [...], findings: [{severity, kind, file, line,
/// message}], clusters: [{files, splits, byte_identical, min_bits, max_bits}], overlaps: [{earlier,
/// later, later_images, shared, byte_identical, near, clusters, patients}], errors, warnings,
/// near_duplicate_bits}.
nlohmann::json report_json(const CheckReport& r);
/// Writes report_json(r) (indent 2, final newline) atomically: `fracture check report=FILE`.
void write_check_json(const std::filesystem::path& file, const CheckReport& r);

}  // namespace fracture
