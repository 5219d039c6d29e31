// Line plots as PNG images (OpenCV drawing, no other dependency), for the curves a run writes:
// the detector's PR / F1 / P / R curves (Ultralytics' PR_curve.png, F1_curve.png, P_curve.png,
// R_curve.png), one thin line per class and a bold mean.
//
//   fracture::report::PlotOptions o;  o.title = "Precision-Recall";  o.xlabel = "Recall";  o.ylabel = "Precision";
//   std::vector<fracture::report::Series> s{{"wrist fracture 0.512", recall, precision}};
//   s.push_back({"all classes 0.480 mAP@0.5", recall, mean_precision, /*bold=*/true});
//   fracture::report::write_png_atomic(fracture::report::line_plot(s, o), run_dir / "PR_curve.png");
#pragma once
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace fracture::report {

/// One line: points (x[i], y[i]) in data units, drawn in order. Points outside the axes are clipped.
struct Series {
  std::string label;
  std::vector<double> x, y;
  bool bold = false;  ///< thick dark-blue line (the mean), listed first in the legend
  bool markers = false;  ///< also a dot at every point (sparse data, e.g. reliability bins)
};

struct PlotOptions {
  std::string title, xlabel, ylabel;
  double xmin = 0, xmax = 1, ymin = 0, ymax = 1;  ///< axis ranges in data units
  int width = 900, height = 650;                  ///< image size in pixels
  int max_legend = 12;                            ///< legend entries shown (bold ones first); the rest counted
};

/// The plot as an 8-bit BGR image (width x height): white background, axes with ticks at 0.2 steps
/// of the range, grid, one colour per series (tab10 order), legend inside the upper right, the y
/// label turned 90 degrees left of the axis.
/// Throws fracture::Error for a series whose x and y lengths differ or an empty axis range.
cv::Mat line_plot(const std::vector<Series>& series, const PlotOptions& options);

/// A matrix as a heatmap (Ultralytics' confusion_matrix.png): cell (r, c) shaded by values[r][c]
/// from white (0) to dark blue (1), annotated with the value to 2 decimals when the matrix has at most
/// 30 columns; row labels on the left (`ylabel` side), column labels under the cells. values are
/// expected in [0, 1] (clamped); row_labels.size() rows, col_labels.size() columns. 8-bit BGR, size
/// grows with the matrix. Throws fracture::Error for a ragged matrix or label counts that differ.
cv::Mat heatmap(const std::vector<std::vector<double>>& values, const std::vector<std::string>& row_labels,
                const std::vector<std::string>& col_labels, const std::string& title, const std::string& xlabel,
                const std::string& ylabel);

/// Encodes `image` as PNG and writes it atomically (temp file + rename). Throws fracture::Error.
void write_png_atomic(const cv::Mat& image, const std::filesystem::path& path);

/// Pixel column/row of data point (x, y) inside line_plot's axes (for tests and annotations).
cv::Point data_to_pixel(double x, double y, const PlotOptions& options);

}  // namespace fracture::report
