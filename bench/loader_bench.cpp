// Loader throughput: decoded + augmented + batched images per second, for the classification
// source at 224 px and the detection source at 640 px with mosaic, with 1 and 2 workers.
//
//   build/bench/loader_bench                  # generates 200 PNG + 200 JPEG 1024x1024 radiograph-like images
//   build/bench/loader_bench DIR [N]          # uses the first N (default 200) images found under DIR
//
// Then the same for classification at 128 px without a cache and with cache=ram (first and later
// epochs).
//
// Timing starts at start_epoch() and stops after the last batch (thread start-up included).
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <string>
#include <vector>

#include "fracture/core/fs.h"
#include "fracture/data/loader.h"

namespace fs = std::filesystem;
using namespace fracture;

namespace {

// A grey 1024x1024 image that looks vaguely like a limb radiograph: dark background, soft tissue,
// two bright bone shafts with a cortex, blur and noise. Deterministic for `i`.
cv::Mat radiograph_like(int i, int size) {
  cv::RNG r(uint64_t(1000 + i));
  cv::Mat m(size, size, CV_8UC1, cv::Scalar(15));
  cv::Point c(size / 2 + r.uniform(-60, 60), size / 2);
  cv::ellipse(m, c, cv::Size(size / 4, size / 2 - 20), r.uniform(-15, 15), 0, 360, cv::Scalar(70), -1);
  for (int k = -1; k <= 1; k += 2) {
    cv::Point b(c.x + k * size / 12, c.y);
    double ang = r.uniform(-10, 10);
    cv::ellipse(m, b, cv::Size(size / 22, size / 2 - 60), ang, 0, 360, cv::Scalar(210), -1);
    cv::ellipse(m, b, cv::Size(size / 40, size / 2 - 90), ang, 0, 360, cv::Scalar(150), -1);
  }
  cv::GaussianBlur(m, m, cv::Size(0, 0), 3);
  cv::Mat noise(size, size, CV_8UC1);
  r.fill(noise, cv::RNG::NORMAL, 0, 6);
  cv::add(m, noise, m);
  return m;
}

// Images per wall-clock second, and per CPU-second of this process (all threads; user + system).
// The second is what one dedicated core would give, so it does not depend on other load.
struct Speed {
  double wall, cpu;
};

Speed run(std::shared_ptr<Source> src, int workers, int batch) {
  LoaderOptions lo;
  lo.batch = batch, lo.workers = workers, lo.seed = 0;
  Loader l(src, lo);
  auto t0 = std::chrono::steady_clock::now();
  std::clock_t c0 = std::clock();
  l.start_epoch(0);
  size_t n = 0;
  while (auto b = l.next()) n += size_t(b->images.size(0));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double c = double(std::clock() - c0) / CLOCKS_PER_SEC;
  return {double(n) / s, double(n) / c};
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 2 ? std::stoi(argv[2]) : 200;
  std::vector<std::pair<std::string, std::vector<fs::path>>> sets;  // (label, files)
  fs::path tmp;
  if (argc > 1) {
    std::vector<fs::path> files;
    for (auto& e : fs::recursive_directory_iterator(argv[1])) {
      std::string ext = lower_ext(e.path());
      if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (int(files.size()) > n) files.resize(size_t(n));
    if (files.empty()) {
      std::fprintf(stderr, "no .png/.jpg images under %s\n", argv[1]);
      return 1;
    }
    sets.push_back({fs::path(argv[1]).filename().string(), files});
  } else {
    tmp = fs::temp_directory_path() / "fracture_loader_bench";
    fs::create_directories(tmp);
    std::vector<fs::path> png, jpg;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      cv::Mat m = radiograph_like(i, 1024);
      png.push_back(tmp / ("r" + std::to_string(i) + ".png"));
      jpg.push_back(tmp / ("r" + std::to_string(i) + ".jpg"));
      cv::imwrite(png.back().string(), m);
      cv::imwrite(jpg.back().string(), m, {cv::IMWRITE_JPEG_QUALITY, 95});
    }
    std::printf("generated %d PNG + %d JPEG 1024x1024 grey images in %s (%.1f s)\n", n, n, tmp.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    sets.push_back({"png 1024", png});
    sets.push_back({"jpeg 1024", jpg});
  }

  std::printf("\n| images | pipeline | workers | images/s (wall) | images per CPU-second |\n|---|---|---|---|---|\n");
  for (auto& [label, files] : sets) {
    std::vector<ClsItem> cls;
    std::vector<DetItem> det;
    for (size_t i = 0; i < files.size(); ++i) {
      cls.push_back({files[i], int(i % 2), ""});
      DetItem d;
      d.image = files[i];
      Box b;
      b.cls = 0, b.cx = 0.45f, b.cy = 0.5f, b.w = 0.1f, b.h = 0.2f;
      d.boxes.push_back(b);
      det.push_back(d);
    }
    ClassificationOptions co;
    co.imgsz = 224, co.augment = true, co.aug.degrees = 10;
    auto cs = std::make_shared<ClassificationSource>(cls, co);
    DetectionOptions dopt;
    dopt.imgsz = 640, dopt.augment = true, dopt.aug.mosaic = 1.0f;
    auto ds = std::make_shared<DetectionSource>(det, dopt);
    for (int w : {1, 2}) {
      Speed sp = run(cs, w, 16);
      std::printf("| %s | classify 224, letterbox + affine/flip/intensity | %d | %.1f | %.1f |\n", label.c_str(), w,
                  sp.wall, sp.cpu);
      std::fflush(stdout);
    }
    for (int w : {1, 2}) {
      Speed sp = run(ds, w, 16);
      std::printf("| %s | detect 640, mosaic + affine/flip/intensity | %d | %.1f | %.1f |\n", label.c_str(), w,
                  sp.wall, sp.cpu);
      std::fflush(stdout);
    }
  }
  // cache=ram (data/image_cache.h): the same source's first epoch decodes and fills it, the second
  // reads pixels from memory; the uncached source decodes every epoch.
  std::printf("\n| images | pipeline (classify 128, letterbox + affine/flip/intensity, 2 workers) | images/s (wall) | "
              "images per CPU-second |\n|---|---|---|---|\n");
  for (auto& [label, files] : sets) {
    std::vector<ClsItem> cls;
    for (size_t i = 0; i < files.size(); ++i) cls.push_back({files[i], int(i % 2), ""});
    ClassificationOptions co;
    co.imgsz = 128, co.augment = true, co.aug.degrees = 10;
    auto plain = std::make_shared<ClassificationSource>(cls, co);
    co.cache = ImageCache::make("ram", "");
    auto cached = std::make_shared<ClassificationSource>(cls, co);
    const Speed none = run(plain, 2, 16), first = run(cached, 2, 16), second = run(cached, 2, 16);
    std::printf("| %s | no cache | %.1f | %.1f |\n", label.c_str(), none.wall, none.cpu);
    std::printf("| %s | cache=ram, first epoch (decodes, fills) | %.1f | %.1f |\n", label.c_str(), first.wall, first.cpu);
    std::printf("| %s | cache=ram, later epochs | %.1f | %.1f |\n", label.c_str(), second.wall, second.cpu);
    std::fflush(stdout);
  }
  if (!tmp.empty()) fs::remove_all(tmp);
  return 0;
}
