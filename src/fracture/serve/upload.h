// The body of POST /v1/predict, from cpp-httplib's parsed request to an image the predictor may
// read, with the service's answer when it may not. Separate from http.cpp so that the fuzz target
// (tests/fuzz/targets/http_request.cpp) drives the same checks through httplib's request parser.
//
//   fracture::serve::Upload u = fracture::serve::read_upload(req);   // req: the httplib::Request
//   if (!u.ok()) std::printf("%d %s (%s)\n", u.status, u.error.c_str(), u.kind.c_str());
//   std::string refused = fracture::serve::over_upload_limit(req, 64 << 20);   // "" when within
//   std::string body = fracture::serve::error_body(413, refused);   // {"error": "...", "status": 413}
#pragma once
#include <cstddef>
#include <string>

namespace httplib {
struct Request;
}

namespace fracture::serve {

struct Upload {
  int status = 200;             ///< 200, or the HTTP status of the refusal (400, 415)
  std::string kind;             ///< error counter name (bad_multipart, path_like_name, empty_body, ...)
  std::string error;            ///< the refusal's message for the client
  std::string name = "upload";  ///< the client's file name (multipart filename), else "upload"
  std::string body;             ///< the file's bytes
  std::string ext;              ///< the type sniffed from the first bytes: .png .jpg .tif .bmp .dcm
  std::string log_tag;          ///< what the log may say: "sop-uid <hash>" (DICOM) or "bytes <hash>"
  bool ok() const { return status == 200; }
};

/// The raw body, or the multipart part named "file" (its filename must be a plain name: no folder,
/// "..", control characters or over 255 bytes). Refuses an empty body and one that is not a PNG,
/// JPEG, TIFF, BMP or DICOM Part 10 file (sniffed from its first bytes, not its name).
Upload read_upload(const httplib::Request& req);

/// The message of a 413 when the request declares (Content-Length) more than `max_bytes`; "" else.
/// Checked before the body is read.
std::string over_upload_limit(const httplib::Request& req, size_t max_bytes);

/// The JSON body of every error answer, {"error": msg, "status": N} and a newline. Invalid UTF-8 in
/// msg (a client's file name or header quoted in it) becomes U+FFFD instead of an exception.
std::string error_body(int status, const std::string& msg);

/// The file type from its first bytes as data/image.h sniff_format sees it (BigTIFF included), as the
/// extension the image reader dispatches on; "" for anything else (GIF and WebP too).
std::string sniff_upload(const std::string& bytes);

}  // namespace fracture::serve
