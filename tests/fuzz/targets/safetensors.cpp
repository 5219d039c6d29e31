// Fuzz target: safetensors files (models/weights/safetensors.cpp): the 8-byte header length, the
// JSON header (dtypes, shapes, data_offsets, __metadata__) and the byte buffer. Checks: refusals
// name the file; what was read is recognised or not without error, and survives our writer and
// reader unchanged.
#include "weights_common.h"

namespace fs = std::filesystem;
using namespace fracture::models;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path d = fuzz::scratch("safetensors");
  fuzz::write(d / "in.safetensors", data, size);
  NamedTensors t;
  if (!fuzz::refused_naming("in.safetensors", [&] { t = read_safetensors(d / "in.safetensors"); })) return 0;
  (void)recognise_architecture(t);
  (void)describe_checkpoint(d / "in.safetensors", t);
  write_safetensors(t, d / "out.safetensors");
  fuzz::same_tensors(t, read_safetensors(d / "out.safetensors"), "safetensors");
  return 0;
}
