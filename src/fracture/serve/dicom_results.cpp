#include "fracture/serve/dicom_results.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "fracture/core/error.h"
#include "fracture/serve/common.h"

namespace fracture::serve {

namespace {

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

// The patient and study attributes a result must carry to be filed with the original's study.
const DcmTagKey kCopied[] = {DCM_PatientName,  DCM_PatientID,       DCM_PatientBirthDate,      DCM_PatientSex,
                             DCM_StudyDate,    DCM_StudyTime,       DCM_StudyID,               DCM_AccessionNumber,
                             DCM_StudyDescription, DCM_ReferringPhysicianName};

void put(DcmItem& ds, const DcmTagKey& k, const std::string& v) {
  const OFCondition c = ds.putAndInsertString(k, v.c_str());
  FRACTURE_CHECK(c.good(), "dicom-node: cannot set ", DcmTag(k).getTagName(), ": ", c.text());
}

DSRCodedEntryValue code(const char* value, const char* meaning) { return DSRCodedEntryValue(value, "99FRACTURE", meaning); }

}  // namespace

std::unique_ptr<DcmFileFormat> load_received(const std::filesystem::path& file) {
  auto ff = std::make_unique<DcmFileFormat>();
  const OFCondition c = ff->loadFile(file.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_fileOnly);
  FRACTURE_CHECK(c.good(), "the received object is not readable DICOM: ", c.text());
  return ff;
}

std::string received_object_tag(DcmDataset& ds) { return "sop-uid " + log_hash(get(ds, DCM_SOPInstanceUID)); }

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

}  // namespace fracture::serve
