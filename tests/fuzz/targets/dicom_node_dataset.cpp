// Fuzz target: a dataset as the DICOM node receives it in a C-STORE (no meta header, in the
// transfer syntax of the presentation context: the first input byte picks implicit or explicit
// little endian), then the node's steps around the prediction (serve/dicom_results.h): the log's
// hash of the SOP Instance UID, the Part 10 file the predictor reads, reading that file as the
// predictor does (data/image.h), and the Secondary Capture and Enhanced SR built from the received
// dataset's patient, study and UID attributes. Checks: no crash, leak or UB; refusals name the file.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dctk.h>
#include <opencv2/imgcodecs.hpp>

#include "../fuzz_util.h"
#include "fracture/data/image.h"
#include "fracture/serve/dicom_results.h"

namespace fs = std::filesystem;

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
  DcmInputBufferStream in;
  in.setBuffer(data + 1, offile_off_t(size - 1));
  in.setEos();
  DcmDataset ds;
  ds.transferInit();
  const OFCondition c = ds.read(in, xfer, EGL_noChange, DCM_MaxReadLength);
  ds.transferEnd();
  if (c.bad()) return 0;  // the network layer would have refused it before the node saw it
  (void)fracture::serve::received_object_tag(ds);
  const fs::path file = d / "received.dcm";
  if (!fuzz::refused_naming("", [&] { fracture::serve::save_received(ds, file); })) return 0;
  fracture::ReadOptions opt;
  opt.max_pixels = 4'000'000;
  fuzz::refused_naming("received.dcm", [&] { (void)fracture::read_image(file, opt); });
  fuzz::refused_naming("", [&] {
    (void)fracture::serve::secondary_capture(ds, pred);
    (void)fracture::serve::structured_report(ds, pred);
  });
  return 0;
}
