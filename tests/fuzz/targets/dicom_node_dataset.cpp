// Fuzz target: a dataset as the DICOM node receives it in a C-STORE (the bytes of the PDVs, in the
// transfer syntax of the presentation context: the first input byte picks implicit or explicit
// little endian), stored as the network layer stores it (a meta header, then the bytes unparsed),
// then the node's steps (serve/dicom_results.h): reading that file back, the log's hash of the SOP
// Instance UID, reading the file as the predictor does (data/image.h), and the Secondary Capture and
// Enhanced SR built from the received dataset's patient, study and UID attributes. Checks: no
// crash, leak or UB; refusals name the file.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dctk.h>
#include <opencv2/imgcodecs.hpp>

#include "../fuzz_util.h"
#include "fracture/core/fs.h"
#include "fracture/data/image.h"
#include "fracture/serve/dicom_results.h"

namespace fs = std::filesystem;

namespace {

// A Part 10 file holding only the SOP Class and Instance UIDs, in transfer syntax `xfer`.
std::string part10_head(E_TransferSyntax xfer) {
  DcmFileFormat ff;
  ff.getDataset()->putAndInsertString(DCM_SOPClassUID, UID_DigitalXRayImageStorageForPresentation);
  ff.getDataset()->putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.2.1125.1");
  const fs::path f = fuzz::scratch("dicom_node_head") / "head.dcm";
  if (ff.saveFile(f.c_str(), xfer).bad()) fuzz::fail("DCMTK cannot write the meta header");
  return fracture::read_file(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const fs::path d = fuzz::scratch("dicom_node_dataset");
  static fracture::engine::ImagePrediction pred = [] {
    fracture::engine::ImagePrediction p;
    std::vector<uchar> png;
    cv::imencode(".png", cv::Mat(8, 8, CV_8UC3, cv::Scalar(10, 200, 30)), png);
    p.overlay_png.assign(png.begin(), png.end());
    p.json = {{"probability", 0.25}, {"threshold", 0.5}, {"fractured", false}, {"triage", "routine"},
              {"boxes", nlohmann::json::array()}};
    return p;
  }();
  const E_TransferSyntax xfer = (data[0] & 1) ? EXS_LittleEndianExplicit : EXS_LittleEndianImplicit;
  // DIMSE_createFilestream's file: preamble, meta header naming the transfer syntax, then the
  // dataset's bytes as they came. Here the dataset starts with its SOP Class and Instance UIDs
  // (written by DCMTK) and the input's bytes follow them.
  static const std::string head[2] = {part10_head(EXS_LittleEndianImplicit), part10_head(EXS_LittleEndianExplicit)};
  const fs::path file = d / "received.dcm";
  fuzz::write(file, head[xfer == EXS_LittleEndianExplicit] +
                             std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  std::unique_ptr<DcmFileFormat> ff;
  if (!fuzz::refused_naming("", [&] { ff = fracture::serve::load_received(file); })) return 0;
  DcmDataset& ds = *ff->getDataset();
  (void)fracture::serve::received_object_tag(ds);
  fracture::ReadOptions opt;
  opt.max_pixels = 4'000'000;
  fuzz::refused_naming("received.dcm", [&] { (void)fracture::read_image(file, opt); });
  fuzz::refused_naming("", [&] {
    (void)fracture::serve::secondary_capture(ds, pred);
    (void)fracture::serve::structured_report(ds, pred);
  });
  return 0;
}
