// Image reading and dataset loading speed. Usage: io_bench [SOURCE_DIR] (default: current folder).
// Prints milliseconds per image for each format and per load of the FracAtlas sample data.yaml.
#include <opencv2/imgcodecs.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "fracture/core/fs.h"
#include "fracture/core/log.h"
#include "fracture/data/dicom.h"
#include "fracture/data/image.h"
#include "fracture/data/yolo.h"

namespace fs = std::filesystem;

template <class F>
double ms_per_call(int n, F f) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / n;
}

int main(int argc, char** argv) {
  fs::path src = argc > 1 ? argv[1] : ".";
  fs::path tmp = fs::temp_directory_path() / ("fracture_io_bench_" + std::to_string(std::random_device{}()));
  fs::create_directories(tmp);
  auto log = fracture::null_logger();

  // A 2048 x 2500 radiograph-sized ramp with noise, in each format.
  cv::Mat m16(2500, 2048, CV_16UC1);
  cv::randu(m16, 0, 65535);
  cv::Mat m8;
  m16.convertTo(m8, CV_8U, 1.0 / 257);
  std::vector<std::pair<std::string, fs::path>> files;
  auto save = [&](const std::string& label, const std::string& name, const cv::Mat& m) {
    cv::imwrite((tmp / name).string(), m);
    files.push_back({label, tmp / name});
  };
  save("png 8-bit 2048x2500", "a.png", m8);
  save("png 16-bit 2048x2500", "b.png", m16);
  save("jpeg 8-bit 2048x2500", "c.jpg", m8);
  save("tiff 16-bit 2048x2500", "d.tif", m16);
  if (fracture::dicom_supported()) {
    fracture::DicomWriteOptions o;
    o.patient_id = "BENCH";
    fracture::write_dicom(tmp / "e.dcm", m16, o);
    files.push_back({"dicom 16-bit 2048x2500 (percentile window)", tmp / "e.dcm"});
  }
  for (const auto& [label, path] : files) {
    double ms = ms_per_call(5, [&] { fracture::read_image(path); });
    std::printf("read_image  %-44s %8.1f ms\n", label.c_str(), ms);
  }

  fs::path yaml = src / "tests/fixtures/fracatlas-sample/data.yaml";
  if (fs::exists(yaml)) {
    double ms = ms_per_call(20, [&] { fracture::load_yolo(yaml, true, *log, nullptr); });
    std::printf("load_yolo   %-44s %8.2f ms\n", "FracAtlas sample (23 images)", ms);
    std::vector<fs::path> jpgs;
    for (const auto& e : fs::recursive_directory_iterator(src / "tests/fixtures/fracatlas-sample/images"))
      if (e.path().extension() == ".jpg") jpgs.push_back(e.path());
    double per = ms_per_call(3, [&] {
                   for (const auto& p : jpgs) fracture::read_image(p);
                 }) / double(jpgs.size());
    std::printf("read_image  %-44s %8.2f ms\n", "FracAtlas JPEG (373x454), per image", per);
  }
  fs::remove_all(tmp);
  return 0;
}
