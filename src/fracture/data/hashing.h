// Image hashes for duplicate and leakage detection.
//
//   std::string bytes = fracture::read_file(path);
//   uint64_t content = fracture::hash_bytes(bytes);              // exact copies (core/fs.h)
//   bool same = fracture::same_file_bytes(path_a, path_b);       // confirm an equal content hash
//
//   fracture::PerceptualHash p = fracture::perceptual_hash(im.pixels);   // grey CV_8U/16U/32F
//   int d = fracture::phash_distance(p, q);                      // 0..63 bits, min over flips
//   if (d <= fracture::kNearDuplicateBits) ...                   // same radiograph, re-encoded/flipped/rotated
//
// The perceptual hash is the classic DCT pHash (Zauner 2010) on the central 80% of the image
// (width and height; the rim is dropped because rotation fills the corners): it is area-resized to
// 32x32 (aspect ratio dropped), a 2-D DCT-II is taken, and the 63 lowest-frequency coefficients
// (the top-left 8x8 block without the DC term) are each compared with their median: bit i is 1 when
// coefficient i is above it. Brightness/contrast changes, JPEG re-encoding, rescaling and small
// rotations change few bits. The hashes of the horizontally, vertically and doubly (180 degree)
// flipped image are kept as well, so a mirrored copy of a radiograph still matches.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <filesystem>
#include <vector>

namespace fracture {

/// Near-duplicate rule of `fracture check`: a pair is a candidate at pHash distance <= kNearDuplicateBits
/// (of 63) and confirmed when its thumbnails correlate >= kNearDuplicateCorrelation. Chosen from
/// bench/near_duplicate_bench (docs/data.md): on altered copies of the 23 FracAtlas fixture
/// radiographs (JPEG q70, flip, +-2-3 degree rotations, resize 0.5, 3 % crop, contrast, a
/// combination) recall 0.978 against the original (0.930 between any two copies), no false pair
/// among 20,493 pairs of different real radiographs, and 6.6e-4 of 719,400 pairs of different
/// synthetic radiographs of the same body regions (pHash <= 14 alone: 1.6e-2, the rate that
/// flagged tens of thousands of pairs on a public hand X-ray set).
constexpr int kNearDuplicateBits = 12;
constexpr double kNearDuplicateCorrelation = 0.90;

/// pHash of an image and of its flipped versions.
struct PerceptualHash {
  uint64_t plain = 0;  ///< the image as stored (bit 63 always 0)
  uint64_t hflip = 0;  ///< mirrored left-right
  uint64_t vflip = 0;  ///< mirrored top-bottom
  uint64_t rot180 = 0; ///< both flips (a 180 degree rotation)
};

/// pHash of a single-channel image (CV_8UC1, CV_16UC1 or CV_32FC1; 3-channel input is converted to
/// grey). Throws fracture::Error on an empty image or another type.
PerceptualHash perceptual_hash(const cv::Mat& grey);

/// Number of differing bits.
int hamming(uint64_t a, uint64_t b);

/// Smallest Hamming distance between `a` as stored and `b` in any of its four orientations (0..63).
int phash_distance(const PerceptualHash& a, const PerceptualHash& b);

/// Symmetric pHash distance: min(phash_distance(a, b), phash_distance(b, a)).
int phash_pair_distance(const PerceptualHash& a, const PerceptualHash& b);

/// What near-duplicate detection compares: the pHash, and a 32x32 thumbnail of the same central 80%
/// (area-resized, zero mean, unit norm) for the confirmation step.
struct NearDuplicateSignature {
  PerceptualHash phash;
  std::vector<float> thumb;  ///< 32 * 32 values, row-major; empty for a flat image
};
NearDuplicateSignature near_duplicate_signature(const cv::Mat& grey);

/// Pearson correlation of the two thumbnails, the best over b's four orientations (as stored,
/// mirrored left-right, top-bottom, both): 1 for the same picture, about 0 for unrelated ones; -1
/// when a thumbnail is missing (a flat image).
double thumbnail_correlation(const NearDuplicateSignature& a, const NearDuplicateSignature& b);

/// True when the two files hold identical bytes (used to confirm equal content hashes).
bool same_file_bytes(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace fracture
