// Fuzz target: torch.save zip checkpoints (models/weights/torch_pickle.cpp): the zip container
// (libtorch's PyTorchStreamReader), our unpickler of the state-dict subset (opcodes, memo,
// persistent ids, _rebuild_tensor_v2 arguments, nesting under state_dict / model) and the storages.
// Checks: refusals name the file; what was read survives our torch.save writer and reader unchanged.
#include "weights_common.h"

namespace fs = std::filesystem;
using namespace fracture::models;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path d = fuzz::scratch("torch_checkpoint");
  fuzz::write(d / "in.pt", data, size);
  NamedTensors t;
  if (!fuzz::refused_naming("in.pt", [&] { t = read_torch_checkpoint(d / "in.pt"); })) return 0;
  (void)recognise_architecture(t);
  write_torch_checkpoint(t, d / "out.pt");
  fuzz::same_tensors(t, read_torch_checkpoint(d / "out.pt"), "torch checkpoint");
  return 0;
}
