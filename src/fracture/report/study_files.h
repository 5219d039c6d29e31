// The files of a classification study's run directory, written from a StudySummary (study.h):
// oof_predictions.csv, metrics.json, timing.json, summary.csv, summary.md, calibration.csv,
// operating_points.csv, comparisons.csv, curves.json; and the same tables as Markdown for the terminal.
//
//   fracture::StudySummary s = fracture::summarise_study(folds, opt);
//   fracture::write_study_outputs(run_dir, s, folds);
//   std::printf("%s", fracture::format_study_tables(s).c_str());
//
// Numbers in CSV files are %.17g (round-trip) or, in the human tables, "0.712 (0.650-0.770)".
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/report/study.h"

namespace fracture {

/// Writes into `dir` (atomically, file by file): oof_predictions.csv, metrics.json (no wall times:
/// byte-identical for the same predictions and options), timing.json (training wall times), summary.csv,
/// summary.md, calibration.csv, operating_points.csv, comparisons.csv, curves.json (ROC, PR and
/// reliability-diagram points per backbone).
void write_study_outputs(const std::filesystem::path& dir, const StudySummary& summary,
                         const std::vector<FoldPredictions>& folds);
/// The same with `curves` = study_curves(summary, folds) already computed (when they are also
/// plotted: report::write_study_plots), so they are not computed twice.
void write_study_outputs(const std::filesystem::path& dir, const StudySummary& summary,
                         const std::vector<FoldPredictions>& folds, const std::vector<StudyCurves>& curves);

/// The Markdown tables (metrics with CIs, calibration before/after, operating points, comparisons).
std::string format_study_tables(const StudySummary& summary);

}  // namespace fracture
