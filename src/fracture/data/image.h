// Reading radiographs: PNG/JPEG/BMP/TIFF (8/16-bit, grey or colour) and DICOM, into one grey form.
//
//   fracture::Image im = fracture::read_image("scan.dcm");     // CV_16UC1, VOI window applied
//   cv::Mat x = fracture::to_float01(im);                       // CV_32FC1 in [0, 1]
//
// The format is decided by the file's magic bytes, not its extension (a PNG named .jpg reads as
// PNG; a GIF is refused with a reason). Colour is converted to grey with ITU-R BT.601 luma
// (0.299 R + 0.587 G + 0.114 B), alpha dropped. 16-bit data stays 16-bit until to_float01().
// JPEG EXIF orientation is applied (as cv2.imread does). Truncated JPEG (no FF D9 end marker) and PNG
// (no IEND) are refused; float TIFF becomes 16-bit (values in [0, 1] x 65535, else min..max stretch).
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "fracture/core/config.h"

namespace fracture {

struct Image {
  cv::Mat pixels;      ///< CV_8UC1 or CV_16UC1, grey; brighter = denser (bone), as on a film
  int bits = 8;        ///< 8 or 16: the scale to_float01() divides by (2^bits - 1)
  std::string format;  ///< "png", "jpeg", "bmp", "tiff", "dicom"
  std::string patient_id;  ///< DICOM PatientID (0010,0020); "" for other formats. Never logged.
};

struct ReadOptions {
  std::string dicom_window = "auto";  ///< auto (file's VOI window, else percentile), file, percentile
  long long max_pixels = 150'000'000; ///< larger images are refused with a reason (memory guard)
  /// Key `truncated=load` (default refuse): decode a JPEG without its end marker or a PNG without
  /// IEND as far as the decoder gets (the missing rows come out grey), as PIL's
  /// LOAD_TRUNCATED_IMAGES. Never the default: a half image is not the radiograph it claims to be.
  bool load_truncated = false;
};

/// dicom_window and truncated (refuse|load) from the config; errors name the key.
ReadOptions read_options(const Config& cfg);

/// Format by magic bytes: "png", "jpeg", "bmp", "tiff", "dicom", "gif", "webp", or "" if unknown.
std::string sniff_format(std::string_view bytes);

/// Reads one image file into grey. Throws fracture::Error naming the file and what is wrong
/// (unreadable, truncated, unsupported format, too large, empty).
Image read_image(const std::filesystem::path& path, const ReadOptions& opt = {});

/// Decodes in-memory bytes (`name` is used in error messages only).
Image decode_image(std::string_view bytes, const std::string& name, const ReadOptions& opt = {});

/// Width and height of the image read_image() would return (EXIF orientation applied), from the
/// PNG IHDR or JPEG SOF header without decoding; other formats are decoded. Throws like read_image
/// when the header is unreadable. For ordering images by aspect ratio (rectangular validation).
cv::Size image_size(const std::filesystem::path& path, const ReadOptions& opt = {});

/// What makes a file unusable as an image, in the words read_image would use ("" when it looks
/// usable). Fast (full_decode false): a regular file, not empty, a supported format by its magic
/// bytes, and complete (JPEG ends with FF D9, PNG has IEND, BMP is as long as its header says),
/// reading only the first 512 bytes and the last 64 KiB; DICOM and TIFF pass on their magic bytes.
/// full_decode: read_image's own verdict (every format, pixel data included).
std::string image_file_problem(const std::filesystem::path& path, const ReadOptions& opt = {},
                               bool full_decode = false);

/// The pre-decode checks on a file's bytes: empty, unknown or unsupported format, truncated
/// (JPEG/PNG end markers in `tail`, BMP size). `head` = the first bytes, `tail` = the last ones (the
/// whole file may be passed as both), `size` = the file's length. "" when none fails.
std::string container_problem(std::string_view head, std::string_view tail, uint64_t size,
                              bool load_truncated = false);

/// CV_32FC1 in [0, 1]: pixels / (2^bits - 1).
cv::Mat to_float01(const Image& im);

}  // namespace fracture
