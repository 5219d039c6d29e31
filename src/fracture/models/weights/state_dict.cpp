// State dicts: a module's tensors by key, the checked loading of a file's tensors into a module,
// the dispatch on file extension, and recognising an architecture from its keys.
#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <set>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/models/classifier.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/weights/shape_str.h"

namespace fracture::models {

namespace {

using detail::shape_str;

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

void collect_state(const torch::nn::Module& m, const std::string& prefix, NamedTensors& out) {
  for (auto& p : m.named_parameters(/*recurse=*/false)) out.emplace_back(prefix + p.key(), p.value());
  for (auto& b : m.named_buffers(/*recurse=*/false)) out.emplace_back(prefix + b.key(), b.value());
  for (auto& c : m.named_children()) collect_state(*c.value(), prefix + c.key() + ".", out);
}

std::string join_some(const std::vector<std::string>& v, size_t n = 8) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < n; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > n) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}


}  // namespace

NamedTensors read_checkpoint(const std::filesystem::path& path) {
  if (lower_ext(path) == ".safetensors") return read_safetensors(path);
  return read_torch_checkpoint(path);
}

void write_checkpoint(const NamedTensors& tensors, const std::filesystem::path& path) {
  std::string ext = lower_ext(path);
  if (ext == ".safetensors") return write_safetensors(tensors, path);
  FRACTURE_CHECK(ext == ".pth" || ext == ".pt", path.string(), ": output must end in .safetensors, .pth or .pt");
  write_torch_checkpoint(tensors, path);
}

NamedTensors state_dict(const torch::nn::Module& m) {
  NamedTensors out;
  collect_state(m, "", out);
  return out;
}

void save_safetensors(const torch::nn::Module& m, const std::filesystem::path& path) {
  write_safetensors(state_dict(m), path);
}

std::string LoadReport::summary() const {
  std::string s = std::to_string(loaded.size()) + " tensors loaded";
  if (!adapted.empty()) s += "; first conv summed to 1 channel: " + join_some(adapted);
  if (!reinitialised.empty()) s += "; re-initialised (head shape differs): " + join_some(reinitialised);
  if (!missing.empty()) s += "; missing: " + join_some(missing);
  if (!unexpected.empty()) s += "; unexpected: " + join_some(unexpected);
  return s;
}

LoadReport load_state_dict(torch::nn::Module& m, const NamedTensors& tensors, const LoadOptions& o) {
  NamedTensors target = state_dict(m);
  std::unordered_map<std::string, size_t> source;
  for (size_t i = 0; i < tensors.size(); ++i) source[tensors[i].first] = i;
  std::set<std::string> target_keys;
  LoadReport r;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> plan;  // (destination, source)
  std::vector<std::string> fatal_missing, bad_dtype;
  for (auto& kv : target) {
    const std::string& key = kv.first;
    target_keys.insert(key);
    auto it = source.find(key);
    if (it == source.end()) {
      r.missing.push_back(key);
      if (!ends_with(key, "num_batches_tracked")) fatal_missing.push_back(key);
      continue;
    }
    torch::Tensor src = tensors[it->second].second;
    const torch::Tensor& dst = kv.second;
    if (dst.is_floating_point() != src.is_floating_point()) {
      bad_dtype.push_back(key + " (file " + std::string(c10::toString(src.scalar_type())) + ", model " +
                          c10::toString(dst.scalar_type()) + ")");
      continue;
    }
    if (src.sizes() == dst.sizes()) {
      plan.emplace_back(dst, src);
      r.loaded.push_back(key);
    } else if (!o.first_conv_key.empty() && key == o.first_conv_key && src.dim() == 4 && dst.dim() == 4 &&
               src.size(1) == 3 && dst.size(1) == 1 && src.size(0) == dst.size(0) && src.size(2) == dst.size(2) &&
               src.size(3) == dst.size(3)) {
      // an RGB first conv (out, 3, kh, kw) for a grayscale model (out, 1, kh, kw): only the channel dim may differ
      plan.emplace_back(dst, adapt_first_conv_weight(src, 1));
      r.loaded.push_back(key);
      r.adapted.push_back(key);
    } else if (!o.head_prefix.empty() && starts_with(key, o.head_prefix)) {
      r.reinitialised.push_back(key + " (file " + shape_str(src.sizes()) + ", model " + shape_str(dst.sizes()) + ")");
    } else {
      r.shape_mismatch.push_back(key + ": file " + shape_str(src.sizes()) + " vs model " + shape_str(dst.sizes()));
    }
  }
  for (auto& kv : tensors) {
    if (!target_keys.count(kv.first)) r.unexpected.push_back(kv.first);
  }
  const size_t need = static_cast<size_t>(o.min_matched_fraction * static_cast<double>(target.size()));
  FRACTURE_CHECK(r.loaded.size() >= need, o.source, ": checkpoint does not fit this architecture: only ",
                 r.loaded.size(), " of ", target.size(), " model tensors matched by name and shape (missing: ",
                 join_some(r.missing, 4), "; unexpected: ", join_some(r.unexpected, 4),
                 "). Is it a checkpoint of another model?");
  FRACTURE_CHECK(bad_dtype.empty(), o.source, ": wrong dtype for ", join_some(bad_dtype));
  FRACTURE_CHECK(r.shape_mismatch.empty(), o.source, ": shape mismatch outside the head: ",
                 join_some(r.shape_mismatch));
  if (o.strict) {
    FRACTURE_CHECK(fatal_missing.empty(), o.source, ": missing keys: ", join_some(fatal_missing));
    FRACTURE_CHECK(r.unexpected.empty(), o.source, ": unexpected keys: ", join_some(r.unexpected));
  }
  torch::NoGradGuard ng;
  for (auto& p : plan) p.first.copy_(p.second.to(p.first.scalar_type()));
  return r;
}

LoadReport load_state_dict(ClassifierImpl& net, const NamedTensors& tensors, const std::string& source, bool strict) {
  LoadOptions o;
  o.head_prefix = net.head_prefix();
  o.first_conv_key = net.first_conv_key();
  o.strict = strict;
  o.source = source;
  return load_state_dict(static_cast<torch::nn::Module&>(net), tensors, o);
}

namespace {

// A classifier's key list and shapes (1-class head), built once per (architecture, stem channels):
// building the network initialises every weight at random, about 0.1 s for the three of them, and
// recognise_architecture runs for every checkpoint read.
struct ArchKeys {
  std::string first_conv_key, head_prefix;
  std::vector<std::pair<std::string, std::vector<int64_t>>> keys;  // state_dict order
};

const ArchKeys& arch_keys(const std::string& name, int64_t in_channels) {
  static std::mutex mu;
  static std::map<std::pair<std::string, int64_t>, ArchKeys> cache;  // node-based: references stay valid
  std::lock_guard<std::mutex> lock(mu);
  auto [it, fresh] = cache.try_emplace({name, in_channels});
  if (fresh) {
    // the networks' random initialisation must not move the caller's random stream
    at::Generator rng = at::detail::getDefaultCPUGenerator();
    const at::Tensor rng_state = rng.get_state();
    ClassifierOptions opt;
    opt.num_classes = 1;
    opt.in_channels = in_channels;
    auto net = make_classifier(name, opt);
    it->second.first_conv_key = net->first_conv_key();
    it->second.head_prefix = net->head_prefix();
    for (auto& kv : state_dict(*net)) it->second.keys.emplace_back(kv.first, kv.second.sizes().vec());
    rng.set_state(rng_state);
  }
  return it->second;
}

}  // namespace

ArchGuess recognise_architecture(const NamedTensors& tensors) {
  std::unordered_map<std::string, torch::Tensor> by_key;
  for (auto& kv : tensors) by_key[kv.first] = kv.second;
  for (const auto& name : classifier_names()) {
    auto first = by_key.find(arch_keys(name, 3).first_conv_key);
    if (first == by_key.end() || first->second.dim() != 4) continue;
    const int64_t in_channels = first->second.size(1) == 1 ? 1 : 3;
    const ArchKeys& arch = arch_keys(name, in_channels);
    bool ok = true;
    size_t present = 0;
    std::string head_weight;
    for (auto& [key, sizes] : arch.keys) {
      auto it = by_key.find(key);
      if (it == by_key.end()) {
        if (!ends_with(key, "num_batches_tracked")) ok = false;
        continue;
      }
      ++present;
      if (starts_with(key, arch.head_prefix)) {
        if (ends_with(key, ".weight")) head_weight = key;  // the last head weight is the output layer
        if (it->second.dim() != int64_t(sizes.size())) ok = false;
        continue;
      }
      if (it->second.sizes() != c10::IntArrayRef(sizes)) ok = false;
    }
    if (!ok || present != by_key.size()) continue;
    ArchGuess g;
    g.arch = name;
    g.in_channels = in_channels;
    g.num_classes = head_weight.empty() ? 0 : by_key[head_weight].size(0);
    return g;
  }
  return {};
}

std::string describe_checkpoint(const std::filesystem::path& path, const NamedTensors& tensors) {
  std::string out;
  auto fmt = [&out](const char* f, auto... args) {  // printf into `out`, any length
    const int n = std::snprintf(nullptr, 0, f, args...);
    std::string buf(size_t(n) + 1, '\0');
    std::snprintf(buf.data(), buf.size(), f, args...);
    out.append(buf.data(), size_t(n));
  };
  auto guess = recognise_architecture(tensors);
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
  fmt("file:         %s\n", path.string().c_str());
  if (guess.arch.empty()) {
    out += "architecture: not recognised (not resnet18, mobilenet_v3_small or efficientnet_b0)\n";
  } else {
    fmt("architecture: %s (%lld classes, %lld input channel%s)\n", guess.arch.c_str(),
        (long long)guess.num_classes, (long long)guess.in_channels, guess.in_channels == 1 ? "" : "s");
  }
  fmt("tensors:      %zu\n", tensors.size());
  fmt("parameters:   %lld (excluding BatchNorm running statistics; %lld elements in all)\n",
      (long long)param_elements, (long long)elements);
  for (auto& d : by_dtype) {
    fmt("dtype %-8s %lld tensors, %lld elements\n", d.first.c_str(), (long long)d.second.first,
        (long long)d.second.second);
  }
  if (!tensors.empty()) {
    fmt("first key:    %s\nlast key:     %s\n", tensors.front().first.c_str(), tensors.back().first.c_str());
  }
  return out;
}

}  // namespace fracture::models
