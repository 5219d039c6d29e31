// The files of a `fracture study` directory that sit above its stages: compare.json, compare.csv,
// detection.csv and summary.md (the findings in words, then every table). One writer each.
//
//   fracture::report::StudyReportInput in;   // filled by engine::run_study
//   in.study = "runs/study/study";  in.classify_run = in.study / "classify" / "cv";
//   std::string md = fracture::report::write_study_report(in);   // also writes the files
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/core/config.h"
#include "fracture/report/compare.h"

namespace fracture::report {

/// One trained detector: its training run (final val files) and its test evaluation.
struct StudyDetector {
  std::string size;
  std::filesystem::path train_run, test_run;
};

struct StudyReportInput {
  std::filesystem::path study, classify_run;
  const Config* cfg = nullptr;           ///< the study's resolved config (scale, data)
  std::vector<StudyDetector> detectors;
  bool has_compare = false;
  CompareResult compare;
  int val_not_classified = 0, test_not_classified = 0;  ///< detection images the classifiers did not score
};

/// Writes compare.json, compare.csv, detection.csv and summary.md into in.study; returns summary.md.
std::string write_study_report(const StudyReportInput& in);

}  // namespace fracture::report
