#include "fracture/cli/commands.h"
#include "fracture/core/error.h"

namespace fracture::cli {

int cmd_check(const Config&, Logger&) { throw NotAvailable("fracture check: not built yet"); }

}  // namespace fracture::cli
