// How well `fracture check` tells copies of one radiograph from different radiographs: recall on
// altered copies of the 23 real FracAtlas fixture radiographs, and the false-positive rate on pairs
// of different radiographs (the real ones against each other and their copies, and many synthetic
// radiographs of the same body parts, where different images are different "patients"), for the
// pHash radius alone and for pHash plus the confirmation step (thumbnail correlation).
//
//   build/bench/near_duplicate_bench [N_SYNTH=1200] [FIXTURES=tests/fixtures/fracatlas-sample]
//
// Prints one table per rule; no pass/fail. docs/data.md quotes it.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/data/hashing.h"
#include "fracture/data/synth.h"

namespace fs = std::filesystem;
using namespace fracture;

namespace {

cv::Mat jpeg(const cv::Mat& m, int q) {
  std::vector<uchar> b;
  cv::imencode(".jpg", m, b, {cv::IMWRITE_JPEG_QUALITY, q});
  return cv::imdecode(b, cv::IMREAD_GRAYSCALE);
}
cv::Mat rotate(const cv::Mat& m, double deg) {
  cv::Mat r = cv::getRotationMatrix2D(cv::Point2f(m.cols / 2.f, m.rows / 2.f), deg, 1.0), o;
  cv::warpAffine(m, o, r, m.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0));
  return o;
}
cv::Mat scaled(const cv::Mat& m, double f) {
  cv::Mat o;
  cv::resize(m, o, cv::Size(), f, f, cv::INTER_AREA);
  return o;
}
cv::Mat flipped(const cv::Mat& m, int code) {
  cv::Mat o;
  cv::flip(m, o, code);
  return o;
}
cv::Mat cropped(const cv::Mat& m, double frac) {
  const int dx = int(m.cols * frac), dy = int(m.rows * frac);
  return m(cv::Rect(dx, dy, m.cols - 2 * dx, m.rows - 2 * dy)).clone();
}
cv::Mat contrast(const cv::Mat& m, double gain) {
  cv::Mat o;
  m.convertTo(o, -1, gain, 128 * (1 - gain));
  return o;
}

// Candidates for the confirmation step, measured here before one goes into the library: a 64x64
// thumbnail, and the 64x64 gradient magnitude (edges: cortex outlines), both of the central 80%,
// zero mean and unit norm.
std::vector<float> unit(const cv::Mat& m) {
  std::vector<float> v(m.begin<float>(), m.end<float>());
  double mean = 0, norm = 0;
  for (float x : v) mean += x;
  mean /= double(v.size());
  for (float& x : v) x = float(x - mean), norm += double(x) * x;
  for (float& x : v) x = float(x / std::sqrt(std::max(norm, 1e-12)));
  return v;
}
struct Fine {
  std::vector<float> thumb, edges;
};
Fine fine_of(const cv::Mat& grey) {
  cv::Mat f, small, gx, gy, mag;
  grey.convertTo(f, CV_32F);
  const int cw = int(f.cols * 0.8), ch = int(f.rows * 0.8);
  cv::resize(f(cv::Rect((f.cols - cw) / 2, (f.rows - ch) / 2, cw, ch)), small, cv::Size(64, 64), 0, 0, cv::INTER_AREA);
  cv::GaussianBlur(small, small, cv::Size(0, 0), 1.0);
  cv::Sobel(small, gx, CV_32F, 1, 0);
  cv::Sobel(small, gy, CV_32F, 0, 1);
  cv::magnitude(gx, gy, mag);
  return {unit(small), unit(mag)};
}
double corr4(const std::vector<float>& a, const std::vector<float>& b, int n) {
  double best = -1;
  for (int o = 0; o < 4; ++o) {
    double d = 0;
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        d += double(a[size_t(y * n + x)]) * b[size_t((o & 2 ? n - 1 - y : y) * n + (o & 1 ? n - 1 - x : x))];
    best = std::max(best, d);
  }
  return best;
}

struct Image {
  int source;  // images with one source are copies of each other
  bool original = false;
  NearDuplicateSignature sig;
  Fine fine;
};

}  // namespace

int main(int argc, char** argv) {
  const int n_synth = argc > 1 ? std::stoi(argv[1]) : 1200;
  const fs::path fixtures = argc > 2 ? fs::path(argv[2]) : fs::path("tests/fixtures/fracatlas-sample");
  std::vector<Image> real;  // originals and their altered copies
  int source = 0;
  for (const char* sub : {"fractured", "negatives"}) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(fixtures / "images" / sub)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const cv::Mat m = cv::imread(f.string(), cv::IMREAD_GRAYSCALE);
      const std::vector<cv::Mat> copies = {m,
                                           jpeg(m, 70),
                                           flipped(m, 1),
                                           rotate(m, 2),
                                           rotate(m, -3),
                                           scaled(m, 0.5),
                                           cropped(m, 0.03),
                                           contrast(m, 1.15),
                                           scaled(jpeg(rotate(flipped(m, 1), 3), 70), 0.5)};
      for (size_t k = 0; k < copies.size(); ++k)
        real.push_back({source, k == 0, near_duplicate_signature(copies[k]), fine_of(copies[k])});
      ++source;
    }
  }
  std::printf("%d real radiographs, %zu images with their copies\n", source, real.size());
  SynthOptions so;
  so.n = n_synth;
  so.imgsz = 256;
  so.seed = 5;
  std::vector<Image> synth;
  for (const auto& item : plan_synth(so)) {
    cv::Mat u8;
    render_synth(so, item).image.convertTo(u8, CV_8U, 255.0);
    synth.push_back({-1 - item.index, false, near_duplicate_signature(u8), fine_of(u8)});
  }
  std::printf("%zu synthetic radiographs (6 body regions; each its own patient)\n", synth.size());

  // Distances of every pair: (pHash bits, thumbnail correlation), split by kind.
  struct Pair {
    int bits;
    double corr, corr64, edges64;
  };
  std::vector<Pair> same, same_orig, diff_real, diff_synth;
  auto add = [](const Image& a, const Image& b, std::vector<Pair>& to) {
    const int bits = phash_pair_distance(a.sig.phash, b.sig.phash);
    if (bits > 16) {  // the finer tests only run on candidates
      to.push_back({bits, -1, -1, -1});
      return;
    }
    to.push_back({bits, thumbnail_correlation(a.sig, b.sig), corr4(a.fine.thumb, b.fine.thumb, 64),
                  corr4(a.fine.edges, b.fine.edges, 64)});
  };
  for (size_t i = 0; i < real.size(); ++i)
    for (size_t j = i + 1; j < real.size(); ++j) {
      add(real[i], real[j], real[i].source == real[j].source ? same : diff_real);
      if (real[i].source == real[j].source && (real[i].original || real[j].original)) same_orig.push_back(same.back());
    }
  for (size_t i = 0; i < synth.size(); ++i)
    for (size_t j = i + 1; j < synth.size(); ++j) add(synth[i], synth[j], diff_synth);
  std::printf("pairs: %zu copies of one radiograph (%zu with the original), %zu different real, %zu different synthetic\n\n", same.size(), same_orig.size(),
              diff_real.size(), diff_synth.size());

  auto rate = [](const std::vector<Pair>& v, int bits, double corr, double Pair::*field = &Pair::corr) {
    size_t k = 0;
    for (const Pair& p : v) k += p.bits <= bits && p.*field >= corr;
    return double(k) / double(v.size());
  };
  std::printf("| rule | recall, original vs copy | recall, any two copies | false positives, real pairs | false positives, synthetic pairs |\n|---|---|---|---|---|\n");
  for (int bits : {6, 8, 10, 12, 14, 16})
    std::printf("| pHash <= %d bits | %.4f | %.4f | %.2e | %.2e |\n", bits, rate(same_orig, bits, -2), rate(same, bits, -2), rate(diff_real, bits, -2),
                rate(diff_synth, bits, -2));
  for (double corr : {0.80, 0.85, 0.90, 0.93, 0.95})
    std::printf("| pHash <= 16 bits and 32x32 thumbnail correlation >= %.2f | %.4f | %.4f | %.2e | %.2e |\n", corr,
                rate(same_orig, 16, corr), rate(same, 16, corr),
                rate(diff_real, 16, corr), rate(diff_synth, 16, corr));
  for (double corr : {0.80, 0.85, 0.90, 0.93})
    std::printf("| pHash <= 16 bits and 64x64 thumbnail correlation >= %.2f | %.4f | %.4f | %.2e | %.2e |\n", corr,
                rate(same_orig, 16, corr, &Pair::corr64), rate(same, 16, corr, &Pair::corr64), rate(diff_real, 16, corr, &Pair::corr64),
                rate(diff_synth, 16, corr, &Pair::corr64));
  for (double corr : {0.50, 0.60, 0.70, 0.80})
    std::printf("| pHash <= 16 bits and 64x64 edge correlation >= %.2f | %.4f | %.4f | %.2e | %.2e |\n", corr,
                rate(same_orig, 16, corr, &Pair::edges64), rate(same, 16, corr, &Pair::edges64), rate(diff_real, 16, corr, &Pair::edges64),
                rate(diff_synth, 16, corr, &Pair::edges64));
  for (int bits : {10, 12, 14})
    for (double corr : {0.85, 0.90})
      std::printf("| pHash <= %d bits and 32x32 thumbnail correlation >= %.2f | %.4f | %.4f | %.2e | %.2e |\n", bits,
                  corr, rate(same_orig, bits, corr), rate(same, bits, corr), rate(diff_real, bits, corr),
                  rate(diff_synth, bits, corr));
  // The closest different pairs and the farthest copies, by correlation.
  auto extreme = [](std::vector<Pair> v, bool lowest) {
    std::sort(v.begin(), v.end(), [](const Pair& a, const Pair& b) { return a.corr < b.corr; });
    return lowest ? v.front() : v.back();
  };
  const Pair worst_copy = extreme(same, true), best_real = extreme(diff_real, false), best_synth = extreme(diff_synth, false);
  std::printf("\nlowest correlation of a copy: %.3f (%d bits); highest of different radiographs: real %.3f (%d bits), "
              "synthetic %.3f (%d bits)\n",
              worst_copy.corr, worst_copy.bits, best_real.corr, best_real.bits, best_synth.corr, best_synth.bits);
  return 0;
}
