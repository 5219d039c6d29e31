// Weight files: torchvision `torch.save` checkpoints (.pth/.pt, zip + pickle) and safetensors,
// read into an ordered list of named tensors, loaded into a module with a checked report, written back.
//
//   auto tensors = fracture::models::read_checkpoint("resnet18-f37072fd.pth");  // by extension
//   auto net = fracture::models::make_classifier("resnet18", {.num_classes = 1});
//   auto report = fracture::models::load_state_dict(*net, tensors);   // fc.* re-initialised (1000 -> 1)
//   fracture::models::save_safetensors(*net, "model.safetensors");    // torchvision-loadable keys
#pragma once
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace fracture::models {

class ClassifierImpl;

/// Ordered (key, tensor) pairs in file / state-dict order. Tensors are CPU; strides and storage
/// offsets of the file are honoured (views of one storage stay views).
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// Reads a torch.save zip archive whose pickle is a dict / OrderedDict of tensors (a state dict,
/// optionally nested one level under "state_dict" or "model"), with our own unpickler for the subset
/// those files use. Throws fracture::Error naming the file for a truncated archive, an unsupported
/// pickle opcode or global, or a storage of an unknown dtype.
NamedTensors read_torch_checkpoint(const std::filesystem::path& path);

/// Writes tensors as a torch.save-compatible zip archive (protocol-2 pickle of an OrderedDict);
/// torch.load reads it back. Atomic.
void write_torch_checkpoint(const NamedTensors& tensors, const std::filesystem::path& path);

/// Reads a safetensors file (F64/F32/F16/BF16/I64/I32/I16/I8/U8/BOOL), keys in header order.
NamedTensors read_safetensors(const std::filesystem::path& path);

/// Writes a safetensors file, keys in the given order, __metadata__ {"format": "pt"}. Atomic.
void write_safetensors(const NamedTensors& tensors, const std::filesystem::path& path);

/// Dispatch on the extension: .safetensors, else (.pth, .pt, .bin, .ckpt) torch.save.
NamedTensors read_checkpoint(const std::filesystem::path& path);
void write_checkpoint(const NamedTensors& tensors, const std::filesystem::path& path);

/// A module's parameters and buffers in state-dict order (torchvision key names).
NamedTensors state_dict(const torch::nn::Module& m);

/// Writes a module's state dict as safetensors (same keys, torchvision loads it back).
void save_safetensors(const torch::nn::Module& m, const std::filesystem::path& path);

struct LoadOptions {
  std::string head_prefix;        ///< keys under it may differ in shape: they keep the module's init
  std::string first_conv_key;     ///< when set, a 3-channel weight here is summed to a 1-channel stem
  bool strict = true;             ///< refuse missing (non-head) or unexpected keys
  double min_matched_fraction = 0.5;  ///< below this fraction of module keys matched: another architecture
  std::string source = "checkpoint";  ///< file name for messages
};

struct LoadReport {
  std::vector<std::string> loaded;          ///< copied from the checkpoint
  std::vector<std::string> reinitialised;   ///< head keys whose shape differed: module init kept
  std::vector<std::string> adapted;         ///< first conv summed from 3 to 1 input channel
  std::vector<std::string> missing;         ///< module keys absent from the checkpoint
  std::vector<std::string> unexpected;      ///< checkpoint keys the module does not have
  std::vector<std::string> shape_mismatch;  ///< non-head keys of another shape ("key: file [..] vs model [..]")
  std::string summary() const;
};

/// Validates every key first, then copies: nothing is half-loaded. Throws fracture::Error listing
/// the offending keys when the checkpoint is of another architecture, a non-head shape differs, or
/// (strict) keys are missing / unexpected. `num_batches_tracked` may be missing (older files).
LoadReport load_state_dict(torch::nn::Module& m, const NamedTensors& tensors, const LoadOptions& options);
/// Same, taking head prefix and first conv key from the classifier.
LoadReport load_state_dict(ClassifierImpl& net, const NamedTensors& tensors, const std::string& source = "checkpoint",
                           bool strict = true);

/// Architecture recognised by key set and shapes ("resnet18", "mobilenet_v3_small",
/// "efficientnet_b0"; "" when none), and the number of head classes found.
struct ArchGuess {
  std::string arch;
  int64_t num_classes = 0;
  int64_t in_channels = 0;
};
ArchGuess recognise_architecture(const NamedTensors& tensors);

/// `fracture weights inspect`'s text: file, recognised architecture, tensor and parameter counts
/// (BatchNorm running statistics apart), counts per dtype, first and last key.
std::string describe_checkpoint(const std::filesystem::path& path, const NamedTensors& tensors);

}  // namespace fracture::models
