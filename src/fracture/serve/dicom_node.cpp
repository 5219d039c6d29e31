#include "fracture/serve/dicom_node.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/dstorscu.h>
#include <dcmtk/dcmnet/scp.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/engine/predictor.h"
#include "fracture/serve/common.h"
#include "fracture/serve/dicom_results.h"

namespace fracture::serve {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

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
    const long id = ++received_;
    // The dataset goes to a file as it arrives, unparsed: parsed in memory, DCMTK would allocate
    // whatever length an element claims before its bytes came (gigabytes from a few bytes).
    const fs::path file = tmp_ / (std::to_string(id) + ".dcm");
    OFCondition c = receiveSTORERequest(req, info.presentationContextID, OFString(file.c_str()));
    const Uint16 status = c.good() ? process(id, file) : 0;
    std::error_code ec;
    fs::remove(file, ec);
    return c.good() ? sendSTOREResponse(info.presentationContextID, req, status) : c;
  }

 private:
  bool stop() const { return stop_signal() != 0 || (max_ > 0 && associations_ >= max_); }

  // Predict, build the two results, send them. Returns the C-STORE status for the sender.
  Uint16 process(long id, const fs::path& file) {
    std::unique_ptr<DcmFileFormat> ff;
    std::string tag = "unreadable";
    std::vector<engine::ImagePrediction> out;
    try {
      ff = load_received(file);
      tag = received_object_tag(*ff->getDataset());
      out = predictor_.predict({ClsItem{file, 0, "", ""}});
    } catch (const std::exception& e) {
      log_.warn("dicom-node: object {} ({}): not predicted, status 0xC000: {}", id, tag,
                with_path_as(e.what(), file.string(), "object").substr(0, 200));
      return STATUS_STORE_Error_CannotUnderstand;
    }
    DcmDataset& ds = *ff->getDataset();
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
