// `fracture serve` and `fracture dicom-node`: dispatch to serve/http.h and serve/dicom_node.h.
#include "fracture/cli/commands.h"
#include "fracture/serve/dicom_node.h"
#include "fracture/serve/http.h"

namespace fracture::cli {

int cmd_serve(const Config& cfg, Logger& log) { return serve::run_http(cfg, log); }
int cmd_dicom_node(const Config& cfg, Logger& log) { return serve::run_dicom_node(cfg, log); }

}  // namespace fracture::cli
