// `fracture serve`: parse and dispatch to serve/http.h.
#include "fracture/cli/commands.h"
#include "fracture/serve/http.h"

namespace fracture::cli {

int cmd_serve(const Config& cfg, Logger& log) { return serve::run_http(cfg, log); }

}  // namespace fracture::cli
