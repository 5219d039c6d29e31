// What the DICOM node (serve/dicom_node.h) does with a received object before and after the
// prediction: the file the predictor reads, the log's name for it, and the two results it sends
// back (Secondary Capture overlay, Enhanced SR). Separate from the network code so that the fuzz
// target (tests/fuzz/targets/dicom_node_dataset.cpp) drives the same steps on arbitrary datasets.
//
//   std::unique_ptr<DcmFileFormat> ff = fracture::serve::load_received(tmp / "1.dcm");  // as received
//   DcmDataset& ds = *ff->getDataset();
//   std::string tag = fracture::serve::received_object_tag(ds);      // "sop-uid 3fa1c09b2e77"
//   std::unique_ptr<DcmDataset> sc = fracture::serve::secondary_capture(ds, prediction);
//   std::unique_ptr<DcmDataset> sr = fracture::serve::structured_report(ds, prediction);
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "fracture/engine/predictor.h"

class DcmDataset;
class DcmFileFormat;

namespace fracture::serve {

/// Reads the Part 10 file the network layer wrote (the dataset's bytes exactly as they arrived, behind
/// a meta header; DcmSCP::receiveSTORERequest with a file name) through DCMTK's file stream: an
/// element that claims more bytes than the file holds is refused instead of allocated, and values
/// over 4 KiB are read from the file when first used, so the file must outlive the dataset. Throws
/// fracture::Error when DCMTK cannot read it.
std::unique_ptr<DcmFileFormat> load_received(const std::filesystem::path& file);

/// "sop-uid " + log_hash(SOP Instance UID): the only name of an object a log line may print.
std::string received_object_tag(DcmDataset& ds);

/// The Secondary Capture of the prediction's overlay PNG, in the original's study (patient and study
/// attributes copied, new series, Source Image Sequence naming the original).
std::unique_ptr<DcmDataset> secondary_capture(DcmDataset& orig, const engine::ImagePrediction& p);

/// The Enhanced SR of the prediction (see serve/dicom_node.h), in the original's study.
std::unique_ptr<DcmDataset> structured_report(DcmDataset& orig, const engine::ImagePrediction& p);

}  // namespace fracture::serve
