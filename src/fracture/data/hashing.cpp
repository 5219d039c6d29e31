#include "fracture/data/hashing.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <bitset>
#include <fstream>

#include "fracture/core/error.h"

namespace fracture {
namespace {

constexpr double kCropFraction = 0.8;

// 63-bit pHash of a 32x32 CV_32FC1 image.
uint64_t phash_small(const cv::Mat& small) {
  cv::Mat d;
  cv::dct(small, d);
  float c[63];
  int n = 0;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      if (x || y) c[n++] = d.at<float>(y, x);  // skip DC (mean brightness)
  float sorted[63];
  std::copy(c, c + 63, sorted);
  std::nth_element(sorted, sorted + 31, sorted + 63);
  float median = sorted[31];  // 63 values: the 32nd smallest is the median
  uint64_t h = 0;
  for (int i = 0; i < 63; ++i)
    if (c[i] > median) h |= uint64_t(1) << i;
  return h;
}

}  // namespace

namespace {

constexpr int kThumb = 32;  // side of the central thumbnail both the pHash and the correlation use

// The central 80% of the grey image, area-resized to 32x32, CV_32FC1. Central only: the rim is
// where rotation brings in black corners and where re-exported copies differ by borders and
// burnt-in markers; it halves the worst distance of a 3 degree turn.
cv::Mat central_thumbnail(const cv::Mat& image, const char* who) {
  FRACTURE_CHECK(!image.empty(), who, ": empty image");
  cv::Mat grey = image;
  if (image.channels() == 3) cv::cvtColor(image, grey, cv::COLOR_BGR2GRAY);
  FRACTURE_CHECK(grey.type() == CV_8UC1 || grey.type() == CV_16UC1 || grey.type() == CV_32FC1, who,
                 ": expected a grey CV_8UC1, CV_16UC1 or CV_32FC1 image, got type ", grey.type());
  cv::Mat f, small;
  grey.convertTo(f, CV_32F);  // scale is irrelevant: the pHash compares coefficients with their median
  const int cw = std::max(1, int(f.cols * kCropFraction)), ch = std::max(1, int(f.rows * kCropFraction));
  cv::resize(f(cv::Rect((f.cols - cw) / 2, (f.rows - ch) / 2, cw, ch)), small, cv::Size(kThumb, kThumb), 0, 0,
             cv::INTER_AREA);
  return small;
}

PerceptualHash phash_of_thumbnail(const cv::Mat& small) {
  PerceptualHash p;
  cv::Mat flipped;
  p.plain = phash_small(small);
  cv::flip(small, flipped, 1);
  p.hflip = phash_small(flipped);
  cv::flip(small, flipped, 0);
  p.vflip = phash_small(flipped);
  cv::flip(small, flipped, -1);
  p.rot180 = phash_small(flipped);
  return p;
}

}  // namespace

PerceptualHash perceptual_hash(const cv::Mat& image) {
  return phash_of_thumbnail(central_thumbnail(image, "perceptual_hash"));
}

int hamming(uint64_t a, uint64_t b) { return int(std::bitset<64>(a ^ b).count()); }

int phash_distance(const PerceptualHash& a, const PerceptualHash& b) {
  return std::min(std::min(hamming(a.plain, b.plain), hamming(a.plain, b.hflip)),
                  std::min(hamming(a.plain, b.vflip), hamming(a.plain, b.rot180)));
}

int phash_pair_distance(const PerceptualHash& a, const PerceptualHash& b) {
  return std::min(phash_distance(a, b), phash_distance(b, a));
}

NearDuplicateSignature near_duplicate_signature(const cv::Mat& image) {
  NearDuplicateSignature s;
  const cv::Mat small = central_thumbnail(image, "near_duplicate_signature");  // one resize for both
  s.phash = phash_of_thumbnail(small);
  double mean = 0, norm = 0;
  for (int y = 0; y < kThumb; ++y)
    for (int x = 0; x < kThumb; ++x) mean += small.at<float>(y, x);
  mean /= kThumb * kThumb;
  s.thumb.resize(kThumb * kThumb);
  for (int y = 0; y < kThumb; ++y)
    for (int x = 0; x < kThumb; ++x) {
      const double v = small.at<float>(y, x) - mean;
      s.thumb[size_t(y * kThumb + x)] = float(v);
      norm += v * v;
    }
  if (norm <= 1e-12) {
    s.thumb.clear();
    return s;
  }
  const double inv = 1.0 / std::sqrt(norm);
  for (float& v : s.thumb) v = float(v * inv);
  return s;
}

double thumbnail_correlation(const NearDuplicateSignature& a, const NearDuplicateSignature& b) {
  if (a.thumb.empty() || b.thumb.empty()) return -1.0;
  double best = -1.0;
  for (int orient = 0; orient < 4; ++orient) {  // b as stored, mirrored in x, in y, in both
    double dot = 0;
    for (int y = 0; y < kThumb; ++y) {
      const int by = orient & 2 ? kThumb - 1 - y : y;
      for (int x = 0; x < kThumb; ++x) {
        const int bx = orient & 1 ? kThumb - 1 - x : x;
        dot += double(a.thumb[size_t(y * kThumb + x)]) * b.thumb[size_t(by * kThumb + bx)];
      }
    }
    best = std::max(best, dot);
  }
  return best;
}

bool same_file_bytes(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ec1, ec2;
  auto na = std::filesystem::file_size(a, ec1), nb = std::filesystem::file_size(b, ec2);
  FRACTURE_CHECK(!ec1, a.string(), ": cannot read file size: ", ec1.message());
  FRACTURE_CHECK(!ec2, b.string(), ": cannot read file size: ", ec2.message());
  if (na != nb) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  FRACTURE_CHECK(fa.good(), a.string(), ": cannot open file for reading");
  FRACTURE_CHECK(fb.good(), b.string(), ": cannot open file for reading");
  char ba[1 << 16], bb[1 << 16];
  while (fa && fb) {
    fa.read(ba, sizeof ba);
    fb.read(bb, sizeof bb);
    if (fa.gcount() != fb.gcount() || !std::equal(ba, ba + fa.gcount(), bb)) return false;
  }
  return fa.eof() && fb.eof();
}

}  // namespace fracture
