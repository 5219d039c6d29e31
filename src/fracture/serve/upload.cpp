#include "fracture/serve/upload.h"

#include <httplib.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "fracture/data/dicom.h"
#include "fracture/data/image.h"
#include "fracture/serve/common.h"

namespace fracture::serve {

namespace {

// A multipart file name a client may give: a plain name (no folder, no "..", printable).
bool plain_name(const std::string& n) {
  if (n.empty() || n.size() > 255 || n == "." || n == ".." || n.find("..") != std::string::npos) return false;
  for (unsigned char c : n)
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == ':') return false;
  return true;
}

Upload refuse(int status, const char* kind, const std::string& error) {
  Upload u;
  u.status = status;
  u.kind = kind;
  u.error = error;
  return u;
}

}  // namespace

std::string error_body(int status, const std::string& msg) {
  const nlohmann::json j = {{"error", msg}, {"status", status}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string sniff_upload(const std::string& b) {
  // the formats `fracture predict` reads, recognised as it recognises them (data/image.h);
  // GIF and WebP, which the sniffer also knows, are not radiograph formats we decode
  const std::string fmt = sniff_format(b);
  if (fmt == "png") return ".png";
  if (fmt == "jpeg") return ".jpg";
  if (fmt == "tiff") return ".tif";
  if (fmt == "bmp") return ".bmp";
  if (fmt == "dicom") return ".dcm";
  return "";
}

Upload read_upload(const httplib::Request& req) {
  Upload u;
  if (req.is_multipart_form_data()) {
    if (!req.has_file("file")) return refuse(400, "bad_multipart", "multipart body without a part named \"file\"");
    const httplib::MultipartFormData f = req.get_file_value("file");
    if (!f.filename.empty()) {
      if (!plain_name(f.filename))
        return refuse(400, "path_like_name",
                      "multipart file name must be a plain name (no folders, '..' or control characters)");
      u.name = f.filename;
    }
    u.body = f.content;
  } else {
    u.body = req.body;
  }
  if (u.body.empty()) return refuse(400, "empty_body", "empty body: expected a PNG, JPEG, TIFF, BMP or DICOM file");
  u.ext = sniff_upload(u.body);
  if (u.ext.empty())
    return refuse(415, "unsupported_media_type", "the body is not a PNG, JPEG, TIFF, BMP or DICOM Part 10 file");
  u.log_tag = "bytes " + log_hash(u.body);
  if (u.ext == ".dcm") {
    try {
      const std::string uid = dicom_instance_uid(u.body, "upload");
      if (!uid.empty()) u.log_tag = "sop-uid " + log_hash(uid);
    } catch (const std::exception&) {  // unreadable DICOM: the predictor's error answers it (422)
    }
  }
  return u;
}

std::string over_upload_limit(const httplib::Request& req, size_t max_bytes) {
  const std::string cl = req.get_header_value("Content-Length");
  const unsigned long long n = cl.empty() ? 0 : std::strtoull(cl.c_str(), nullptr, 10);
  if (n <= max_bytes) return "";
  // the number as parsed, not the header's bytes (which may be anything)
  return "upload of " + std::to_string(n) + " bytes is over the limit of " + std::to_string(max_bytes) +
         " bytes (key max_upload_mb)";
}

}  // namespace fracture::serve
