// fracture::report::line_plot: where lines land, legend, clipping, bad input; PNG round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "fracture/core/error.h"
#include "fracture/report/plot.h"
#include "fracture/report/study_plots.h"

namespace fs = std::filesystem;
using fracture::report::data_to_pixel;
using fracture::report::line_plot;
using fracture::report::PlotOptions;
using fracture::report::Series;

namespace {
bool is_white(const cv::Mat& img, cv::Point p) {
  const cv::Vec3b v = img.at<cv::Vec3b>(p);
  return v[0] == 255 && v[1] == 255 && v[2] == 255;
}
}  // namespace

TEST(LinePlot, DrawsEachSeriesWhereItsDataIs) {
  PlotOptions o;
  o.width = 400;
  o.height = 300;
  o.max_legend = 0;  // no legend box over the lines
  // y = x (thin) and y = 0.25 (bold), on the default [0, 1] axes.
  std::vector<Series> s{{"diag", {0, 1}, {0, 1}, false}, {"flat", {0, 1}, {0.25, 0.25}, true}};
  cv::Mat img = line_plot(s, o);
  ASSERT_EQ(img.size(), cv::Size(400, 300));
  ASSERT_EQ(img.type(), CV_8UC3);
  // On the lines: coloured. A point on neither (x 0.8, y 0.5; off the grid lines): white.
  EXPECT_FALSE(is_white(img, data_to_pixel(0.5, 0.5, o)));
  EXPECT_FALSE(is_white(img, data_to_pixel(0.7, 0.25, o)));
  EXPECT_TRUE(is_white(img, data_to_pixel(0.7, 0.5, o) + cv::Point(3, 3)));
  // The bold line is dark blue (BGR 140, 40, 20), drawn over the thin one where they cross.
  const cv::Vec3b bold = img.at<cv::Vec3b>(data_to_pixel(0.25, 0.25, o));
  EXPECT_EQ(bold, cv::Vec3b(140, 40, 20));
  // Axes corners map to the plot box, y growing upwards.
  EXPECT_LT(data_to_pixel(0, 1, o).y, data_to_pixel(0, 0, o).y);
  EXPECT_LT(data_to_pixel(0, 0, o).x, data_to_pixel(1, 0, o).x);
}

TEST(LinePlot, ClipsOutOfRangeAndSkipsNonFinitePoints) {
  PlotOptions o;
  std::vector<Series> s{{"wild", {0, 0.5, 1}, {-3, std::nan(""), 7}, false}};
  cv::Mat img = line_plot(s, o);  // must not throw or draw outside the axes box
  EXPECT_TRUE(is_white(img, {o.width - 5, o.height / 2}));
}

TEST(LinePlot, RefusesMismatchedSeriesAndEmptyRanges) {
  PlotOptions o;
  EXPECT_THROW(line_plot({{"bad", {0, 1}, {0}, false}}, o), fracture::Error);
  o.xmax = o.xmin;
  EXPECT_THROW(line_plot({}, o), fracture::Error);
}

TEST(LinePlot, PngWrittenAtomicallyReadsBack) {
  const fs::path dir = fs::temp_directory_path() / "fracture_report_test";
  fs::create_directories(dir);
  PlotOptions o;
  o.title = "t";
  cv::Mat img = line_plot({{"a", {0, 1}, {0, 1}, false}}, o);
  fracture::report::write_png_atomic(img, dir / "p.png");
  cv::Mat back = cv::imread((dir / "p.png").string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(back.empty());
  EXPECT_EQ(cv::norm(back, img, cv::NORM_INF), 0.0);
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().extension(), ".png") << e.path();  // no temp left
  fs::remove_all(dir);
}

TEST(Heatmap, ShadesCellsByValueAndRefusesRaggedInput) {
  std::vector<std::vector<double>> v{{1.0, 0.0}, {0.0, 0.5}};
  cv::Mat img = fracture::report::heatmap(v, {"a", "bg"}, {"a", "bg"}, "t", "True", "Predicted");
  ASSERT_FALSE(img.empty());
  // Find the darkest and count fully white pixels inside the cell area: a 1.0 cell is dark blue.
  double mn = 0, mx = 0;
  cv::Mat grey;
  cv::cvtColor(img, grey, cv::COLOR_BGR2GRAY);
  cv::minMaxLoc(grey, &mn, &mx);
  EXPECT_LT(mn, 80);
  EXPECT_EQ(mx, 255);
  EXPECT_THROW(fracture::report::heatmap({{1.0}, {0.0, 1.0}}, {"a", "b"}, {"a", "b"}, "t", "x", "y"), fracture::Error);
  EXPECT_THROW(fracture::report::heatmap(v, {"a"}, {"a", "b"}, "t", "x", "y"), fracture::Error);
}

// The classification study's plots: the three PNGs, where a backbone's points land (a reliability
// bin at (0.3, 0.2) is drawn there; an empty bin is not), and a backbone without ROC (one class
// only) left out of roc/pr while the reliability diagram is still written.
TEST(StudyPlots, WritesRocPrAndReliabilityFromTheCurves) {
  const fs::path dir = fs::temp_directory_path() / "fracture_study_plots_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fracture::StudyCurves c;
  c.model = "resnet18";
  c.has_roc = true;
  c.roc = {{0, 0, 0.5, 1}, {0, 0.5, 1, 1}, {2, 0.9, 0.4, 0.1}};
  c.pr = {{0.5, 0.67, 1, 1}, {1, 1, 0.5, 0}, {0.1, 0.4, 0.9}};
  c.auroc = 0.875;
  c.ap = 0.9;
  c.prevalence = 0.5;
  c.after.bins = {{0.0, 0.5, 4, 0.3, 0.2}, {0.5, 1.0, 0, 0, 0}};
  c.after.ece = 0.1;
  c.before = c.after;
  fracture::report::write_study_plots(dir, {c});
  for (const char* f : {"roc_curve.png", "pr_curve.png", "reliability_diagram.png"}) {
    cv::Mat img = cv::imread((dir / f).string());
    ASSERT_FALSE(img.empty()) << f;
    EXPECT_EQ(img.size(), cv::Size(900, 650)) << f;
  }
  PlotOptions o;  // the size and axes write_study_plots uses
  cv::Mat rel = cv::imread((dir / "reliability_diagram.png").string());
  EXPECT_FALSE(is_white(rel, data_to_pixel(0.3, 0.2, o)));  // the non-empty bin's point
  cv::Mat roc = cv::imread((dir / "roc_curve.png").string());
  EXPECT_FALSE(is_white(roc, data_to_pixel(0.25, 0.75, o)));  // on the ROC segment (0, 0.5)-(0.5, 1)
  EXPECT_TRUE(is_white(roc, data_to_pixel(0.75, 0.25, o) + cv::Point(3, 3)));  // below the chance line: empty
  // One class only: no ROC/PR files, the reliability diagram still written.
  fs::remove_all(dir);
  fs::create_directories(dir);
  c.has_roc = false;
  fracture::report::write_study_plots(dir, {c});
  EXPECT_FALSE(fs::exists(dir / "roc_curve.png"));
  EXPECT_FALSE(fs::exists(dir / "pr_curve.png"));
  EXPECT_TRUE(fs::exists(dir / "reliability_diagram.png"));
  fracture::report::write_study_plots(dir / "none", {});  // nothing to draw: nothing written, no error
  EXPECT_FALSE(fs::exists(dir / "none"));
  fs::remove_all(dir);
}
