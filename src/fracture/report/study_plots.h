// The classification study's plots, drawn from study_curves() (report/study.h) with report::line_plot:
//   roc_curve.png           ROC of every backbone, labelled with its AUROC, and the chance diagonal
//   pr_curve.png            precision-recall of every backbone, labelled with its AP, and the
//                           prevalence (a chance classifier's precision)
//   reliability_diagram.png per backbone the observed fracture rate against the mean predicted
//                           probability of each non-empty bin, after calibration, labelled
//                           with ECE after (before), and the diagonal of perfect calibration
// All on the first repeat's pooled out-of-fold calibrated probabilities (the data of curves.json).
//
//   const auto curves = fracture::study_curves(summary, folds);
//   fracture::write_study_outputs(run, summary, folds, curves);
//   fracture::report::write_study_plots(run, curves);
#pragma once
#include <filesystem>
#include <vector>

#include "fracture/report/study.h"

namespace fracture::report {

/// Writes the three PNGs into `dir` (atomically). A backbone without ROC/PR (one class only) is left
/// out of those two plots; with no backbone at all nothing is written. Throws fracture::Error when a
/// file cannot be written.
void write_study_plots(const std::filesystem::path& dir, const std::vector<StudyCurves>& curves);

}  // namespace fracture::report
