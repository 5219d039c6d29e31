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
  auto tensors = models::read_checkpoint(path);
  auto guess = models::recognise_architecture(tensors);
  int64_t elements = 0, param_elements = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> by_dtype;  // dtype -> (tensors, elements)
  for (auto& kv : tensors) {
    const std::string& k = kv.first;
    bool buffer = k.size() > 13 && (k.find("running_mean") != std::string::npos ||
                                    k.find("running_var") != std::string::npos ||
                                    k.find("num_batches_tracked") != std::string::npos);
    elements += kv.second.numel();
    if (!buffer) param_elements += kv.second.numel();
    auto& d = by_dtype[std::string(c10::toString(kv.second.scalar_type()))];
    d.first += 1;
    d.second += kv.second.numel();
  }
  std::printf("file:         %s\n", path.string().c_str());
  if (guess.arch.empty()) {
    std::printf("architecture: not recognised (not resnet18, mobilenet_v3_small or efficientnet_b0)\n");
  } else {
    std::printf("architecture: %s (%lld classes, %lld input channel%s)\n", guess.arch.c_str(),
                (long long)guess.num_classes, (long long)guess.in_channels, guess.in_channels == 1 ? "" : "s");
  }
  std::printf("tensors:      %zu\n", tensors.size());
  std::printf("parameters:   %lld (excluding BatchNorm running statistics; %lld elements in all)\n",
              (long long)param_elements, (long long)elements);
  for (auto& d : by_dtype) {
    std::printf("dtype %-8s %lld tensors, %lld elements\n", d.first.c_str(), (long long)d.second.first,
                (long long)d.second.second);
  }
  if (!tensors.empty()) {
    std::printf("first key:    %s\nlast key:     %s\n", tensors.front().first.c_str(), tensors.back().first.c_str());
  }
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
