// report.html of a `fracture study`: summary.md's findings and tables, with the study's figures
// beside their sections, drawn by Vega-Lite from the stage files (one writer: this file).
//
//   fracture::report::write_study_html("runs/study/study", summary_md, {"yolov8n"});
//   // runs/study/study/report.html (+ figures/*.png for the figures that had no file yet)
//
// Figures, each also a file a paper can take (PNG; the page's chart menu also saves SVG):
//   classification: ROC and PR curves (out-of-fold), reliability before/after calibration,
//     sensitivity and specificity against the threshold, training and validation loss per fold;
//   detection (per detector): val PR curves per class at IoU 0.5, mAP per epoch, the val confusion
//     matrix;
//   samples: test radiographs with true and predicted boxes and the out-of-fold Grad-CAM map
//     (samples/*.png, written by the study's samples stage).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/report/html.h"

namespace fracture::report {

/// The study's figures for one section of summary.md ("classification", "detection", "samples").
std::vector<Figure> study_figures(const std::filesystem::path& study, const std::string& section,
                                  const std::vector<std::string>& detectors);

/// Writes report.html (and figures/*.png) into `study`. Throws fracture::Error when the build has no
/// chart libraries (FRACTURE_WITH_HTML_REPORT off).
void write_study_html(const std::filesystem::path& study, const std::string& summary_md,
                      const std::vector<std::string>& detectors);

}  // namespace fracture::report
