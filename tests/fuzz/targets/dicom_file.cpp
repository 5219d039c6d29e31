// Fuzz target: DICOM through our DCMTK wrapper (data/dicom.cpp): Part 10 files and bare datasets;
// 8/16-bit, signed, MONOCHROME1, RGB, multi-frame, the VOI window, and the transfer syntaxes DCMTK
// decodes here (the seeds carry explicit and implicit little endian, big endian, deflated, RLE and
// JPEG). decode_dicom and dicom_instance_uid. Checks: refusals name the file; a decoded image is 8-
// or 16-bit grey within max_pixels.
#include "../fuzz_util.h"
#include "fracture/data/dicom.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!fracture::dicom_supported()) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  fuzz::refused_naming("input.dcm", [&] { (void)fracture::dicom_instance_uid(bytes, "input.dcm"); });
  fracture::ReadOptions opt;
  opt.max_pixels = 4'000'000;
  for (const char* window : {"auto", "percentile"}) {
    opt.dicom_window = window;
    fracture::Image im;
    if (!fuzz::refused_naming("input.dcm", [&] { im = fracture::decode_dicom(bytes, "input.dcm", opt); })) continue;
    const int t = im.pixels.type();
    if (im.pixels.empty() || (t != CV_8UC1 && t != CV_16UC1) || double(im.pixels.total()) > double(opt.max_pixels))
      fuzz::fail("decode_dicom returned an image that is not 8/16-bit grey within max_pixels");
  }
  return 0;
}
