// serve/http.h in a build without FRACTURE_WITH_SERVE (cpp-httplib).
#include "fracture/core/error.h"
#include "fracture/serve/http.h"

namespace fracture::serve {

int run_http(const Config&, Logger&) {
  FRACTURE_FAIL("fracture serve: this fracture was built without FRACTURE_WITH_SERVE (cpp-httplib, Debian's "
                "libcpp-httplib-dev); rebuild with it");
}

}  // namespace fracture::serve
