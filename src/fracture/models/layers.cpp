#include "fracture/models/layers.h"

#include "fracture/core/error.h"
#include "fracture/models/kernels/squeeze_excite.h"

#include <cmath>

namespace fracture::models {

std::vector<std::string> sequential_layer_names(const SeqImpl& seq, const std::string& prefix) {
  std::vector<std::string> names;
  for (size_t i = 0; i + 1 < seq.size(); ++i) names.push_back(prefix + "." + std::to_string(i));
  names.push_back(prefix);
  return names;
}

size_t sequential_layer_index(const SeqImpl& seq, const std::string& prefix, const std::string& layer) {
  const std::vector<std::string> names = sequential_layer_names(seq, prefix);
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == layer || (i + 1 == names.size() && layer == prefix + "." + std::to_string(i))) return i;
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
  FRACTURE_FAIL("Grad-CAM layer '", layer, "': expected one of ", all);
}

namespace {
// The child Seq's single fused convolution: fast[0] set and every later child absorbed (skipped).
const OnednnConv* single_fused_conv(SeqImpl* seq) {
  if (!seq || seq->fast.empty() || !seq->fast[0]) return nullptr;
  for (size_t i = 1; i < seq->size(); ++i)
    if (i >= seq->skip.size() || !seq->skip[i]) return nullptr;
  return seq->fast[0].get();
}
}  // namespace

const OnednnConv* SeqImpl::fold_se(size_t i, const torch::Tensor& x, std::vector<float>* gate) {
  if (i + 1 >= size() || (i < skip.size() && skip[i]) || (i + 1 < skip.size() && skip[i + 1])) return nullptr;
  auto* se = ptr(i)->as<SqueezeExcitationImpl>();
  if (!se || !se->fast || !se->fast->accepts(x) || x.size(0) != 1 || wants_grad(x)) return nullptr;
  const OnednnConv* conv = single_fused_conv(ptr(i + 1)->as<SeqImpl>());
  if (!conv || !conv->folds_input_scale() || x.size(2) * x.size(3) <= 2 * conv->out_channels()) return nullptr;
  gate->resize(static_cast<size_t>(se->fast->channels()));
  se->fast->gate(x, gate->data());
  return conv;
}

torch::Tensor SeqImpl::forward_range(torch::Tensor x, size_t from, size_t to) {
  to = std::min(to, size());
  std::vector<float> gate;
  for (size_t i = from; i < to; ++i) {
    if (i < skip.size() && skip[i]) continue;
    if (i + 1 < to) {
      if (const OnednnConv* conv = fold_se(i, x, &gate)) {
        x = conv->forward_scaled(x, gate.data());
        ++i;  // the projection ran
        continue;
      }
    }
    if (i < fast.size() && fast[i]) {
      x = fast[i]->forward(x);
    } else {
      x = (begin() + static_cast<std::ptrdiff_t>(i))->forward<torch::Tensor>(std::move(x));
    }
  }
  return x;
}

torch::Tensor SeqImpl::forward_plus(torch::Tensor x, const torch::Tensor& residual) {
  const size_t n = size();
  const OnednnConv* last = n > 0 ? single_fused_conv(ptr(n - 1)->as<SeqImpl>()) : nullptr;
  if (!last) return forward(std::move(x)) + residual;
  if (n >= 2) {  // an SE before the projection: the gate into its weights, the residual its post-op
    x = forward_range(std::move(x), 0, n - 2);
    std::vector<float> gate;
    if (const OnednnConv* conv = fold_se(n - 2, x, &gate)) return conv->forward_scaled(x, gate.data(), &residual);
    x = forward_range(std::move(x), n - 2, n - 1);
  } else {
    x = forward_range(std::move(x), 0, n - 1);
  }
  return last->forward(x, &residual);
}

torch::Tensor apply_act(const torch::Tensor& x, Act a) {
  switch (a) {
    case Act::none: return x;
    case Act::relu: return torch::relu(x);
    case Act::hardswish: return torch::hardswish(x);
    case Act::silu: return torch::silu(x);
    case Act::sigmoid: return torch::sigmoid(x);
    case Act::hardsigmoid: return torch::hardsigmoid(x);
  }
  return x;
}

torch::Tensor apply_act_(torch::Tensor& x, Act a) {
  switch (a) {
    case Act::none: return x;
    case Act::relu: return torch::relu_(x);
    case Act::hardswish: return torch::hardswish_(x);
    case Act::silu: return torch::silu_(x);
    case Act::sigmoid: return torch::sigmoid_(x);
    case Act::hardsigmoid: return torch::hardsigmoid_(x);
  }
  return x;
}

Seq conv_bn_act(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups, Act act,
                                  BnParams bn) {
  Seq seq;
  seq->push_back(torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, k).stride(stride).padding((k - 1) / 2).groups(groups).bias(false)));
  seq->push_back(SyncBatchNorm2d(torch::nn::BatchNorm2dOptions(out).eps(bn.eps).momentum(bn.momentum)));
  if (act != Act::none) seq->push_back(Activation(act));
  return seq;
}

SqueezeExcitationImpl::SqueezeExcitationImpl(int64_t channels, int64_t squeeze, Act act_, Act scale_act_)
    : act(act_), scale_act(scale_act_) {
  fc1 = register_module("fc1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, squeeze, 1)));
  fc2 = register_module("fc2", torch::nn::Conv2d(torch::nn::Conv2dOptions(squeeze, channels, 1)));
}

torch::Tensor SqueezeExcitationImpl::forward(torch::Tensor x) {
  if (fast && fast->accepts(x) && !wants_grad(x)) return fast->forward(x);
  auto s = torch::adaptive_avg_pool2d(x, {1, 1});  // (B, C, 1, 1)
  s = apply_act(fc1->forward(s), act);
  s = apply_act(fc2->forward(s), scale_act);
  return x * s;
}

torch::Tensor stochastic_depth(const torch::Tensor& x, double p, bool training) {
  if (!training || p == 0.0) return x;
  double survival = 1.0 - p;
  auto noise = torch::empty({x.size(0), 1, 1, 1}, x.options()).bernoulli_(survival);
  if (survival > 0.0) noise.div_(survival);
  return x * noise;
}

int64_t make_divisible(double v, int64_t divisor) {
  int64_t r = std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

void init_conv_bn(torch::nn::Module& root) {
  torch::NoGradGuard ng;
  for (auto& m : root.modules(/*include_self=*/true)) {
    if (auto* c = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (c->bias.defined()) c->bias.zero_();
    } else if (auto* b = m->as<torch::nn::BatchNorm2d>()) {
      b->weight.fill_(1.0);
      b->bias.zero_();
    }
  }
}

}  // namespace fracture::models
