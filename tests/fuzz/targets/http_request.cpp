// Fuzz target: a whole HTTP request to the service, as bytes from a client: cpp-httplib's request
// parser (request line, headers, Content-Length, chunked transfer, multipart/form-data) in front of
// our upload checks (serve/upload.h: the 413 before the body, the "file" part, plain file names,
// the sniffed type, the DICOM UID hash) and the image decoder the predictor would run. The model
// itself is not run (its input is a decoded image, which the image target covers). Checks: no
// crash, leak or UB; every response has a status of 200, 400, 404, 405, 408, 413, 414, 415, 422 or
// 431, and a refused upload's body is the service's JSON error.
#include <httplib.h>

#include "../fuzz_util.h"
#include "fracture/data/image.h"
#include "fracture/serve/upload.h"

namespace {

constexpr size_t kMaxUpload = 1 << 20;

// The input as a connection: reads come from it, writes go to `out`.
class InputStream : public httplib::Stream {
 public:
  InputStream(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t n) override {
    n = std::min(n, size_ - pos_);
    std::memcpy(ptr, data_ + pos_, n);
    pos_ += n;
    return ssize_t(n);
  }
  ssize_t write(const char* ptr, size_t n) override {
    out.append(ptr, n);
    return ssize_t(n);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { ip = "127.0.0.1", port = 40000; }
  void get_local_ip_and_port(std::string& ip, int& port) const override { ip = "127.0.0.1", port = 8080; }
  socket_t socket() const override { return 0; }
  std::string out;

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
};

void json_error(httplib::Response& res, int status, const std::string& msg) {
  res.status = status;
  res.set_content(fracture::serve::error_body(status, msg), "application/json");
}

// The service's routes and limits (serve/http.cpp run_http) with the prediction replaced by decoding.
class Service : public httplib::Server {
 public:
  Service() {
    set_payload_max_length(kMaxUpload);
    set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      const std::string refused = fracture::serve::over_upload_limit(req, kMaxUpload);
      if (refused.empty()) return HandlerResponse::Unhandled;
      json_error(res, 413, refused);
      return HandlerResponse::Handled;
    });
    Post("/v1/predict", [](const httplib::Request& req, httplib::Response& res) {
      fracture::serve::Upload u = fracture::serve::read_upload(req);
      if (!u.ok()) return json_error(res, u.status, u.error);
      fracture::ReadOptions opt;
      opt.max_pixels = 4'000'000;
      try {
        fracture::Image im = fracture::decode_image(u.body, u.name, opt);
        res.set_content("{\"rows\": " + std::to_string(im.pixels.rows) + "}\n", "application/json");
      } catch (const fracture::Error& e) {
        json_error(res, 422, e.what());
      }
    });
    Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("{}", "application/json"); });
  }
  int serve(InputStream& in) {
    bool closed = false;
    process_request(in, true, closed, nullptr);
    return 0;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Service svc;
  InputStream in(data, size);
  svc.serve(in);
  if (in.out.empty()) return 0;  // the parser gave up before a response (connection dropped)
  if (in.out.rfind("HTTP/1.1 ", 0) != 0 || in.out.size() < 12) fuzz::fail("a response without a status line");
  const int status = std::atoi(in.out.substr(9, 3).c_str());
  static const int allowed[] = {200, 400, 404, 405, 408, 413, 414, 415, 422, 431};
  if (std::find(std::begin(allowed), std::end(allowed), status) == std::end(allowed))
    fuzz::fail("unexpected HTTP status " + std::to_string(status));
  return 0;
}
