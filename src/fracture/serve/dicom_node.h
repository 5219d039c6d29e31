// `fracture dicom-node model=RUN_DIR ae_title=FRACTURE dicom_port=11112 dest=PACS@10.0.0.5:104`: a
// DICOM C-STORE SCP (DCMTK) in the hospital's network. For every radiograph it receives it runs the
// prediction of `fracture predict` (engine/predictor.h) and sends back to `dest` (C-STORE SCU), in
// the original's study (same Study Instance UID, patient and study attributes copied):
//   - a Secondary Capture image (new series "fracture: overlay"): the overlay PNG of `predict` as
//     RGB pixels, its Source Image Sequence naming the original SOP instance;
//   - an Enhanced SR document (new series "fracture: result"): probability, decision, threshold,
//     triage, box count as coded items (private scheme 99FRACTURE), the full JSON of `predict` as
//     a TEXT item, an IMAGE reference to the original, and the original's study, series and
//     instance UIDs as its evidence (Current Requested Procedure Evidence). SR rather than a JSON sidecar: it
//     travels by C-STORE to the same PACS and viewers file it with the study.
//
//   fracture::Config cfg = fracture::Config::defaults();
//   cfg.set("model", "runs/study/study", "example");
//   cfg.set("dest", "PACS@127.0.0.1:11113", "example");
//   int status = fracture::serve::run_dicom_node(cfg, *log);   // until SIGTERM / SIGINT or max_associations
//
// Accepted: Verification, and CR, DX (for presentation and processing) and Secondary Capture image
// storage in the uncompressed transfer syntaxes. A calling AE title outside `allowed_calling` (when
// set) is refused at association. An object that cannot be predicted (no pixel data, an unsupported
// image) is answered with status 0xC000 and its reason logged; results that cannot be delivered with
// 0xA700 (the sender may retry). Privacy: the received object lives in a private temporary folder
// until answered; logs name the SOP Instance UID by a hash, never a patient attribute.
#pragma once
#include "fracture/core/config.h"
#include "fracture/core/log.h"

namespace fracture::serve {

/// Serves until SIGTERM or SIGINT (after the association in progress) or until max_associations
/// associations have ended (tests). Returns the process exit status.
int run_dicom_node(const Config& cfg, Logger& log);

}  // namespace fracture::serve
