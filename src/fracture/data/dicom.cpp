// DICOM reading and writing with DCMTK (dcmdata; decoders from dcmjpeg, dcmjpls and the RLE codec).
//
// The pixel pipeline is done here in plain double arithmetic, so that it is exact and testable:
//   stored value s (BitsStored bits at HighBit, sign-extended when PixelRepresentation = 1)
//   -> modality value m = s * RescaleSlope + RescaleIntercept            (PS3.3 C.11.1, Modality LUT)
//   -> display value y in [0, 65535] through the VOI window               (PS3.3 C.11.2.1.2)
//   -> y' = 65535 - y when PhotometricInterpretation is MONOCHROME1       (so bone is bright)
// Patient-identifying attributes are never logged; DCMTK's own logging is limited to errors.
#include "fracture/data/dicom.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>
#include <zlib.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <vector>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"

namespace fracture {

namespace {

// DCMTK keeps its codec registry and logger configuration process-wide; register once.
void init_dcmtk() {
  static std::once_flag once;
  std::call_once(once, [] {
    OFLog::configure(OFLogger::ERROR_LOG_LEVEL);  // warnings may quote attribute values
    DJDecoderRegistration::registerCodecs();      // JPEG baseline, extended, lossless
    DJLSDecoderRegistration::registerCodecs();    // JPEG-LS
    DcmRLEDecoderRegistration::registerCodecs();  // RLE
  });
}

std::string get_string(DcmItem* ds, const DcmTagKey& key) {
  OFString s;
  if (ds->findAndGetOFString(key, s).bad()) return "";
  std::string r = s.c_str();
  while (!r.empty() && (r.back() == ' ' || r.back() == '\0')) r.pop_back();
  while (!r.empty() && r.front() == ' ') r.erase(r.begin());
  return r;
}

bool get_double(DcmItem* ds, const DcmTagKey& key, double& v) {
  Float64 f = 0;
  if (ds->findAndGetFloat64(key, f, 0).bad()) return false;
  v = f;
  return std::isfinite(v);
}

uint16_t to_u16(double y) { return uint16_t(std::lround(std::clamp(y, 0.0, 65535.0))); }

// The pixel module of a grey radiograph (PS3.3 C.7.6.3), checked.
struct PixelLayout {
  Uint16 rows = 0, cols = 0, alloc = 0, stored = 0, high = 0, repr = 0;
  long long npix = 0;
};

PixelLayout pixel_layout(DcmDataset* ds, const std::string& name, const ReadOptions& opt,
                         const std::string& photometric) {
  PixelLayout g;
  Uint16 spp = 1;
  FRACTURE_CHECK(ds->findAndGetUint16(DCM_Rows, g.rows).good() && g.rows > 0, name, ": missing or zero Rows (0028,0010)");
  FRACTURE_CHECK(ds->findAndGetUint16(DCM_Columns, g.cols).good() && g.cols > 0, name,
                 ": missing or zero Columns (0028,0011)");
  ds->findAndGetUint16(DCM_SamplesPerPixel, spp);
  FRACTURE_CHECK(ds->findAndGetUint16(DCM_BitsAllocated, g.alloc).good(), name, ": missing BitsAllocated (0028,0100)");
  if (ds->findAndGetUint16(DCM_BitsStored, g.stored).bad() || g.stored == 0) g.stored = g.alloc;
  if (ds->findAndGetUint16(DCM_HighBit, g.high).bad()) g.high = Uint16(g.stored - 1);
  ds->findAndGetUint16(DCM_PixelRepresentation, g.repr);

  FRACTURE_CHECK(photometric == "MONOCHROME1" || photometric == "MONOCHROME2", name, ": photometric interpretation '",
                 photometric, "' is not supported; expected MONOCHROME1 or MONOCHROME2 (grey radiograph)");
  FRACTURE_CHECK(spp == 1, name, ": SamplesPerPixel is ", spp, "; expected 1 for a grey image");
  FRACTURE_CHECK(g.alloc == 8 || g.alloc == 16, name, ": BitsAllocated is ", g.alloc, "; expected 8 or 16");
  FRACTURE_CHECK(g.stored >= 1 && g.stored <= g.alloc && g.high >= g.stored - 1 && g.high < g.alloc, name,
                 ": inconsistent BitsStored ", g.stored, " / HighBit ", g.high, " for BitsAllocated ", g.alloc);
  g.npix = (long long)g.rows * g.cols;
  FRACTURE_CHECK(g.npix <= opt.max_pixels, name, ": image is ", g.cols, " x ", g.rows, " = ", g.npix,
                 " pixels, above max_pixels = ", opt.max_pixels, " (memory guard)");
  return g;
}

// Stored values of the first frame (multi-frame files: frame 0 only), at most 16 bits, signed or not.
std::vector<int32_t> stored_values(DcmDataset* ds, const PixelLayout& g, const std::string& name) {
  std::vector<int32_t> sv(static_cast<size_t>(g.npix));
  const int shift = g.high + 1 - g.stored;
  const uint32_t mask = g.stored >= 32 ? 0xFFFFFFFFu : ((1u << g.stored) - 1u);
  auto decode_stored = [&](uint32_t raw) -> int32_t {
    uint32_t v = (raw >> shift) & mask;
    if (g.repr == 1 && (v & (1u << (g.stored - 1)))) return int32_t(int64_t(v) - (int64_t(1) << g.stored));
    return int32_t(v);
  };
  unsigned long count = 0;
  auto copy = [&](const auto* p, const OFCondition& c, const char* bits, const char* unit) {
    FRACTURE_CHECK(c.good() && p != nullptr, name, ": cannot read ", bits, " pixel data (", c.text(), ")");
    FRACTURE_CHECK((long long)count >= g.npix, name, ": pixel data is truncated: ", count, " ", unit, ", expected ",
                   g.npix, " (", g.cols, " x ", g.rows, ")");
    for (long long i = 0; i < g.npix; ++i) sv[size_t(i)] = decode_stored(p[i]);
  };
  if (g.alloc == 16) {
    const Uint16* p = nullptr;
    const OFCondition c = ds->findAndGetUint16Array(DCM_PixelData, p, &count);
    copy(p, c, "16-bit", "values");
  } else {
    const Uint8* p = nullptr;
    const OFCondition c = ds->findAndGetUint8Array(DCM_PixelData, p, &count);
    copy(p, c, "8-bit", "bytes");
  }
  return sv;
}

// The file's VOI window applied to the modality values x (function LINEAR, LINEAR_EXACT or SIGMOID).
uint16_t apply_window(double x, double c, double w, const std::string& fn) {
  double y;
  if (fn == "LINEAR") {  // PS3.3 C.11.2.1.2.1
    if (x <= c - 0.5 - (w - 1) / 2) y = 0;
    else if (x > c - 0.5 + (w - 1) / 2) y = 65535;
    else y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 65535.0;
  } else if (fn == "LINEAR_EXACT") {  // PS3.3 C.11.2.1.3.2
    if (x <= c - w / 2) y = 0;
    else if (x > c + w / 2) y = 65535;
    else y = ((x - c) / w + 0.5) * 65535.0;
  } else {  // SIGMOID, PS3.3 C.11.2.1.3.1
    y = 65535.0 / (1.0 + std::exp(-4.0 * (x - c) / w));
  }
  return to_u16(y);
}

// Percentile window: nearest-rank percentiles of the modality values, ranks round(0.005 (n-1)) and
// round(0.995 (n-1)) in ascending order, found with a histogram of the stored values (the modality
// LUT is linear: ascending for slope > 0, descending for slope < 0, where rank k of m is rank n-1-k
// of s), mapped linearly to 0..65535.
void window_percentile(const std::vector<int32_t>& sv, double slope, double intercept, uint16_t* o) {
  auto modality = [&](int32_t s) { return double(s) * slope + intercept; };
  const long long npix = (long long)sv.size();
  const int32_t smin = *std::min_element(sv.begin(), sv.end()), smax = *std::max_element(sv.begin(), sv.end());
  std::vector<long long> hist(size_t(smax - smin) + 1, 0);
  for (int32_t v : sv) ++hist[size_t(v - smin)];
  auto stored_at_rank = [&](long long k) {  // k-th smallest stored value, 0-based
    long long seen = 0;
    for (size_t b = 0; b < hist.size(); ++b) {
      seen += hist[b];
      if (seen > k) return int32_t(smin + int32_t(b));
    }
    return smax;
  };
  const long long n1 = npix - 1;
  const long long k_lo = std::llround(0.005 * double(n1)), k_hi = std::llround(0.995 * double(n1));
  const double lo = modality(stored_at_rank(slope > 0 ? k_lo : n1 - k_lo));
  const double hi = modality(stored_at_rank(slope > 0 ? k_hi : n1 - k_hi));
  for (long long i = 0; i < npix; ++i)
    o[i] = hi > lo ? to_u16((modality(sv[size_t(i)]) - lo) / (hi - lo) * 65535.0) : uint16_t(0);
}

// A DCMTK input stream over bytes in memory that, unlike DcmInputBufferStream, hands out factories
// (the stream reopened at an offset), as DcmInputFileStream does. With one, DCMTK reads an element
// longer than DCM_MaxReadLength lazily: it skips it, and refuses one that claims more bytes than
// are left; with a buffer stream it allocates the declared length first, so a 5 KB file claiming a
// 4 GB element allocated 4 GB (found by tests/fuzz/targets/dicom_file.cpp). `bytes` must outlive
// the dataset read from it.
class MemoryProducer : public DcmProducer {
 public:
  explicit MemoryProducer(std::string_view b) : b_(b) {}
  OFBool good() const override { return OFTrue; }
  OFCondition status() const override { return EC_Normal; }
  OFBool eos() override { return pos_ >= size(); }
  offile_off_t avail() override { return size() - pos_; }
  offile_off_t read(void* buf, offile_off_t n) override {
    n = std::min(n, avail());
    if (n > 0) std::memcpy(buf, b_.data() + pos_, size_t(n));
    pos_ += n;
    return n;
  }
  offile_off_t skip(offile_off_t n) override {
    n = std::min(n, avail());
    pos_ += n;
    return n;
  }
  void putback(offile_off_t n) override { pos_ -= std::min(n, pos_); }

 private:
  offile_off_t size() const { return offile_off_t(b_.size()); }
  std::string_view b_;
  offile_off_t pos_ = 0;
};

class MemoryStream : public DcmInputStream {
 public:
  explicit MemoryStream(std::string_view b) : DcmInputStream(&producer_), producer_(b), bytes_(b) {}
  DcmInputStreamFactory* newFactory() const override;

 private:
  MemoryProducer producer_;
  std::string_view bytes_;
};

class MemoryStreamFactory : public DcmInputStreamFactory {
 public:
  MemoryStreamFactory(std::string_view b, offile_off_t offset) : bytes_(b), offset_(offset) {}
  DcmInputStream* create() const override {
    auto* s = new MemoryStream(bytes_);
    s->skip(offset_);
    return s;
  }
  DcmInputStreamFactory* clone() const override { return new MemoryStreamFactory(bytes_, offset_); }
  DcmInputStreamFactoryType ident() const override { return DFT_DcmInputFileStreamFactory; }

 private:
  std::string_view bytes_;
  offile_off_t offset_;
};

DcmInputStreamFactory* MemoryStream::newFactory() const {
  // none once a filter (deflate) is installed: offsets then count inflated bytes
  return currentProducer() == &producer_ ? new MemoryStreamFactory(bytes_, tell()) : nullptr;
}

// DCMTK 3.6.7's JPEG decoder (Debian 12's libdcmjpeg17) first walks the JPEG segments of a fragment
// for the bit depth (DJCodecDecoder::scanJpegDataForBitDepth); on a TEM marker (0xFF01) the walk does
// not advance and the call never returns (DCMTK bug #1190, fixed upstream in March 2026; found here
// by tests/fuzz/targets/dicom_file.cpp, an 886-byte file that held a DICOM node's worker forever).
// The same walk, bounded: the byte offset of a TEM marker it would stop on, or -1.
int64_t jpeg_walk_stalls_at(const uint8_t* d, uint64_t n) {
  uint64_t off = 0;
  while (off + 4 < n) {
    const unsigned m = (unsigned(d[off]) << 8) | d[off + 1];
    const unsigned lo = m & 0xff;
    auto segment = [&] { off += ((uint64_t(d[off + 2]) << 8) | d[off + 3]) + 2; };
    if (m == 0xff01) return int64_t(off);
    if ((m & 0xff00) != 0xff00) return -1;  // not a marker: the walk stops
    if (lo >= 0xc0 && lo <= 0xcf && lo != 0xc4 && lo != 0xc8 && lo != 0xcc) return -1;  // a frame header: found
    if (lo == 0xc4 || lo == 0xc8 || lo == 0xcc || (lo >= 0xda && lo <= 0xfe)) {
      segment();  // DHT, JPG, DAC, SOS, DQT, DNL, DRI, DHP, EXP, APPn, JPGn, COM
    } else if (lo >= 0xd0 && lo <= 0xd9) {
      off += 2;  // RSTm, SOI, EOI
    } else if (lo == 0xff) {
      off += 1;  // fill byte
    } else if (lo > 2 && lo <= 0xbf) {
      off += 2;  // reserved
    } else {
      return -1;  // an invalid marker: the walk stops
    }
  }
  return -1;
}

// The fragments of encapsulated Pixel Data in the file's transfer syntax (item 0: the offset table),
// or nullptr when there are none to read (DCMTK's decoder then says why).
DcmPixelSequence* pixel_fragments(DcmDataset* ds) {
  DcmElement* e = nullptr;
  auto* px = ds->findAndGetElement(DCM_PixelData, e).good() ? dynamic_cast<DcmPixelData*>(e) : nullptr;
  DcmPixelSequence* seq = nullptr;
  if (!px || px->getEncapsulatedRepresentation(ds->getOriginalXfer(), nullptr, seq).bad()) return nullptr;
  return seq;
}

// Refuses JPEG-process pixel data whose fragments would stall DCMTK's walk (above), before decoding.
void refuse_stalling_jpeg(DcmDataset* ds, DcmPixelSequence* seq, const std::string& name) {
  const E_TransferSyntax jpeg[] = {EXS_JPEGProcess1,     EXS_JPEGProcess2_4, EXS_JPEGProcess6_8,
                                   EXS_JPEGProcess10_12, EXS_JPEGProcess14,  EXS_JPEGProcess14SV1};
  if (!seq || std::find(std::begin(jpeg), std::end(jpeg), ds->getOriginalXfer()) == std::end(jpeg)) return;
  for (unsigned long i = 1; i < seq->card(); ++i) {  // item 0 is the offset table
    DcmPixelItem* item = nullptr;
    Uint8* data = nullptr;
    if (seq->getItem(item, i).bad() || !item || item->getUint8Array(data).bad() || !data) continue;
    const int64_t at = jpeg_walk_stalls_at(data, item->getLength());
    FRACTURE_CHECK(at < 0, name, ": JPEG fragment ", i, " has a TEM marker (0xFF01) at byte ", at,
                   " before its frame header; DCMTK 3.6.7's JPEG decoder would never return on it (DCMTK bug #1190), ",
                   "so the file is refused");
  }
}

// DCMTK's decoders allocate every frame of compressed pixel data (at most one per fragment) before
// our pixel checks can run: the memory guard applies to Rows x Columns x SamplesPerPixel x frames
// from the header first. A 1 KB JPEG-lossless file claiming 32784 x 31232 pixels made the decoder
// allocate 2 GB (found by fuzz_dicom_file).
void refuse_large_encapsulated(DcmDataset* ds, DcmPixelSequence* seq, const std::string& name, long long max_pixels) {
  Uint16 rows = 0, cols = 0, spp = 1;
  ds->findAndGetUint16(DCM_Rows, rows);
  ds->findAndGetUint16(DCM_Columns, cols);
  ds->findAndGetUint16(DCM_SamplesPerPixel, spp);
  Sint32 nf = 1;
  long long frames = ds->findAndGetSint32(DCM_NumberOfFrames, nf).good() && nf > 1 ? nf : 1;
  if (seq && seq->card() > 1)
    frames = std::min<long long>(frames, (long long)seq->card() - 1);
  const long long per_frame = (long long)rows * cols * std::max<Uint16>(spp, 1);
  // (the product is not printed: NumberOfFrames up to 2^31 times 65535^3 overflows 64 bits)
  FRACTURE_CHECK(per_frame == 0 || frames <= max_pixels / per_frame, name, ": compressed image of ", frames,
                 " frame(s) of ", cols, " x ", rows, " x ", spp, " samples would be decoded at once, more than ",
                 "max_pixels = ", max_pixels, " values (memory guard); downscale it or raise the limit");
}

// Deflated Explicit VR Little Endian (PS3.5 A.5): after the meta header, the dataset is one raw
// deflate stream. DCMTK inflates it as it parses and cannot skip ahead in it (no stream factory), so
// it reserves whatever length an element claims before reading it: 808 MB from a 638-byte file
// (found by fuzz_dicom_file under -malloc_limit_mb=128). The offset where such a dataset starts, or
// 0 when the file is not deflated; `meta` holds the meta header read (DCMTK's own reader decides,
// as DcmFileFormat::read does before it installs the filter: a hand walk of group 0002 missed a meta
// header that DCMTK reads by its group length).
size_t deflated_dataset_offset(std::string_view b, DcmMetaInfo& meta) {
  MemoryStream in(b);
  meta.transferInit();
  const OFCondition st = meta.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  meta.transferEnd();
  OFString uid;
  if (st.bad() || meta.findAndGetOFString(DCM_TransferSyntaxUID, uid).bad()) return 0;
  return uid == UID_DeflatedExplicitVRLittleEndianTransferSyntax ? size_t(in.tell()) : 0;
}

// The dataset of a deflated file inflated here, at most `cap` bytes, so that DCMTK parses plain
// explicit VR little endian from memory, where an element longer than the data is refused.
std::string inflate_dataset(std::string_view deflated, uint64_t cap, const std::string& name) {
  z_stream z{};
  FRACTURE_CHECK(inflateInit2(&z, -MAX_WBITS) == Z_OK, name, ": cannot start zlib to inflate the dataset");
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(deflated.data()));
  z.avail_in = uInt(std::min<size_t>(deflated.size(), UINT32_MAX));
  int rc = Z_OK;
  while (rc == Z_OK) {
    const size_t at = out.size(), step = size_t(std::min<uint64_t>(1 << 20, cap + 1 - at));
    out.resize(at + step);
    z.next_out = reinterpret_cast<Bytef*>(&out[at]);
    z.avail_out = uInt(step);
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(at + step - z.avail_out);
    if (out.size() > cap) rc = Z_MEM_ERROR;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) rc = Z_DATA_ERROR;  // the stream ended early
  }
  const std::string msg = z.msg ? z.msg : "";
  inflateEnd(&z);
  FRACTURE_CHECK(out.size() <= cap, name, ": deflated dataset inflates to more than ", cap, " bytes (the limit ",
                 "for max_pixels; memory guard); downscale it or raise the limit");
  FRACTURE_CHECK(rc == Z_STREAM_END, name, ": DICOM data is truncated or corrupt (deflated dataset: ",
                 msg.empty() ? "the stream ends early" : msg, ")");
  return out;
}

// The parsed dataset of the bytes, with encapsulated (compressed) pixel data decoded when it fits
// max_pixels (left compressed when !decode_pixels: for attributes only).
DcmDataset* parse_dataset(DcmFileFormat& ff, std::string_view bytes, const std::string& name, long long max_pixels,
                          bool decode_pixels = true) {
  OFCondition st;
  if (const size_t at = deflated_dataset_offset(bytes, *ff.getMetaInfo())) {
    // 4 bytes per allowed pixel (32-bit samples at most) and 16 MiB for the other attributes
    const uint64_t cap = uint64_t(std::clamp(max_pixels, 0LL, 1LL << 40)) * 4 + (16u << 20);
    const std::string plain = inflate_dataset(bytes.substr(at), cap, name);
    MemoryStream data(plain);
    ff.getDataset()->transferInit();
    st = ff.getDataset()->read(data, EXS_LittleEndianExplicit, EGL_noChange, DCM_MaxReadLength);
    ff.getDataset()->transferEnd();
    // values over DCM_MaxReadLength are read later from `plain`, which ends here: read them now
    if (st.good()) st = ff.getDataset()->loadAllDataIntoMemory();
  } else {
    ff.getMetaInfo()->clear();  // read again below with the dataset, as DcmFileFormat::read reads files
    MemoryStream in(bytes);
    ff.transferInit();
    st = ff.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    ff.transferEnd();
  }
  FRACTURE_CHECK(st.good(), name, ": DICOM data is truncated or corrupt (DCMTK: ", st.text(), ")");
  DcmDataset* ds = ff.getDataset();
  FRACTURE_CHECK(ds->tagExists(DCM_PixelData), name, ": DICOM file has no pixel data (not an image)");
  const E_TransferSyntax xfer = ds->getOriginalXfer();
  DcmXfer xf(xfer);
  if (xf.isEncapsulated() && decode_pixels) {
    DcmPixelSequence* fragments = pixel_fragments(ds);
    refuse_large_encapsulated(ds, fragments, name, max_pixels);
    refuse_stalling_jpeg(ds, fragments, name);
    OFCondition c = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
    FRACTURE_CHECK(c.good() && ds->canWriteXfer(EXS_LittleEndianExplicit), name, ": compressed transfer syntax '",
                   xf.getXferName(), "' (", xf.getXferID(), ") cannot be decoded by this build (decoders: JPEG, ",
                   "JPEG-LS, RLE); convert the file to uncompressed DICOM (e.g. dcmdjpeg / gdcmconv --raw)");
  }
  return ds;
}

}  // namespace

bool dicom_supported() { return true; }

Image decode_dicom(std::string_view bytes, const std::string& name, const ReadOptions& opt) {
  init_dcmtk();
  const std::string& mode = opt.dicom_window;
  FRACTURE_CHECK(mode == "auto" || mode == "file" || mode == "percentile", "dicom_window: expected auto, file or ",
                 "percentile, got '", mode, "'");
  FRACTURE_CHECK(!bytes.empty(), name, ": file is empty (0 bytes); expected a DICOM file");
  DcmFileFormat ff;
  DcmDataset* ds = parse_dataset(ff, bytes, name, opt.max_pixels);
  const std::string photometric = get_string(ds, DCM_PhotometricInterpretation);
  const PixelLayout g = pixel_layout(ds, name, opt, photometric);
  const std::vector<int32_t> sv = stored_values(ds, g, name);

  // Modality LUT: rescale slope / intercept (absent = identity).
  double slope = 1.0, intercept = 0.0;
  if (!get_double(ds, DCM_RescaleSlope, slope) || slope == 0.0) slope = 1.0;
  if (!get_double(ds, DCM_RescaleIntercept, intercept)) intercept = 0.0;

  // VOI: the file's first window, or a percentile window (0.5 % .. 99.5 %, nearest rank).
  double wc = 0, ww = 0;
  bool has_window = get_double(ds, DCM_WindowCenter, wc) && get_double(ds, DCM_WindowWidth, ww) && ww > 0;
  std::string fn = get_string(ds, DCM_VOILUTFunction);
  if (fn.empty()) fn = "LINEAR";
  if (has_window && fn == "LINEAR" && ww < 1) has_window = false;  // LINEAR needs width >= 1
  FRACTURE_CHECK(has_window || mode != "file", name, ": dicom_window=file but the file has no usable window ",
                 "(WindowCenter/WindowWidth); use dicom_window=auto or percentile");
  FRACTURE_CHECK(fn == "LINEAR" || fn == "LINEAR_EXACT" || fn == "SIGMOID" || !has_window || mode == "percentile",
                 name, ": VOI LUT function '", fn, "' is not supported; expected LINEAR, LINEAR_EXACT or SIGMOID");

  cv::Mat out(g.rows, g.cols, CV_16UC1);
  uint16_t* o = out.ptr<uint16_t>();
  if (has_window && mode != "percentile") {
    for (long long i = 0; i < g.npix; ++i) o[i] = apply_window(double(sv[size_t(i)]) * slope + intercept, wc, ww, fn);
  } else {
    window_percentile(sv, slope, intercept, o);
  }
  if (photometric == "MONOCHROME1")
    for (long long i = 0; i < g.npix; ++i) o[i] = uint16_t(65535 - o[i]);

  Image im;
  im.pixels = out;
  im.bits = 16;
  im.format = "dicom";
  im.patient_id = get_string(ds, DCM_PatientID);
  return im;
}

Image read_dicom(const std::filesystem::path& path, const ReadOptions& opt) {
  std::error_code ec;
  FRACTURE_CHECK(std::filesystem::is_regular_file(path, ec), path.string(), ": DICOM file not found");
  std::string bytes = read_file(path);
  return decode_dicom(bytes, path.string(), opt);
}

std::string dicom_instance_uid(std::string_view bytes, const std::string& name) {
  init_dcmtk();
  FRACTURE_CHECK(!bytes.empty(), name, ": file is empty (0 bytes); expected a DICOM file");
  DcmFileFormat ff;
  // the attributes only: compressed pixels stay undecoded (the predictor decodes them once)
  return get_string(parse_dataset(ff, bytes, name, ReadOptions{}.max_pixels, false), DCM_SOPInstanceUID);
}

namespace {

// "2.25.<decimal>" UIDs (PS3.5 B.2 UUID-derived form) from a 64-bit hash: deterministic for the same
// inputs, so generated datasets are reproducible for a seed.
std::string synthetic_uid(std::string_view key) { return "2.25." + std::to_string(hash_bytes(key)); }

void put(DcmDataset* ds, const DcmTagKey& key, const std::string& value, const std::filesystem::path& path) {
  OFCondition c = ds->putAndInsertString(key, value.c_str());
  FRACTURE_CHECK(c.good(), path.string(), ": cannot set DICOM attribute ", DcmTag(key).getTagName(), ": ", c.text());
}

std::string ds_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);  // DS: at most 16 characters
  return buf;
}

}  // namespace

void write_dicom(const std::filesystem::path& path, const cv::Mat& grey, const DicomWriteOptions& opt) {
  init_dcmtk();
  FRACTURE_CHECK(!grey.empty() && (grey.type() == CV_8UC1 || grey.type() == CV_16UC1), path.string(),
                 ": write_dicom expects a non-empty CV_8UC1 or CV_16UC1 image, got OpenCV type ", grey.type());
  FRACTURE_CHECK(opt.photometric == "MONOCHROME1" || opt.photometric == "MONOCHROME2", path.string(),
                 ": photometric must be MONOCHROME1 or MONOCHROME2, got '", opt.photometric, "'");
  FRACTURE_CHECK(opt.patient_id.size() <= 64, path.string(), ": patient_id longer than 64 characters (DICOM LO)");
  for (char ch : opt.patient_id)
    FRACTURE_CHECK(ch >= 0x20 && ch < 0x7F && ch != '\\', path.string(), ": patient_id must be printable ASCII ",
                   "without backslash, got '", opt.patient_id, "'");
  FRACTURE_CHECK(std::isfinite(opt.rescale_slope) && opt.rescale_slope != 0 && std::isfinite(opt.rescale_intercept),
                 path.string(), ": rescale slope must be finite and non-zero, intercept finite");

  const bool is16 = grey.depth() == CV_16U;
  const int bits = is16 ? 16 : 8;
  cv::Mat px = grey.isContinuous() ? grey : grey.clone();
  if (opt.photometric == "MONOCHROME1") {  // stored inverted: the reader inverts back, so bone stays bright
    cv::Mat inv;
    cv::subtract(cv::Scalar(is16 ? 65535 : 255), px, inv);
    px = inv;
  }
  const std::string_view pixel_bytes(reinterpret_cast<const char*>(px.data), px.total() * px.elemSize());

  DcmFileFormat ff;
  DcmDataset* ds = ff.getDataset();
  const std::string study = synthetic_uid("study/" + opt.patient_id);
  const std::string series = synthetic_uid("series/" + opt.patient_id + "/" + opt.body_part);
  const std::string instance =
      synthetic_uid("instance/" + opt.patient_id + "/" + path.filename().string() + "/" + hex64(hash_bytes(pixel_bytes)));
  put(ds, DCM_SOPClassUID, UID_SecondaryCaptureImageStorage, path);
  put(ds, DCM_SOPInstanceUID, instance, path);
  put(ds, DCM_StudyInstanceUID, study, path);
  put(ds, DCM_SeriesInstanceUID, series, path);
  put(ds, DCM_Modality, "DX", path);
  put(ds, DCM_ConversionType, "WSD", path);  // workstation: synthetic / derived image
  put(ds, DCM_ImageType, "DERIVED\\SECONDARY", path);
  put(ds, DCM_PatientID, opt.patient_id, path);
  put(ds, DCM_PatientName, "", path);
  put(ds, DCM_PatientBirthDate, "", path);
  put(ds, DCM_PatientSex, "", path);
  put(ds, DCM_PatientIdentityRemoved, "YES", path);
  put(ds, DCM_StudyDate, "", path);
  put(ds, DCM_StudyTime, "", path);
  put(ds, DCM_StudyID, "", path);
  put(ds, DCM_AccessionNumber, "", path);
  put(ds, DCM_ReferringPhysicianName, "", path);
  put(ds, DCM_SeriesNumber, "1", path);
  put(ds, DCM_InstanceNumber, "1", path);
  put(ds, DCM_PatientOrientation, "", path);
  put(ds, DCM_Manufacturer, "fracture", path);
  if (!opt.body_part.empty()) put(ds, DCM_BodyPartExamined, opt.body_part, path);
  put(ds, DCM_PhotometricInterpretation, opt.photometric, path);
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertUint16(DCM_Rows, Uint16(px.rows));
  ds->putAndInsertUint16(DCM_Columns, Uint16(px.cols));
  ds->putAndInsertUint16(DCM_BitsAllocated, Uint16(bits));
  ds->putAndInsertUint16(DCM_BitsStored, Uint16(bits));
  ds->putAndInsertUint16(DCM_HighBit, Uint16(bits - 1));
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  put(ds, DCM_RescaleSlope, ds_value(opt.rescale_slope), path);
  put(ds, DCM_RescaleIntercept, ds_value(opt.rescale_intercept), path);
  put(ds, DCM_RescaleType, "US", path);  // unspecified units
  if (opt.window_width > 0) {
    put(ds, DCM_WindowCenter, ds_value(opt.window_center), path);
    put(ds, DCM_WindowWidth, ds_value(opt.window_width), path);
  }
  put(ds, DCM_BurnedInAnnotation, "NO", path);
  put(ds, DCM_LossyImageCompression, "00", path);
  FRACTURE_CHECK(px.rows <= 65535 && px.cols <= 65535, path.string(), ": image too large for DICOM (",
                 px.cols, " x ", px.rows, "; rows and columns are 16-bit)");
  OFCondition c = is16 ? ds->putAndInsertUint16Array(DCM_PixelData, px.ptr<Uint16>(), static_cast<unsigned long>(px.total()))
                       : ds->putAndInsertUint8Array(DCM_PixelData, px.ptr<Uint8>(), static_cast<unsigned long>(px.total()));
  FRACTURE_CHECK(c.good(), path.string(), ": cannot set pixel data: ", c.text());

  // Atomic: write a temp file in the same folder, then rename over the target.
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::random_device rd;
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + hex64((uint64_t(rd()) << 32) | rd()).substr(8);
  c = ff.saveFile(tmp.c_str(), EXS_LittleEndianExplicit);
  if (c.bad()) {
    std::remove(tmp.c_str());
    FRACTURE_FAIL(path.string(), ": cannot write DICOM file: ", c.text());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    FRACTURE_FAIL(path.string(), ": cannot rename temp file into place: ", ec.message());
  }
}

}  // namespace fracture
