#include "fracture/serve/dicom_node.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/dstorscu.h>
#include <dcmtk/dcmnet/scp.h>
#include <dcmtk/dcmsr/dsrdoc.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/engine/predictor.h"
#include "fracture/serve/common.h"

namespace fracture::serve {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string new_uid() {
  char b[100];
  dcmGenerateUniqueIdentifier(b, SITE_INSTANCE_UID_ROOT);
  return b;
}

std::string get(DcmItem& ds, const DcmTagKey& k) {
  OFString v;
  return ds.findAndGetOFStringArray(k, v).good() ? std::string(v.c_str()) : std::string();
}

// "AE@host:port" -> parts; throws naming the key otherwise.
struct Dest {
  std::string ae, host;
  int port = 0;
};
Dest parse_dest(const std::string& s) {
  const size_t at = s.find('@'), colon = s.rfind(':');
  Dest d;
  if (at != std::string::npos && colon != std::string::npos && colon > at) {
    d.ae = s.substr(0, at);
    d.host = s.substr(at + 1, colon - at - 1);
    d.port = std::atoi(s.substr(colon + 1).c_str());
  }
  FRACTURE_CHECK(!d.ae.empty() && d.ae.size() <= 16 && !d.host.empty() && d.port > 0 && d.port < 65536,
                 "key 'dest': expected AE@host:port (for example PACS@10.0.0.5:104), got '", s, "'");
  return d;
}

// The patient and study attributes a result must carry to be filed with the original's study.
const DcmTagKey kCopied[] = {DCM_PatientName,  DCM_PatientID,       DCM_PatientBirthDate,      DCM_PatientSex,
                             DCM_StudyDate,    DCM_StudyTime,       DCM_StudyID,               DCM_AccessionNumber,
                             DCM_StudyDescription, DCM_ReferringPhysicianName};

void put(DcmItem& ds, const DcmTagKey& k, const std::string& v) {
  const OFCondition c = ds.putAndInsertString(k, v.c_str());
  FRACTURE_CHECK(c.good(), "dicom-node: cannot set ", DcmTag(k).getTagName(), ": ", c.text());
}

// The Secondary Capture of the overlay (see the header), in the original's study.
std::unique_ptr<DcmDataset> secondary_capture(DcmDataset& orig, const engine::ImagePrediction& p) {
  const std::vector<uchar> png(p.overlay_png.begin(), p.overlay_png.end());
  cv::Mat bgr = cv::imdecode(png, cv::IMREAD_COLOR), rgb;
  FRACTURE_CHECK(!bgr.empty(), "dicom-node: the overlay PNG does not decode");
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  auto ds = std::make_unique<DcmDataset>();
  for (const DcmTagKey& k : kCopied) put(*ds, k, get(orig, k));
  put(*ds, DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  put(*ds, DCM_SOPInstanceUID, new_uid());
  put(*ds, DCM_StudyInstanceUID, get(orig, DCM_StudyInstanceUID));
  put(*ds, DCM_SeriesInstanceUID, new_uid());
  put(*ds, DCM_Modality, "OT");
  put(*ds, DCM_ConversionType, "WSD");
  put(*ds, DCM_SeriesNumber, "9901");
  put(*ds, DCM_InstanceNumber, "1");
  put(*ds, DCM_SeriesDescription, "fracture: overlay");
  put(*ds, DCM_DerivationDescription, "fracture: detector boxes and Grad-CAM heatmap over the original");
  put(*ds, DCM_BurnedInAnnotation, "NO");
  put(*ds, DCM_Manufacturer, "fracture");
  DcmItem* src = nullptr;
  if (ds->findOrCreateSequenceItem(DCM_SourceImageSequence, src, -2).good() && src) {
    put(*src, DCM_ReferencedSOPClassUID, get(orig, DCM_SOPClassUID));
    put(*src, DCM_ReferencedSOPInstanceUID, get(orig, DCM_SOPInstanceUID));
  }
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 3);
  put(*ds, DCM_PhotometricInterpretation, "RGB");
  ds->putAndInsertUint16(DCM_PlanarConfiguration, 0);
  ds->putAndInsertUint16(DCM_Rows, Uint16(rgb.rows));
  ds->putAndInsertUint16(DCM_Columns, Uint16(rgb.cols));
  ds->putAndInsertUint16(DCM_BitsAllocated, 8);
  ds->putAndInsertUint16(DCM_BitsStored, 8);
  ds->putAndInsertUint16(DCM_HighBit, 7);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  cv::Mat cont = rgb.isContinuous() ? rgb : rgb.clone();
  ds->putAndInsertUint8Array(DCM_PixelData, cont.ptr<Uint8>(), static_cast<unsigned long>(cont.total() * 3));
  return ds;
}

DSRCodedEntryValue code(const char* value, const char* meaning) { return DSRCodedEntryValue(value, "99FRACTURE", meaning); }

// The Enhanced SR of the result (see the header).
std::unique_ptr<DcmDataset> structured_report(DcmDataset& orig, const engine::ImagePrediction& p) {
  DSRDocument doc(DSRTypes::DT_EnhancedSR);
  doc.createNewSeriesInStudy(get(orig, DCM_StudyInstanceUID).c_str());
  doc.setSeriesDescription("fracture: result");
  doc.setPatientName(get(orig, DCM_PatientName).c_str());
  doc.setPatientID(get(orig, DCM_PatientID).c_str());
  doc.setPatientBirthDate(get(orig, DCM_PatientBirthDate).c_str());
  doc.setPatientSex(get(orig, DCM_PatientSex).c_str());
  doc.setStudyDate(get(orig, DCM_StudyDate).c_str());
  doc.setAccessionNumber(get(orig, DCM_AccessionNumber).c_str());
  doc.setManufacturer("fracture");
  // the evidence: the original's study, series and instance UIDs
  doc.getCurrentRequestedProcedureEvidence().addItem(get(orig, DCM_StudyInstanceUID).c_str(),
                                                     get(orig, DCM_SeriesInstanceUID).c_str(),
                                                     get(orig, DCM_SOPClassUID).c_str(),
                                                     get(orig, DCM_SOPInstanceUID).c_str());
  DSRDocumentTree& t = doc.getTree();
  t.addContentItem(DSRTypes::RT_isRoot, DSRTypes::VT_Container);
  t.getCurrentContentItem().setConceptName(code("RESULT", "Fracture detection result"));
  const json& j = p.json;
  auto num = [&](const char* c, const char* meaning, double v, DSRTypes::E_AddMode mode) {
    t.addContentItem(DSRTypes::RT_contains, DSRTypes::VT_Num, mode);
    char s[32];
    std::snprintf(s, sizeof s, "%.6g", v);
    t.getCurrentContentItem().setNumericValue(DSRNumericMeasurementValue(s, DSRCodedEntryValue("1", "UCUM", "no units")));
    t.getCurrentContentItem().setConceptName(code(c, meaning));
  };
  auto text = [&](const char* c, const char* meaning, const std::string& v) {
    t.addContentItem(DSRTypes::RT_contains, DSRTypes::VT_Text, DSRTypes::AM_afterCurrent);
    t.getCurrentContentItem().setStringValue(v.c_str());
    t.getCurrentContentItem().setConceptName(code(c, meaning));
  };
  DSRTypes::E_AddMode first = DSRTypes::AM_belowCurrent;
  if (j.at("probability").is_number()) {
    num("PROB", "Calibrated fracture probability", j.at("probability").get<double>(), first);
    num("THRESH", "Decision threshold (Youden)", j.at("threshold").get<double>(), DSRTypes::AM_afterCurrent);
    text("DECISION", "Decision", j.at("fractured").get<bool>() ? "fractured" : "not fractured");
    text("TRIAGE", "Triage", j.at("triage").get<std::string>());
    first = DSRTypes::AM_afterCurrent;
  }
  num("BOXES", "Fracture boxes found", double(j.at("boxes").size()), first);
  text("JSON", "fracture predict result (JSON)", j.dump());
  t.addContentItem(DSRTypes::RT_contains, DSRTypes::VT_Image, DSRTypes::AM_afterCurrent);
  t.getCurrentContentItem().setImageReference(
      DSRImageReferenceValue(get(orig, DCM_SOPClassUID).c_str(), get(orig, DCM_SOPInstanceUID).c_str()));
  t.getCurrentContentItem().setConceptName(code("SOURCE", "Source image"));
  auto ds = std::make_unique<DcmDataset>();
  const OFCondition c = doc.write(*ds);
  FRACTURE_CHECK(c.good(), "dicom-node: cannot write the SR document: ", c.text());
  return ds;
}

class Node : public DcmSCP {
 public:
  Node(const Config& cfg, Logger& log, const engine::Predictor& predictor, fs::path tmp)
      : cfg_(cfg), log_(log), predictor_(predictor), tmp_(std::move(tmp)), dest_(parse_dest(cfg.str("dest"))) {
    if (!cfg.is_null("allowed_calling"))
      for (const std::string& a : cfg.list("allowed_calling")) allowed_.push_back(a);
    max_ = cfg.is_null("max_associations") ? 0 : long(cfg.integer("max_associations"));
  }
  long associations() const { return associations_; }

 protected:
  OFBool checkCallingAETitleAccepted(const OFString& callingAE) override {
    if (allowed_.empty()) return OFTrue;
    for (const std::string& a : allowed_)
      if (a == callingAE.c_str()) return OFTrue;
    log_.warn("dicom-node: association from calling AE '{}' refused (not in allowed_calling)", callingAE.c_str());
    return OFFalse;
  }
  void notifyAssociationTermination() override { ++associations_; }
  OFBool stopAfterCurrentAssociation() override { return stop(); }
  OFBool stopAfterConnectionTimeout() override { return stop(); }

  OFCondition handleIncomingCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& info) override {
    if (msg->CommandField != DIMSE_C_STORE_RQ) return DcmSCP::handleIncomingCommand(msg, info);
    T_DIMSE_C_StoreRQ& req = msg->msg.CStoreRQ;
    DcmDataset* ds = nullptr;
    OFCondition c = receiveSTORERequest(req, info.presentationContextID, ds);
    if (c.bad()) {
      delete ds;
      return c;
    }
    const Uint16 status = process(*ds);
    delete ds;
    return sendSTOREResponse(info.presentationContextID, req, status);
  }

 private:
  bool stop() const { return stop_signal() != 0 || (max_ > 0 && associations_ >= max_); }

  // Predict, build the two results, send them. Returns the C-STORE status for the sender.
  Uint16 process(DcmDataset& ds) {
    const long id = ++received_;
    const std::string tag = "sop-uid " + log_hash(get(ds, DCM_SOPInstanceUID));
    const fs::path file = tmp_ / (std::to_string(id) + ".dcm");
    std::vector<engine::ImagePrediction> out;
    try {
      DcmFileFormat ff(&ds);
      const OFCondition w = ff.saveFile(file.c_str(), EXS_LittleEndianExplicit);
      FRACTURE_CHECK(w.good(), "cannot write the received object: ", w.text());
      out = predictor_.predict({ClsItem{file, 0, "", ""}});
    } catch (const std::exception& e) {
      std::error_code ec;
      fs::remove(file, ec);
      log_.warn("dicom-node: object {} ({}): not predicted, status 0xC000: {}", id, tag,
                with_path_as(e.what(), file.string(), "object").substr(0, 200));
      return STATUS_STORE_Error_CannotUnderstand;
    }
    std::error_code ec;
    fs::remove(file, ec);
    try {
      std::unique_ptr<DcmDataset> sc = secondary_capture(ds, out[0]), sr = structured_report(ds, out[0]);
      send({sc.get(), sr.get()});
    } catch (const std::exception& e) {
      log_.error("dicom-node: object {} ({}): results not delivered to {}@{}:{}, status 0xA700: {}", id, tag, dest_.ae,
                 dest_.host, dest_.port, e.what());
      return STATUS_STORE_Refused_OutOfResources;
    }
    const json& j = out[0].json;
    log_.info("dicom-node: object {} ({}): p={} {}, {} boxes; overlay and SR sent to {}", id, tag,
              j.at("probability").is_number() ? std::to_string(j.at("probability").get<double>()) : "-",
              j.at("triage").is_string() ? j.at("triage").get<std::string>() : "-", j.at("boxes").size(), dest_.ae);
    return STATUS_Success;
  }

  void send(const std::vector<DcmDataset*>& objects) {
    DcmStorageSCU scu;
    scu.setAETitle(cfg_.str("ae_title").c_str());
    scu.setPeerHostName(dest_.host.c_str());
    scu.setPeerPort(Uint16(dest_.port));
    scu.setPeerAETitle(dest_.ae.c_str());
    scu.setACSETimeout(Uint32(cfg_.integer("dicom_timeout")));
    scu.setDIMSETimeout(Uint32(cfg_.integer("dicom_timeout")));
    for (DcmDataset* d : objects) {
      const OFCondition c = scu.addDataset(d, EXS_LittleEndianExplicit, DcmStorageSCU::HM_doNothing);
      FRACTURE_CHECK(c.good(), "cannot queue a result: ", c.text());
    }
    OFCondition c = scu.addPresentationContexts();
    if (c.good()) c = scu.initNetwork();
    if (c.good()) c = scu.negotiateAssociation();
    FRACTURE_CHECK(c.good(), "association with ", dest_.ae, "@", dest_.host, ":", dest_.port, " failed: ", c.text());
    c = scu.sendSOPInstances();
    scu.releaseAssociation();
    FRACTURE_CHECK(c.good(), "C-STORE failed: ", c.text());
    FRACTURE_CHECK(scu.getNumberOfSOPInstancesToBeSent() == 0, scu.getNumberOfSOPInstancesToBeSent(),
                   " result(s) not accepted by ", dest_.ae);
  }

  const Config& cfg_;
  Logger& log_;
  const engine::Predictor& predictor_;
  fs::path tmp_;
  Dest dest_;
  std::vector<std::string> allowed_;
  long max_ = 0, associations_ = 0, received_ = 0;
};

}  // namespace

int run_dicom_node(const Config& cfg, Logger& log) {
  const std::string ae = cfg.str("ae_title");
  FRACTURE_CHECK(!ae.empty() && ae.size() <= 16, "key 'ae_title': expected 1 to 16 characters, got '", ae, "'");
  parse_dest(cfg.str("dest"));  // checked before the model loads
  const engine::Predictor predictor(cfg, log);
  std::string tmpl = (fs::temp_directory_path() / "fracture-dicom-XXXXXX").string();
  FRACTURE_CHECK(::mkdtemp(tmpl.data()), "dicom-node: cannot make a private folder like ", tmpl);
  const fs::path tmp = tmpl;

  Node node(cfg, log, predictor, tmp);
  DcmSCPConfig& c = node.getConfig();
  c.setAETitle(ae.c_str());
  c.setPort(Uint16(cfg.integer("dicom_port")));
  c.setConnectionBlockingMode(DUL_NOBLOCK);  // wakes every second to see a signal or max_associations
  c.setConnectionTimeout(1);
  c.setACSETimeout(Uint32(cfg.integer("dicom_timeout")));
  c.setDIMSETimeout(Uint32(cfg.integer("dicom_timeout")));
  c.setHostLookupEnabled(OFFalse);
  OFList<OFString> xfers;
  xfers.push_back(UID_LittleEndianExplicitTransferSyntax);
  xfers.push_back(UID_BigEndianExplicitTransferSyntax);
  xfers.push_back(UID_LittleEndianImplicitTransferSyntax);
  for (const char* sop : {UID_VerificationSOPClass, UID_ComputedRadiographyImageStorage,
                          UID_DigitalXRayImageStorageForPresentation, UID_DigitalXRayImageStorageForProcessing,
                          UID_SecondaryCaptureImageStorage})
    FRACTURE_CHECK(c.addPresentationContext(sop, xfers).good(), "dicom-node: cannot accept ", sop);
  catch_stop_signals();
  log.info("dicom-node: {} as AE {} on port {}, results to {}; {}", predictor.summary(), ae, cfg.integer("dicom_port"),
           cfg.str("dest"), cfg.is_null("allowed_calling") ? "any calling AE" : "calling AEs " + cfg.str("allowed_calling"));
  std::printf("dicom-node: listening as %s on port %lld\n", ae.c_str(), cfg.integer("dicom_port"));
  std::fflush(stdout);
  const OFCondition r = node.listen();
  std::error_code ec;
  fs::remove_all(tmp, ec);
  log.info("dicom-node: stopped ({}) after {} associations", stop_signal() != 0 ? "signal" : "max_associations",
           node.associations());
  FRACTURE_CHECK(r.good() || stop_signal() != 0 || node.associations() > 0, "dicom-node: cannot listen on port ",
                 cfg.integer("dicom_port"), ": ", r.text());
  return 0;
}

}  // namespace fracture::serve
