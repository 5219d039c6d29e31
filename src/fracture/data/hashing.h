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

namespace fracture {

/// Near-duplicate threshold in bits (of 63): distance <= this means "same radiograph".
/// Measured on the 23 FracAtlas fixture radiographs (tests/unit/hashing_test.cpp, docs/check.md):
/// altered copies reach at most 12 bits (a 3 degree rotation; JPEG q70, flips and resizes <= 4),
/// while the closest two different radiographs are 16 bits apart (median 26): a 2-bit margin on
/// each side, so treat a match as a warning to look at, not proof.
constexpr int kNearDuplicateBits = 14;

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

/// True when the two files hold identical bytes (used to confirm equal content hashes).
bool same_file_bytes(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace fracture
