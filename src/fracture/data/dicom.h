// DICOM through DCMTK (only when built with FRACTURE_WITH_DICOM=ON).
//
//   fracture::Image im = fracture::read_dicom("ct.dcm", {});      // CV_16UC1, windowed
//   fracture::write_dicom("out.dcm", mat16, {.patient_id = "P0001"});
//
// Reading applies Modality LUT (rescale slope/intercept), inverts MONOCHROME1 so that bone is
// bright, and maps through the VOI window stored in the file (or a percentile window when the file
// has none) into 16 bits. Patient-identifying tags are never logged or copied into outputs.
#pragma once
#include <opencv2/core.hpp>

#include <filesystem>
#include <string>
#include <string_view>

#include "fracture/data/image.h"

namespace fracture {

/// True when this build can read and write DICOM.
bool dicom_supported();

/// Reads a DICOM file (see file comment). Throws fracture::Error naming the file on failure,
/// or saying DICOM support is not built in.
Image read_dicom(const std::filesystem::path& path, const ReadOptions& opt);

/// Same as read_dicom on in-memory bytes of a DICOM Part 10 file (`name` is used in messages only).
Image decode_dicom(std::string_view bytes, const std::string& name, const ReadOptions& opt);

/// The SOP Instance UID of a DICOM Part 10 file's bytes ("" when it has none). Logs print only a
/// hash of it (privacy); throws fracture::Error naming `name` when the bytes are not DICOM. Reads the
/// attributes only: compressed pixel data is not decoded (nor sized against max_pixels).
std::string dicom_instance_uid(std::string_view bytes, const std::string& name);

struct DicomWriteOptions {
  std::string patient_id;                   ///< synthetic id only; never a real one
  std::string photometric = "MONOCHROME2";  ///< or MONOCHROME1 (pixels written inverted)
  double rescale_slope = 1.0, rescale_intercept = 0.0;
  double window_center = -1, window_width = -1;  ///< written when width > 0
  std::string body_part;                    ///< BodyPartExamined, e.g. "HAND"
};

/// Writes a grey CV_8UC1 or CV_16UC1 image as a DICOM Secondary Capture (DX modality) file, atomically.
void write_dicom(const std::filesystem::path& path, const cv::Mat& grey, const DicomWriteOptions& opt);

}  // namespace fracture
