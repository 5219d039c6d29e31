// serve/http.h in a build without FRACTURE_WITH_SERVE (cpp-httplib).
#include "fracture/core/error.h"
#include "fracture/serve/http.h"
#include "fracture/serve/upload.h"

namespace fracture::serve {

int run_http(const Config&, Logger&) {
  FRACTURE_FAIL("fracture serve: this fracture was built without FRACTURE_WITH_SERVE (cpp-httplib, Debian's "
                "libcpp-httplib-dev); rebuild with it");
}

namespace {
[[noreturn]] void off() {
  FRACTURE_FAIL("the HTTP upload checks: this fracture was built without FRACTURE_WITH_SERVE; rebuild with it");
}
}  // namespace

Upload read_upload(const httplib::Request&) { off(); }
std::string over_upload_limit(const httplib::Request&, size_t) { off(); }
std::string sniff_upload(const std::string&) { off(); }
std::string error_body(int, const std::string&) { off(); }

}  // namespace fracture::serve
