#include "fracture/engine/training.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "fracture/core/error.h"

namespace fracture::engine {

ParamGroups param_groups(const torch::nn::Module& m, bool trainable_only) {
  ParamGroups g;
  for (const auto& mod : m.named_modules("", /*include_self=*/true)) {
    const bool is_bn = dynamic_cast<const torch::nn::BatchNorm2dImpl*>(mod.value().get()) != nullptr;
    for (const auto& p : mod.value()->named_parameters(/*recurse=*/false)) {
      if (trainable_only && !p.value().requires_grad()) continue;
      const std::string full = mod.key().empty() ? p.key() : mod.key() + "." + p.key();
      if (p.key() == "bias") {
        g.bias.push_back(p.value());
        g.bias_names.push_back(full);
      } else if (is_bn) {
        g.no_decay.push_back(p.value());
        g.no_decay_names.push_back(full);
      } else {
        g.decay.push_back(p.value());
        g.decay_names.push_back(full);
      }
    }
  }
  return g;
}

double lr_at_iteration(int64_t it, int64_t total, int64_t warmup, double lr0, double lrf) {
  if (warmup > 0 && it < warmup) return lr0 * double(it + 1) / double(warmup);
  const double span = double(std::max<int64_t>(1, total - 1 - warmup));
  double t = double(it - warmup) / span;
  t = std::min(1.0, std::max(0.0, t));
  return lr0 * (lrf + (1.0 - lrf) * 0.5 * (1.0 + std::cos(M_PI * t)));
}

double lr_factor(double epoch, int epochs, double lrf, bool cos_lr) {
  if (cos_lr) return ((1.0 - std::cos(epoch * M_PI / epochs)) / 2.0) * (lrf - 1.0) + 1.0;
  return std::max(1.0 - epoch / epochs, 0.0) * (1.0 - lrf) + lrf;
}

int64_t warmup_iterations(double warmup_epochs, int64_t batches_per_epoch) {
  if (warmup_epochs <= 0) return -1;
  return std::max<int64_t>(int64_t(std::nearbyint(warmup_epochs * double(batches_per_epoch))), 100);
}

namespace {
double interp2(double x, double x1, double y0, double y1) {  // np.interp(x, [0, x1], [y0, y1])
  if (x <= 0) return y0;
  if (x >= x1) return y1;
  return y0 + (y1 - y0) * x / x1;
}
}  // namespace

WarmupValues warmup_values(int64_t ni, int64_t nw, int epoch, const WarmupInput& in) {
  WarmupValues v;
  const double x = double(ni), x1 = double(nw);
  v.accumulate = std::max(1, int(std::nearbyint(interp2(x, x1, 1.0, double(in.nbs) / in.batch))));
  const double target = in.lr * lr_factor(epoch, in.epochs, in.lrf, in.cos_lr);
  for (int j = 0; j < 3; ++j) v.lr[j] = interp2(x, x1, j == 0 ? in.warmup_bias_lr : 0.0, target);
  v.momentum = interp2(x, x1, in.warmup_momentum, in.momentum);
  return v;
}

EarlyStopping::EarlyStopping(const std::string& monitor, int patience) : patience_(patience) {
  FRACTURE_CHECK(monitor == "val_loss" || monitor == "auroc", "early stopping: monitor must be val_loss or auroc, got '",
                 monitor, "'");
  FRACTURE_CHECK(patience >= 1, "early stopping: patience must be >= 1, got ", patience);
  maximise_ = monitor == "auroc";
}

EarlyStopping::EarlyStopping(bool maximise, int patience, bool ties_improve, double start)
    : maximise_(maximise), ties_improve_(ties_improve), has_start_(true), patience_(patience), best_(start) {}

bool EarlyStopping::update(int epoch, double value) {
  last_epoch_ = epoch;
  if (std::isnan(value)) return false;
  const bool first = best_epoch_ < 0 && !has_start_;
  const bool better = first || (maximise_ ? value > best_ : value < best_) || (ties_improve_ && value == best_);
  if (better) {
    best_ = value;
    best_epoch_ = epoch;
  }
  return better;
}

void EarlyStopping::restore(int last_epoch, int best_epoch, double best) {
  last_epoch_ = last_epoch;
  best_epoch_ = best_epoch;
  best_ = best;
}

}  // namespace fracture::engine
