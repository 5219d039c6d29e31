// fracture weights inspect file=PATH
//   Prints the recognised architecture (by key set and shapes), tensor and parameter counts, dtypes.
// fracture weights convert file=IN out=OUT
//   Converts between torchvision .pth/.pt (torch.save) and .safetensors, by extension, keys in order.
#include <cstdio>
#include <map>

#include "fracture/cli/commands.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/models/weights/checkpoint.h"

namespace fracture::cli {

namespace {
std::filesystem::path required_file(const Config& cfg, const char* usage) {
  FRACTURE_CHECK(!cfg.is_null("file") && !cfg.str("file").empty(), usage, ": key 'file' is required (file=PATH)");
  return cfg.str("file");
}
}  // namespace

int cmd_weights_inspect(const Config& cfg, Logger& log) {
  const auto path = required_file(cfg, "fracture weights inspect");
  std::fputs(models::describe_checkpoint(path, models::read_checkpoint(path)).c_str(), stdout);
  std::fflush(stdout);
  log.debug("inspected {}", path.string());
  return 0;
}

int cmd_weights_convert(const Config& cfg, Logger& log) {
  const auto in = required_file(cfg, "fracture weights convert");
  const std::filesystem::path out = cfg.str("out");
  const std::string ext = lower_ext(out);
  FRACTURE_CHECK(ext == ".safetensors" || ext == ".pth" || ext == ".pt",
                 "fracture weights convert: key 'out' must name a .safetensors, .pth or .pt file, got '",
                 out.string(), "'");
  FRACTURE_CHECK(std::filesystem::absolute(in) != std::filesystem::absolute(out),
                 "fracture weights convert: 'out' must differ from 'file'");
  auto tensors = models::read_checkpoint(in);
  models::write_checkpoint(tensors, out);
  log.info("wrote {} tensors to {}", tensors.size(), out.string());
  return 0;
}

}  // namespace fracture::cli
