// Fuzz target: the image decoding path (data/image.cpp): the magic-byte sniffer, the container
// checks (JPEG end marker, PNG IEND, BMP size), and decode_image (OpenCV's decoders behind them,
// 8/16-bit, grey/colour, EXIF orientation), plus image_file_problem on the same bytes as a file.
// Checks: refusals name the file; a decoded image is 8- or 16-bit grey, non-empty, within
// max_pixels.
#include "../fuzz_util.h"
#include "fracture/data/image.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path d = fuzz::scratch("image_decode");
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)fracture::sniff_format(bytes);
  (void)fracture::container_problem(bytes, bytes, size);
  fracture::ReadOptions opt;
  opt.max_pixels = 4'000'000;  // bounds a fuzzed header's allocation like the default 150 M does a real one
  for (bool truncated : {false, true}) {
    opt.load_truncated = truncated;
    fracture::Image im;
    if (!fuzz::refused_naming("input.img", [&] { im = fracture::decode_image(bytes, "input.img", opt); })) continue;
    const int t = im.pixels.type();
    if (im.pixels.empty() || (t != CV_8UC1 && t != CV_16UC1) || (t == CV_8UC1) != (im.bits == 8) ||
        double(im.pixels.total()) > double(opt.max_pixels))
      fuzz::fail("decode_image returned an image that is not 8/16-bit grey within max_pixels");
  }
  fuzz::write(d / "input.img", data, size);
  (void)fracture::image_file_problem(d / "input.img", opt, false);
  return 0;
}
