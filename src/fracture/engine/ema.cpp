#include "fracture/engine/ema.h"

#include <torch/torch.h>

#include <cmath>

#include "fracture/core/error.h"

namespace fracture::engine {

namespace {

// Parameters then buffers, in registration order (the same order for two modules built alike).
std::vector<std::pair<std::string, torch::Tensor>> all_tensors(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

void check_same(const std::vector<std::pair<std::string, torch::Tensor>>& a,
                const std::vector<std::pair<std::string, torch::Tensor>>& b) {
  FRACTURE_CHECK(a.size() == b.size(), "ModelEMA: the EMA copy has ", b.size(), " tensors, the model ", a.size());
  for (size_t i = 0; i < a.size(); ++i)
    FRACTURE_CHECK(a[i].first == b[i].first && a[i].second.sizes() == b[i].second.sizes(),
                   "ModelEMA: tensor ", i, " differs: model '", a[i].first, "' vs EMA '", b[i].first, "'");
}

}  // namespace

ModelEMA::ModelEMA(const torch::nn::Module& model, std::shared_ptr<torch::nn::Module> ema, double decay_,
                   double tau_, int64_t updates_)
    : updates(updates_), decay(decay_), tau(tau_), ema_(std::move(ema)) {
  FRACTURE_CHECK(ema_ != nullptr, "ModelEMA: no EMA module given");
  auto m = all_tensors(model);
  auto e = all_tensors(*ema_);
  check_same(m, e);
  torch::NoGradGuard ng;
  for (size_t i = 0; i < m.size(); ++i) {
    e[i].second.copy_(m[i].second.detach());
    e[i].second.set_requires_grad(false);
  }
  ema_->eval();
}

double ModelEMA::decay_at(int64_t updates, double decay, double tau) {
  return decay * (1.0 - std::exp(-double(updates) / tau));
}

void ModelEMA::update(const torch::nn::Module& model) {
  torch::NoGradGuard ng;
  updates += 1;
  const double d = decay_at(updates, decay, tau);
  auto m = all_tensors(model);
  auto e = all_tensors(*ema_);
  check_same(m, e);
  for (size_t i = 0; i < m.size(); ++i) {
    auto& et = e[i].second;
    const auto mt = m[i].second.detach();
    if (et.is_floating_point()) {
      et.mul_(d).add_(mt.to(et.device()), 1.0 - d);
    } else {
      et.copy_(mt);
    }
  }
}

}  // namespace fracture::engine
