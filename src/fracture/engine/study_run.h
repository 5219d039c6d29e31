// `fracture study`: the reference study's whole protocol from one config, stage by stage into one
// study directory, resumable at every stage.
//
//   fracture::Config cfg = fracture::Config::defaults();
//   cfg.set("data", "synthetic/data.yaml", "example");        // boxes and (from them) image labels
//   fracture::engine::StudyOutcome out = fracture::engine::run_study(cfg, *log);
//   std::printf("%s", out.report.c_str());                     // summary.md
//
// Study directory (<project>/study/<name>, numbered as every run directory):
//   args.yaml                  the resolved config; resume=DIR continues with it
//   classify/cv/               `classify cv` of the classifiers (model=, null = all three)
//   detect/<size>/             `detect train` of each detector (key detectors), its final val files
//   detect/<size>_test/        `detect val split=test` of its best weights
//   compare.json, compare.csv  detector against classifier on the same images (report/compare.h)
//   detection.csv              P, R, mAP50, mAP50-95 per detector, split and class
//   summary.md                 every table, and the findings in words
// Stages skip finished work: a classify run with metrics.json is re-summarised from its folds (no
// training), an unfinished one resumed fold by fold; a detector with metrics.json is kept, one with
// weights/last.pt resumed from it, a test evaluation without metrics.json redone. The comparison is
// recomputed from the stages' files each time (deterministic: same files, same bytes).
#pragma once
#include <filesystem>
#include <string>

#include "fracture/core/config.h"
#include "fracture/core/log.h"

namespace fracture::engine {

struct StudyOutcome {
  std::filesystem::path run_dir;
  std::string report;
};

/// Runs (or resumes, with resume=STUDY_DIR) the study. `data` must be a detection dataset
/// (data.yaml with train, val and test splits); the classifiers use the same images with the
/// image label "fractured when it has a fracture box" (key fracture_classes).
StudyOutcome run_study(const Config& cfg, Logger& log);

}  // namespace fracture::engine
