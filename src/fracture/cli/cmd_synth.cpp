#include "fracture/cli/commands.h"
#include "fracture/core/error.h"

namespace fracture::cli {

int cmd_synth(const Config&, Logger&) { throw NotAvailable("fracture synth: generator not built yet"); }

}  // namespace fracture::cli
