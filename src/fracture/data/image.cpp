// Image reading: format sniffing, header checks before decoding, decoding with OpenCV, conversion to
// one grey form. See image.h for the contract.
#include "fracture/data/image.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/data/dicom.h"

namespace fracture {

namespace {

bool starts_with(std::string_view b, std::string_view magic) {
  return b.size() >= magic.size() && std::memcmp(b.data(), magic.data(), magic.size()) == 0;
}

uint32_t be32(std::string_view b, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data()) + at;
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
uint16_t be16(std::string_view b, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data()) + at;
  return uint16_t((p[0] << 8) | p[1]);
}
uint32_t le32(std::string_view b, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data()) + at;
  return (uint32_t(p[3]) << 24) | (uint32_t(p[2]) << 16) | (uint32_t(p[1]) << 8) | uint32_t(p[0]);
}
uint16_t le16(std::string_view b, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data()) + at;
  return uint16_t((p[1] << 8) | p[0]);
}

// Width and height from the file header, without decoding; {0, 0} when the header cannot tell.
struct Dims {
  long long w = 0, h = 0;
};

Dims png_dims(std::string_view b) {
  // 8-byte signature, then the IHDR chunk: length(4) "IHDR"(4) width(4) height(4), big-endian.
  if (b.size() < 24 || b.substr(12, 4) != "IHDR") return {};
  return {be32(b, 16), be32(b, 20)};
}

// Walks the marker segments of a JPEG header as libjpeg's next_marker() finds them (jdmarker.c):
// bytes other than FF between segments are skipped ("extraneous bytes before marker", a warning),
// then fill bytes FF; FF 00 is data, and SOI, TEM and RSTn have no length field. Calls
// visit(marker, payload) for each segment with a length (payload: the bytes after the length field,
// cut at the end of the file) until visit returns true; stops at SOS or EOI, where jpeg_read_header
// stops, and at a length below 2, which libjpeg refuses. Stopping at stray bytes instead let a
// 446-byte JPEG with one stray byte past the max_pixels check: libjpeg found its SOF and OpenCV
// allocated 3.2 GB (found by fuzz_image_decode).
template <class Visit>
void walk_jpeg_segments(std::string_view b, Visit visit) {
  size_t i = 2;
  while (i + 4 <= b.size()) {
    while (i < b.size() && uint8_t(b[i]) != 0xFF) ++i;  // extraneous bytes
    while (i < b.size() && uint8_t(b[i]) == 0xFF) ++i;  // fill bytes
    if (i >= b.size()) return;
    const uint8_t m = uint8_t(b[i]);
    ++i;
    if (m == 0x00) continue;                                            // FF 00: data, not a marker
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // no length field
    if (m == 0xD9 || m == 0xDA) return;                                 // EOI / SOS: the header ends
    if (i + 2 > b.size()) return;
    const uint16_t len = be16(b, i);
    if (len < 2) return;
    if (visit(m, b.substr(i + 2, len - 2))) return;
    i += len;
  }
}

Dims jpeg_dims(std::string_view b) {
  // The first SOFn (C0..CF except C4 DHT, C8 JPG, CC DAC): precision(1) height(2) width(2).
  Dims d;
  walk_jpeg_segments(b, [&](uint8_t m, std::string_view p) {
    if (m < 0xC0 || m > 0xCF || m == 0xC4 || m == 0xC8 || m == 0xCC) return false;
    if (p.size() >= 5) d = {be16(p, 3), be16(p, 1)};
    return true;
  });
  return d;
}

Dims bmp_dims(std::string_view b) {
  if (b.size() < 26) return {};
  uint32_t header = le32(b, 14);
  if (header == 12) return {le16(b, 18), le16(b, 20)};  // BITMAPCOREHEADER
  int32_t w = int32_t(le32(b, 18)), h = int32_t(le32(b, 22));
  return {std::llabs(w), std::llabs(h)};  // negative height = top-down rows
}

// Reads the integers of a TIFF structure in its byte order ("II" little-endian, "MM" big-endian).
struct TiffBytes {
  std::string_view b;
  bool le;
  uint16_t u16(size_t at) const { return le ? le16(b, at) : be16(b, at); }
  uint32_t u32(size_t at) const { return le ? le32(b, at) : be32(b, at); }
  uint64_t u64(size_t at) const {
    const uint64_t lo = u32(at + (le ? 0 : 4)), hi = u32(at + (le ? 4 : 0));
    return (hi << 32) | lo;
  }
};

// Walks the entries of IFD0 of a TIFF structure as libtiff lays them out: byte order "II" or "MM",
// then 42 (TIFF: IFD0 offset(4) at 4, entry count(2), entries tag(2) type(2) count(4) value(4)) or,
// when big is allowed, 43 (BigTIFF: offset size 8 at 4, IFD0 offset(8) at 8, entry count(8),
// entries tag(2) type(2) count(8) value(8)). Calls visit(bytes, tag, type, value_at, bigtiff) for
// each entry that lies inside b until visit returns true. Shared by the TIFF size probe and the
// JPEG's Exif orientation (whose TIFF structure is classic only).
template <class Visit>
void walk_tiff_ifd0(std::string_view b, bool allow_big, Visit visit) {
  if (b.size() < 8 || (b.substr(0, 2) != "II" && b.substr(0, 2) != "MM")) return;
  const TiffBytes t{b, b[0] == 'I'};
  const uint16_t version = t.u16(2);
  const bool big = allow_big && version == 43;
  if (version != 42 && !(big && b.size() >= 16 && t.u16(4) == 8)) return;
  const uint64_t ifd = big ? t.u64(8) : t.u32(4);
  const size_t count_size = big ? 8 : 2, entry_size = big ? 20 : 12;
  if (ifd > b.size() || b.size() - ifd < count_size) return;
  const uint64_t n = big ? t.u64(ifd) : t.u16(ifd);
  for (uint64_t k = 0; k < n && k < 65536; ++k) {
    const size_t e = size_t(ifd) + count_size + size_t(k) * entry_size;
    if (e + entry_size > b.size()) return;
    if (visit(t, t.u16(e), t.u16(e + 2), e + (big ? 12 : 8), big)) return;
  }
}

Dims tiff_dims(std::string_view b) {
  // ImageWidth = 256, ImageLength = 257, read by type as libtiff accepts them (BYTE 1, SHORT 3,
  // LONG 4, LONG8 16).
  Dims d;
  walk_tiff_ifd0(b, true, [&](const TiffBytes& t, uint16_t tag, uint16_t type, size_t v, bool big) {
    if (tag != 256 && tag != 257) return false;
    // Signed types (SBYTE 6, SSHORT 8, SLONG 9) are accepted when not negative; a negative value or a
    // LONG8 above 2^32 - 1 is refused by libtiff (its sizes are 32-bit): left to it, as 0 here.
    const uint64_t wide = type == 16 && big ? t.u64(v) : 0;
    const long long value = type == 1 ? (long long)uint8_t(b[v]) : type == 3 ? t.u16(v) : type == 4 ? t.u32(v)
                          : type == 6 ? std::max(0, int(int8_t(b[v]))) : type == 8 ? std::max(0, int(int16_t(t.u16(v))))
                          : type == 9 ? std::max(0LL, (long long)int32_t(t.u32(v)))
                          : wide <= 0xFFFFFFFFull ? (long long)wide : 0;
    (tag == 256 ? d.w : d.h) = value;
    return false;
  });
  return d;
}

std::string upper(std::string s) {
  for (auto& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// "ff d8 ff e0" for error messages about unknown formats.
std::string first_bytes_hex(std::string_view b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < b.size() && i < 8; ++i) {
    if (i) s += ' ';
    s += d[uint8_t(b[i]) >> 4];
    s += d[uint8_t(b[i]) & 15];
  }
  return s;
}

// libpng reads every chunk but IDAT whole into a buffer of the length the chunk claims, zeroed
// first (png_read_buffer), and a length over its limit is only a warning ("chunk data is too
// large"): a 221-byte PNG whose tEXt claimed 0x7000000d bytes made it zero 1.9 GB (5-10 s) before
// OpenCV noticed the file had ended (found by fuzz_image_decode). So the chunks are walked first,
// as libpng walks them (length(4) type(4) data crc(4), from byte 8 to IEND): a chunk other than IDAT
// that claims more bytes than the file has left is refused. IDAT is streamed by libpng, not
// buffered; a file cut inside IDAT is the truncated download `truncated: load` is for.
std::string png_chunk_problem(std::string_view b) {
  size_t i = 8;
  while (i + 8 <= b.size()) {
    const uint64_t len = be32(b, i);
    const std::string_view type = b.substr(i + 4, 4);
    if (type == "IEND") return "";
    const uint64_t left = b.size() - (i + 8);
    if (type == "IDAT" && len + 4 > left) return "";
    if (len > left) {
      bool letters = true;
      for (char c : type) letters = letters && std::isalpha(static_cast<unsigned char>(c));
      return "chunk " + (letters ? "'" + std::string(type) + "'" : "of type " + first_bytes_hex(type)) + " at byte " +
             std::to_string(i) + " claims " + std::to_string(len) + " bytes, the file has " + std::to_string(left) +
             " after its header";
    }
    i += 12 + size_t(len);
  }
  return "";
}

// A complete JPEG ends with the EOI marker FF D9. Trailing zero padding (written by some scanners)
// is tolerated; anything else after the image data is treated as truncation.
bool jpeg_complete(std::string_view b) {
  size_t n = b.size();
  while (n > 2 && b[n - 1] == '\0') --n;
  return n >= 4 && uint8_t(b[n - 2]) == 0xFF && uint8_t(b[n - 1]) == 0xD9;
}

// A complete PNG has an IEND chunk: "IEND" followed by its 4-byte CRC.
bool png_complete(std::string_view b) {
  size_t at = b.rfind("IEND");
  return at != std::string_view::npos && at >= 12 && at + 8 <= b.size();
}

// EXIF orientation (tag 0x0112 in IFD0 of the JPEG's Exif TIFF structure), 1..8; 1 when absent.
// Ultralytics reads images with cv2.imread, which applies it, and its labels refer to the rotated
// image; IMREAD_UNCHANGED does not apply it, so we do, reading it where OpenCV does (imgcodecs
// grfmt_jpeg.cpp, checked against cv::imdecode in ImageTest.JpegExifOrientationIsReadWhereOpenCvReadsIt):
// the FIRST APP1 segment libjpeg saves, whatever it holds (an XMP APP1 before the Exif one hides
// the orientation), its TIFF structure 6 bytes in ("Exif\0\0" is not checked). PNG/TIFF
// orientation tags are not read.
int jpeg_exif_orientation(std::string_view b) {
  int orientation = 1;
  walk_jpeg_segments(b, [&](uint8_t m, std::string_view p) {
    if (m != 0xE1) return false;
    if (p.size() < 6 + 8) return true;
    // TIFF structure 6 bytes in: byte order, 42, IFD0 offset
    walk_tiff_ifd0(p.substr(6), false, [&](const TiffBytes& t, uint16_t tag, uint16_t, size_t v, bool) {
      if (tag != 0x0112) return false;
      const int value = t.u16(v);
      if (value >= 1 && value <= 8) orientation = value;
      return true;
    });
    return true;
  });
  return orientation;
}

// Applies an EXIF orientation so that the pixels are as the image is meant to be viewed.
cv::Mat apply_orientation(const cv::Mat& m, int orientation) {
  cv::Mat out;
  switch (orientation) {
    case 2: cv::flip(m, out, 1); break;                             // mirrored left-right
    case 3: cv::rotate(m, out, cv::ROTATE_180); break;
    case 4: cv::flip(m, out, 0); break;                             // mirrored top-bottom
    case 5: cv::transpose(m, out); break;                           // transpose
    case 6: cv::rotate(m, out, cv::ROTATE_90_CLOCKWISE); break;
    case 7: cv::transpose(m, out), cv::flip(out, out, -1); break;   // transverse
    case 8: cv::rotate(m, out, cv::ROTATE_90_COUNTERCLOCKWISE); break;
    default: out = m;
  }
  return out;
}

// Converts float / double data to CV_16UC1: values already in [0, 1] are scaled by 65535; other
// ranges are stretched min..max -> 0..65535 (the only scale-free choice). Non-finite values refuse.
cv::Mat float_to_u16(const cv::Mat& grey, const std::string& name) {
  cv::Mat d;
  grey.convertTo(d, CV_64F);
  double lo = 0, hi = 0;
  for (int y = 0; y < d.rows; ++y) {
    const double* r = d.ptr<double>(y);
    for (int x = 0; x < d.cols; ++x)
      FRACTURE_CHECK(std::isfinite(r[x]), name, ": floating-point image has a non-finite value (NaN or inf) at x=",
                     x, " y=", y, "; expected finite intensities");
  }
  cv::minMaxLoc(d, &lo, &hi);
  cv::Mat out;
  if (lo >= 0.0 && hi <= 1.0) {
    d.convertTo(out, CV_16U, 65535.0);
  } else if (hi > lo) {
    d.convertTo(out, CV_16U, 65535.0 / (hi - lo), -lo * 65535.0 / (hi - lo));
  } else {
    out = cv::Mat::zeros(d.size(), CV_16U);
  }
  return out;
}

void check_pixels(long long w, long long h, const std::string& name, const ReadOptions& opt) {
  FRACTURE_CHECK(w > 0 && h > 0, name, ": image has zero size (", w, " x ", h, ")");
  // w and h come from file headers (up to 2^32 each): compared without multiplying them
  FRACTURE_CHECK(w <= opt.max_pixels / h, name, ": image is ", w, " x ", h, " = ",
                 (unsigned long long)w * (unsigned long long)h,  // both < 2^32 here: no overflow
                 " pixels, above max_pixels = ", opt.max_pixels, " (memory guard); downscale it or raise the limit");
}

}  // namespace

std::string sniff_format(std::string_view b) {
  if (starts_with(b, "\x89PNG\r\n\x1a\n")) return "png";
  if (starts_with(b, "\xFF\xD8\xFF")) return "jpeg";
  if (starts_with(b, std::string_view("II*\0", 4)) || starts_with(b, std::string_view("MM\0*", 4)) ||
      starts_with(b, std::string_view("II+\0", 4)) || starts_with(b, std::string_view("MM\0+", 4)))
    return "tiff";
  if (b.size() >= 132 && b.substr(128, 4) == "DICM") return "dicom";
  if (starts_with(b, "GIF87a") || starts_with(b, "GIF89a")) return "gif";
  if (b.size() >= 12 && starts_with(b, "RIFF") && b.substr(8, 4) == "WEBP") return "webp";
  if (starts_with(b, "BM") && b.size() >= 26) return "bmp";
  return "";
}

ReadOptions read_options(const Config& cfg) {
  ReadOptions o;
  o.dicom_window = cfg.str("dicom_window");
  const std::string t = cfg.str("truncated");
  FRACTURE_CHECK(t == "refuse" || t == "load", "key 'truncated' must be refuse or load, got '", t, "'");
  o.load_truncated = t == "load";
  return o;
}

std::string container_problem(std::string_view head, std::string_view tail, uint64_t size, bool load_truncated) {
  if (size == 0) return "file is empty (0 bytes); expected an image";
  const std::string fmt = sniff_format(head);
  const std::string supported = "supported: PNG, JPEG, BMP, TIFF, DICOM";
  if (fmt == "gif" || fmt == "webp")
    return "the file is a " + upper(fmt) + " image (by its content, whatever its extension); " + supported +
           ". Convert it to PNG first";
  if (fmt.empty()) return "unknown image format (first bytes " + first_bytes_hex(head) + "); " + supported;
  const std::string corrupt = upper(fmt) + " data is truncated or corrupt";
  if (load_truncated) return "";
  if (fmt == "jpeg" && !jpeg_complete(tail)) return corrupt + " (no end-of-image marker FF D9 at the end)";
  if (fmt == "png" && !png_complete(tail)) return corrupt + " (no IEND chunk)";
  if (fmt == "bmp" && head.size() >= 6) {
    const uint32_t declared = le32(head, 2);
    if (declared != 0 && declared > size)
      return corrupt + " (header says " + std::to_string(declared) + " bytes, file has " + std::to_string(size) + ")";
  }
  return "";
}

Image decode_image(std::string_view bytes, const std::string& name, const ReadOptions& opt) {
  const std::string fmt = sniff_format(bytes);
  if (bytes.empty() || fmt.empty() || fmt == "gif" || fmt == "webp")
    FRACTURE_FAIL(name, ": ", container_problem(bytes, bytes, bytes.size()));
  if (fmt == "dicom") return decode_dicom(bytes, name, opt);

  // Size from the header before decoding, so a huge image is refused without allocating it.
  Dims d = fmt == "png" ? png_dims(bytes) : fmt == "jpeg" ? jpeg_dims(bytes) : fmt == "bmp" ? bmp_dims(bytes)
                                                                                               : tiff_dims(bytes);
  if (d.w > 0 && d.h > 0) check_pixels(d.w, d.h, name, opt);
  // libjpeg and libpng need the frame header (SOF) / IHDR before any pixels: without one the file
  // cannot decode, and without its size the memory guard could not apply (TIFF, BigTIFF and BMP
  // sizes are checked where the header has them; libtiff refuses a TIFF without its size tags).
  FRACTURE_CHECK((fmt != "jpeg" && fmt != "png") || (d.w > 0 && d.h > 0), name, ": ", upper(fmt),
                 " data is truncated or corrupt (", fmt == "jpeg" ? "no frame header (SOF) with a size before the "
                 "image data" : "no IHDR chunk with a size first", ")");
  const std::string problem = container_problem(bytes, bytes, bytes.size(), opt.load_truncated);
  FRACTURE_CHECK(problem.empty(), name, ": ", problem);
  const std::string chunk = fmt == "png" ? png_chunk_problem(bytes) : "";
  FRACTURE_CHECK(chunk.empty(), name, ": PNG data is truncated or corrupt (", chunk, ")");

  const std::string corrupt = ": " + upper(fmt) + " data is truncated or corrupt";

  cv::Mat raw;
  try {
    cv::Mat buf(1, int(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
    raw = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    FRACTURE_FAIL(name, corrupt, " (decoder: ", e.what(), ")");
  }
  FRACTURE_CHECK(!raw.empty(), name, corrupt, " (the decoder could not read it)");
  check_pixels(raw.cols, raw.rows, name, opt);

  // Grey: BT.601 luma for colour (OpenCV's BGR2GRAY: 0.299 R + 0.587 G + 0.114 B), alpha dropped.
  cv::Mat grey;
  switch (raw.channels()) {
    case 1: grey = raw; break;
    case 2: cv::extractChannel(raw, grey, 0); break;  // grey + alpha
    case 3: cv::cvtColor(raw, grey, cv::COLOR_BGR2GRAY); break;
    case 4: cv::cvtColor(raw, grey, cv::COLOR_BGRA2GRAY); break;
    default: FRACTURE_FAIL(name, ": image has ", raw.channels(), " channels; expected 1 (grey), 3 or 4 (colour)");
  }

  Image im;
  im.format = fmt;
  switch (grey.depth()) {
    case CV_8U: im.pixels = grey; im.bits = 8; break;
    case CV_16U: im.pixels = grey; im.bits = 16; break;
    case CV_32F:
    case CV_64F: im.pixels = float_to_u16(grey, name); im.bits = 16; break;
    default:
      FRACTURE_FAIL(name, ": ", upper(fmt), " has signed or 32-bit integer samples (OpenCV depth ", grey.depth(),
                    "); expected unsigned 8- or 16-bit, or floating point. Convert it to 16-bit unsigned");
  }
  if (fmt == "jpeg") im.pixels = apply_orientation(im.pixels, jpeg_exif_orientation(bytes));
  if (!im.pixels.isContinuous()) im.pixels = im.pixels.clone();
  return im;
}

cv::Size image_size(const std::filesystem::path& path, const ReadOptions& opt) {
  std::error_code ec;
  FRACTURE_CHECK(std::filesystem::exists(path, ec), path.string(), ": image file not found");
  std::string bytes = read_file(path);
  const std::string fmt = sniff_format(bytes);
  Dims d = fmt == "png" ? png_dims(bytes) : fmt == "jpeg" ? jpeg_dims(bytes) : fmt == "bmp" ? bmp_dims(bytes) : Dims{};
  if (d.w > 0 && d.h > 0 && d.w < (1 << 30) && d.h < (1 << 30)) {
    if (fmt == "jpeg" && jpeg_exif_orientation(bytes) >= 5) std::swap(d.w, d.h);  // 5..8 transpose
    return {int(d.w), int(d.h)};
  }
  Image im = decode_image(bytes, path.string(), opt);  // TIFF, DICOM, or a header we cannot read
  return {im.pixels.cols, im.pixels.rows};
}

Image read_image(const std::filesystem::path& path, const ReadOptions& opt) {
  std::error_code ec;
  FRACTURE_CHECK(std::filesystem::exists(path, ec), path.string(), ": image file not found");
  FRACTURE_CHECK(!std::filesystem::is_directory(path, ec), path.string(), ": is a folder; expected an image file");
  std::string bytes = read_file(path);
  return decode_image(bytes, path.string(), opt);
}

cv::Mat to_float01(const Image& im) {
  FRACTURE_CHECK(!im.pixels.empty(), "to_float01: empty image");
  FRACTURE_CHECK(im.pixels.type() == CV_8UC1 || im.pixels.type() == CV_16UC1,
                 "to_float01: expected CV_8UC1 or CV_16UC1 pixels, got OpenCV type ", im.pixels.type());
  FRACTURE_CHECK(im.bits >= 1 && im.bits <= 16, "to_float01: bits must be in 1..16, got ", im.bits);
  cv::Mat out;
  im.pixels.convertTo(out, CV_32F, 1.0 / double((1 << im.bits) - 1));
  return out;
}

#ifndef FRACTURE_WITH_DICOM
// Built without DCMTK (FRACTURE_WITH_DICOM=OFF): DICOM files are recognised and refused with a reason.
bool dicom_supported() { return false; }

Image decode_dicom(std::string_view, const std::string& name, const ReadOptions&) {
  FRACTURE_FAIL(name, ": is a DICOM file, but DICOM support is not built in (rebuild with -DFRACTURE_WITH_DICOM=ON "
                "and DCMTK installed)");
}

Image read_dicom(const std::filesystem::path& path, const ReadOptions& opt) { return decode_dicom({}, path.string(), opt); }

std::string dicom_instance_uid(std::string_view, const std::string& name) {
  FRACTURE_FAIL(name, ": is a DICOM file, but DICOM support is not built in (rebuild with -DFRACTURE_WITH_DICOM=ON "
                "and DCMTK installed)");
}

void write_dicom(const std::filesystem::path& path, const cv::Mat&, const DicomWriteOptions&) {
  FRACTURE_FAIL(path.string(), ": cannot write DICOM: support is not built in (rebuild with -DFRACTURE_WITH_DICOM=ON "
                "and DCMTK installed)");
}
#endif

std::string image_file_problem(const std::filesystem::path& path, const ReadOptions& opt, bool full_decode) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return "not a readable file (missing, a folder or a broken link)";
  if (full_decode) {
    try {
      (void)read_image(path, opt);
      return "";
    } catch (const std::exception& e) {
      const std::string what = e.what(), prefix = path.string() + ": ";
      return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
    }
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return "cannot be opened for reading";
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return "cannot read its size (" + ec.message() + ")";
  // The head decides the format; the tail holds the end markers: the 64 KiB before the trailing
  // zero padding some scanners write (found reading backwards), then the padding itself, as
  // jpeg_complete and png_complete expect.
  std::string head(size_t(std::min<uint64_t>(size, 512)), '\0');
  f.read(head.data(), std::streamsize(head.size()));
  constexpr uint64_t kChunk = 64 * 1024;
  uint64_t end = size;  // one past the last non-zero byte
  std::string chunk;
  while (end > 0) {
    const uint64_t lo = end > kChunk ? end - kChunk : 0;
    chunk.resize(size_t(end - lo));
    f.seekg(std::streamoff(lo));
    f.read(chunk.data(), std::streamsize(chunk.size()));
    if (!f) return "cannot be read (I/O error)";
    const size_t nz = chunk.find_last_not_of('\0');
    if (nz != std::string::npos) {
      end = lo + nz + 1;
      break;
    }
    end = lo;
  }
  const uint64_t from = end > kChunk ? end - kChunk : 0;
  std::string tail(size_t(end - from), '\0');
  f.clear();
  f.seekg(std::streamoff(from));
  f.read(tail.data(), std::streamsize(tail.size()));
  if (!f) return "cannot be read (I/O error)";
  tail.append(size_t(std::min<uint64_t>(size - end, 16)), '\0');  // keep a little of the padding
  return container_problem(head, tail, size, opt.load_truncated);
}

}  // namespace fracture
