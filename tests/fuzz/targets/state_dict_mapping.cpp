// Fuzz target: mapping a state dict onto our modules (models/weights/state_dict.cpp): torchvision
// ResNet18 / MobileNetV3-Small / EfficientNet-B0 keys onto the classifiers (1-class head, grey stem)
// and Ultralytics YOLOv8n keys onto the detector (another nc), plus recognise_architecture. Random
// bytes almost never form a real state dict, so the input is a list of edits to the model's own
// key list: drop, duplicate, rename, reshape, retype, prefix ("module.", "model."), 3-channel stem.
// Tensors are one value expanded to the shape (no large allocations). Checks: refusals name the
// source; a refused load leaves every parameter and buffer as it was (nothing half-loaded).
#include <torch/torch.h>

#include "../fuzz_util.h"
#include "fracture/models/classifier.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/yolov8.h"

using namespace fracture::models;

namespace {

struct Target {
  std::shared_ptr<torch::nn::Module> module;
  ClassifierImpl* classifier = nullptr;  // else the detector
  NamedTensors keys;                     // its own state dict: the starting point of the edits
};

std::vector<Target>& targets() {
  static std::vector<Target> t = [] {
    torch::manual_seed(0);
    std::vector<Target> v;
    for (const char* name : {"resnet18", "mobilenet_v3_small", "efficientnet_b0"}) {
      ClassifierOptions o;
      o.num_classes = 1;
      o.in_channels = 1;
      Classifier c = make_classifier(name, o);
      v.push_back({c, c.get(), state_dict(*c)});
    }
    YoloV8Options yo;
    yo.nc = 3;
    YoloV8 y(yo);
    // the keys of an 80-class file (Ultralytics' COCO weights) so the head edits are exercised
    YoloV8Options coco;
    coco.nc = 80;
    v.push_back({y.ptr(), nullptr, state_dict(*YoloV8(coco))});
    return v;
  }();
  return t;
}

// The first and last element of every parameter and buffer: a copy into any of them changes it
// (the loaded value is one number per input, unlike the module's initialisation).
std::vector<double> fingerprint(const torch::nn::Module& m) {
  std::vector<double> f;
  for (const auto& [k, t] : state_dict(m)) {
    if (t.numel() == 0) continue;
    const torch::Tensor flat = t.reshape({-1});
    f.push_back(flat[0].item<double>());
    f.push_back(flat[-1].item<double>());
  }
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  torch::NoGradGuard no_grad;
  Target& tg = targets()[data[0] % targets().size()];
  const bool strict = data[1] & 1;
  const float value = float(data[1]) / 7.0f;
  std::vector<std::tuple<std::string, std::vector<int64_t>, torch::ScalarType>> keys;
  for (const auto& [k, t] : tg.keys) keys.emplace_back(k, t.sizes().vec(), t.scalar_type());
  const torch::ScalarType dtypes[] = {torch::kFloat, torch::kDouble, torch::kHalf, torch::kLong, torch::kBool};
  for (size_t i = 2; i + 2 < size && !keys.empty(); i += 3) {
    const size_t k = (size_t(data[i + 1]) << 8 | data[i + 2]) % keys.size();
    auto& [name, shape, dtype] = keys[k];
    switch (data[i] % 9) {
      case 0: keys.erase(keys.begin() + long(k)); break;
      case 1: keys.push_back(keys[k]); break;
      case 2: if (!name.empty()) name[data[i + 2] % name.size()] ^= char(1 + data[i + 1] % 32); break;
      case 3: if (!shape.empty()) shape[data[i + 1] % shape.size()] = data[i + 2] % 5; break;
      case 4: shape.push_back(1 + data[i + 2] % 3); break;
      case 5: dtype = dtypes[data[i + 2] % 5]; break;
      case 6: for (auto& kk : keys) std::get<0>(kk) = "module." + std::get<0>(kk); break;
      case 7: for (auto& kk : keys) std::get<0>(kk) = "model." + std::get<0>(kk); break;
      case 8: if (shape.size() == 4 && shape[1] == 1) shape[1] = 3; break;
    }
  }
  NamedTensors t;
  for (const auto& [name, shape, dtype] : keys) {
    if (shape.size() > 6) continue;
    t.emplace_back(name, torch::full({}, value, torch::TensorOptions().dtype(dtype)).expand(shape));
  }
  (void)recognise_architecture(t);
  const std::vector<double> before = fingerprint(*tg.module);
  const bool loaded = fuzz::refused_naming("fuzz-source", [&] {
    if (tg.classifier) {
      load_state_dict(*tg.classifier, t, "fuzz-source", strict);
    } else {
      LoadOptions o;
      o.head_prefix = "model.22.cv3.";
      o.strict = strict;
      o.source = "fuzz-source";
      load_state_dict(*tg.module, t, o);
    }
  });
  if (!loaded && fingerprint(*tg.module) != before) fuzz::fail("a refused load changed the module's weights");
  return 0;
}
