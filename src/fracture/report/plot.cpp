#include "fracture/report/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"

namespace fracture::report {

namespace {
// Margins of the axes box inside the image, in pixels.
constexpr int kLeft = 80, kRight = 30, kTop = 50, kBottom = 70;

// matplotlib's tab10 colours as BGR.
const cv::Scalar kColours[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44},  {40, 39, 214},  {189, 103, 148},
                               {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23}};

void text(cv::Mat& img, const std::string& s, cv::Point at, double scale, const cv::Scalar& colour, bool centre = false,
          int thickness = 1) {
  int base = 0;
  cv::Size sz = cv::getTextSize(s, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &base);
  if (centre) at.x -= sz.width / 2;
  cv::putText(img, s, at, cv::FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv::LINE_AA);
}
}  // namespace

cv::Point data_to_pixel(double x, double y, const PlotOptions& o) {
  const double w = o.width - kLeft - kRight, h = o.height - kTop - kBottom;
  const double fx = (x - o.xmin) / (o.xmax - o.xmin), fy = (y - o.ymin) / (o.ymax - o.ymin);
  return {kLeft + static_cast<int>(std::lround(fx * w)), kTop + static_cast<int>(std::lround((1.0 - fy) * h))};
}

cv::Mat line_plot(const std::vector<Series>& series, const PlotOptions& o) {
  FRACTURE_CHECK(o.xmax > o.xmin && o.ymax > o.ymin, "line_plot: empty axis range");
  FRACTURE_CHECK(o.width >= kLeft + kRight + 50 && o.height >= kTop + kBottom + 50, "line_plot: image too small (",
                 o.width, "x", o.height, ")");
  for (const auto& s : series)
    FRACTURE_CHECK(s.x.size() == s.y.size(), "line_plot: series '", s.label, "' has ", s.x.size(), " x and ",
                   s.y.size(), " y values");
  cv::Mat img(o.height, o.width, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Point p00 = data_to_pixel(o.xmin, o.ymin, o), p11 = data_to_pixel(o.xmax, o.ymax, o);
  const cv::Scalar grey(200, 200, 200), black(0, 0, 0);
  // Grid and ticks at fifths of each range.
  for (int i = 0; i <= 5; ++i) {
    const double fx = o.xmin + (o.xmax - o.xmin) * i / 5.0, fy = o.ymin + (o.ymax - o.ymin) * i / 5.0;
    const cv::Point gx = data_to_pixel(fx, o.ymin, o), gy = data_to_pixel(o.xmin, fy, o);
    cv::line(img, {gx.x, p11.y}, {gx.x, p00.y}, grey, 1);
    cv::line(img, {p00.x, gy.y}, {p11.x, gy.y}, grey, 1);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", fx);
    text(img, buf, {gx.x, p00.y + 22}, 0.5, black, true);
    std::snprintf(buf, sizeof buf, "%.1f", fy);
    text(img, buf, {p00.x - 40, gy.y + 5}, 0.5, black);
  }
  cv::rectangle(img, p11, p00, black, 1);
  text(img, o.title, {o.width / 2, kTop - 18}, 0.7, black, true, 2);
  text(img, o.xlabel, {(p00.x + p11.x) / 2, o.height - 20}, 0.6, black, true);
  // y label: OpenCV has no rotated text, so drawn into a strip that is turned 90 degrees and
  // centred on the axis, left of the tick labels.
  if (!o.ylabel.empty()) {
    int base = 0;
    const cv::Size sz = cv::getTextSize(o.ylabel, cv::FONT_HERSHEY_SIMPLEX, 0.55, 1, &base);
    cv::Mat strip(sz.height + base + 4, sz.width + 4, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::putText(strip, o.ylabel, {2, sz.height + 2}, cv::FONT_HERSHEY_SIMPLEX, 0.55, black, 1, cv::LINE_AA);
    cv::rotate(strip, strip, cv::ROTATE_90_COUNTERCLOCKWISE);
    const int h = std::min(strip.rows, o.height), y0 = std::max(0, (p00.y + p11.y) / 2 - h / 2);
    const int hh = std::min(h, o.height - y0), ww = std::min(strip.cols, kLeft - 45);
    strip(cv::Rect(0, strip.rows - hh, ww, hh)).copyTo(img(cv::Rect(8, y0, ww, hh)));
  }

  // Lines: thin ones first, bold ones on top; clipped to the axes box.
  cv::Mat plot = img(cv::Rect(p00.x, p11.y, p11.x - p00.x + 1, p00.y - p11.y + 1));
  const cv::Point offset(p00.x, p11.y);
  std::vector<std::pair<const Series*, cv::Scalar>> legend;
  int colour = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& s : series) {
      if (s.bold != (pass == 1)) continue;
      const cv::Scalar c = s.bold ? cv::Scalar(140, 40, 20) : kColours[colour++ % 10];
      std::vector<cv::Point> pts;
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        pts.push_back(data_to_pixel(s.x[i], s.y[i], o) - offset);
      }
      if (pts.size() >= 2) cv::polylines(plot, pts, false, c, s.bold ? 3 : 1, cv::LINE_AA);
      if (pts.size() == 1 || s.markers) {
        for (const cv::Point& p : pts) cv::circle(plot, p, s.bold ? 4 : 3, c, cv::FILLED, cv::LINE_AA);
      }
      legend.emplace_back(&s, c);
    }
  }
  // Legend: bold entries first, at most max_legend, inside the upper right of the axes.
  std::stable_sort(legend.begin(), legend.end(), [](const auto& a, const auto& b) { return a.first->bold > b.first->bold; });
  const int shown = std::min<int>(int(legend.size()), std::max(0, o.max_legend));
  if (shown > 0) {
    int w = 0;
    for (int i = 0; i < shown; ++i)
      w = std::max(w, cv::getTextSize(legend[size_t(i)].first->label, cv::FONT_HERSHEY_SIMPLEX, 0.45, 1, nullptr).width);
    const int rows = shown + (int(legend.size()) > shown ? 1 : 0);
    const cv::Rect box(p11.x - w - 50, p11.y + 8, w + 42, rows * 18 + 8);
    cv::rectangle(img, box, cv::Scalar(255, 255, 255), cv::FILLED);
    cv::rectangle(img, box, grey, 1);
    for (int i = 0; i < shown; ++i) {
      const int y = box.y + 16 + i * 18;
      const auto& [s, c] = legend[size_t(i)];
      cv::line(img, {box.x + 6, y - 4}, {box.x + 28, y - 4}, c, s->bold ? 3 : 2, cv::LINE_AA);
      text(img, s->label, {box.x + 34, y}, 0.45, black);
    }
    if (int(legend.size()) > shown) {
      text(img, "+" + std::to_string(legend.size() - size_t(shown)) + " more", {box.x + 34, box.y + 16 + shown * 18},
           0.45, black);
    }
  }
  return img;
}

cv::Mat heatmap(const std::vector<std::vector<double>>& values, const std::vector<std::string>& row_labels,
                const std::vector<std::string>& col_labels, const std::string& title, const std::string& xlabel,
                const std::string& ylabel) {
  const int rows = int(row_labels.size()), cols = int(col_labels.size());
  FRACTURE_CHECK(int(values.size()) == rows, "heatmap: ", values.size(), " rows of values for ", rows, " row labels");
  for (const auto& r : values)
    FRACTURE_CHECK(int(r.size()) == cols, "heatmap: a row has ", r.size(), " values for ", cols, " column labels");
  int label_w = 0;
  for (const auto& l : row_labels)
    label_w = std::max(label_w, cv::getTextSize(l, cv::FONT_HERSHEY_SIMPLEX, 0.45, 1, nullptr).width);
  int col_label_w = 0;
  for (const auto& l : col_labels)
    col_label_w = std::max(col_label_w, cv::getTextSize(l, cv::FONT_HERSHEY_SIMPLEX, 0.45, 1, nullptr).width);
  const int cell = std::max(24, std::min(70, 700 / std::max(1, std::max(rows, cols))));
  const int left = label_w + 20, top = 60, bottom = col_label_w + 50;
  cv::Mat img(top + rows * cell + bottom, std::max(left + cols * cell + 20, 300), CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar black(0, 0, 0);
  text(img, title, {img.cols / 2, 30}, 0.6, black, true, 2);
  text(img, ylabel, {8, top - 8}, 0.5, black);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const double v = std::clamp(values[size_t(r)][size_t(c)], 0.0, 1.0);
      // white -> dark blue (BGR 140, 40, 20)
      const cv::Scalar fill(255 - v * (255 - 140), 255 - v * (255 - 40), 255 - v * (255 - 20));
      const cv::Rect box(left + c * cell, top + r * cell, cell, cell);
      cv::rectangle(img, box, fill, cv::FILLED);
      cv::rectangle(img, box, cv::Scalar(220, 220, 220), 1);
      if (cols <= 30 && v > 0) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.2f", v);
        text(img, buf, {box.x + cell / 2, box.y + cell / 2 + 4}, 0.35, v > 0.5 ? cv::Scalar(255, 255, 255) : black, true);
      }
    }
    text(img, row_labels[size_t(r)], {8, top + r * cell + cell / 2 + 4}, 0.45, black);
  }
  // Column labels written top to bottom under each column (rotated text drawn on a transposed patch).
  for (int c = 0; c < cols; ++c) {
    cv::Mat patch(cell, col_label_w + 10, CV_8UC3, cv::Scalar(255, 255, 255));
    text(patch, col_labels[size_t(c)], {col_label_w + 8 - cv::getTextSize(col_labels[size_t(c)], cv::FONT_HERSHEY_SIMPLEX,
                                                                            0.45, 1, nullptr).width,
                                        cell / 2 + 4},
         0.45, black);
    cv::Mat rotated;
    cv::rotate(patch, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);  // reads bottom to top, ends at the cells
    rotated.copyTo(img(cv::Rect(left + c * cell, top + rows * cell + 4, rotated.cols, rotated.rows)));
  }
  text(img, xlabel, {left + cols * cell / 2, img.rows - 12}, 0.5, black, true);
  return img;
}

void write_png_atomic(const cv::Mat& image, const std::filesystem::path& path) {
  std::vector<uchar> buf;
  FRACTURE_CHECK(!image.empty() && cv::imencode(".png", image, buf), path.string(), ": could not encode the PNG");
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
}

}  // namespace fracture::report
