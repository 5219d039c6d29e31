// What both trainers (classify.h, detect_train.h) share, written once: optimiser parameter groups,
// the learning-rate schedules, and early stopping.
//
//   fracture::engine::ParamGroups g = fracture::engine::param_groups(*net, /*trainable_only=*/true);
//   // g.decay: conv/linear weights; g.bias and g.no_decay (BatchNorm weights): no weight decay
//   double lr = fracture::engine::lr_at_iteration(it, total, warmup, 1e-3, 0.01);   // classifier: per iteration
//   double f = fracture::engine::lr_factor(epoch, 100, 0.01, /*cos_lr=*/false);    // YOLOv8: per epoch
//   fracture::engine::EarlyStopping stop("val_loss", /*patience=*/10);
//   if (stop.update(epoch, val_loss)) { /* keep these weights */ }
//   if (stop.should_stop()) { /* break */ }
//
// The classifier's schedule is ours (linear warmup per iteration, cosine to lr0 * lrf); the
// detector's follows Ultralytics 8.1.0's trainer (lf(epoch) and its np.interp warmup), see
// detect_train.h.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace fracture::engine {

/// Parameters split as Ultralytics' build_optimizer does (tensors alias the module's parameters),
/// in named_parameters order within each group.
struct ParamGroups {
  std::vector<torch::Tensor> bias;      ///< pg0: every parameter named *bias (no weight decay)
  std::vector<torch::Tensor> decay;     ///< pg1: other weights (conv, linear): weight decay
  std::vector<torch::Tensor> no_decay;  ///< pg2: BatchNorm weights (no weight decay)
  std::vector<std::string> bias_names, decay_names, no_decay_names;  ///< full parameter names
};

/// Splits the parameters of `m` into the groups above; with `trainable_only` only those with
/// requires_grad (YOLOv8's fixed DFL conv stays out; a classifier's frozen backbone stays in, as
/// staged fine-tuning unfreezes it later).
ParamGroups param_groups(const torch::nn::Module& m, bool trainable_only);

/// Classifier: learning rate of iteration `it` (0-based) of `total`: linear warmup lr0 * (it + 1) /
/// warmup for it < warmup, then cosine from lr0 down to lr0 * lrf at the last iteration:
/// lr0 * (lrf + (1 - lrf) * (1 + cos(pi * (it - warmup) / max(1, total - 1 - warmup))) / 2).
double lr_at_iteration(int64_t it, int64_t total, int64_t warmup, double lr0, double lrf);

/// YOLOv8: the learning-rate factor lf(epoch), linear or cosine (one_cycle) from 1 to lrf over `epochs`.
double lr_factor(double epoch, int epochs, double lrf, bool cos_lr);

struct WarmupInput {
  double lr = 0.01;          ///< the optimiser's initial lr (every group)
  double warmup_bias_lr = 0.1;
  double warmup_momentum = 0.8;
  double momentum = 0.937;
  int epochs = 100;
  double lrf = 0.01;
  bool cos_lr = false;
  int nbs = 64;
  int batch = 16;
};

struct WarmupValues {
  double lr[3] = {0, 0, 0};  ///< pg0 (bias), pg1, pg2
  double momentum = 0;       ///< SGD momentum at this iteration
  int accumulate = 1;
};

/// YOLOv8: warmup iterations nw = max(round(warmup_epochs * batches_per_epoch), 100), or -1 when
/// warmup_epochs <= 0.
int64_t warmup_iterations(double warmup_epochs, int64_t batches_per_epoch);

/// YOLOv8: the values Ultralytics sets at iteration ni (0-based over the run) of `epoch` when ni <= nw.
WarmupValues warmup_values(int64_t ni, int64_t nw, int epoch, const WarmupInput& in);

/// Early stopping on one monitored value. update() records an epoch's value and says whether it
/// is the new best; should_stop() once `patience` epochs passed since the best. NaN never improves.
///   classifier: EarlyStopping("val_loss" | "auroc", patience): strictly better only.
///   YOLOv8 (Ultralytics' EarlyStopping): maximise fitness, ties move the best epoch (>=), and the
///   count starts from a virtual best of 0 before the first epoch (start = 0).
class EarlyStopping {
 public:
  /// monitor val_loss (minimise) or auroc (maximise); throws naming the key otherwise.
  EarlyStopping(const std::string& monitor, int patience);
  EarlyStopping(bool maximise, int patience, bool ties_improve, double start);
  bool update(int epoch, double value);
  bool should_stop() const {
    return (best_epoch_ >= 0 || has_start_) && last_epoch_ - best_epoch_ >= patience_;
  }
  int best_epoch() const { return best_epoch_; }  ///< 0-based; -1 before any improvement
  double best_value() const { return best_; }
  /// Continues a resumed run: `last_epoch` finished, best so far at `best_epoch` with `best`.
  void restore(int last_epoch, int best_epoch, double best);

 private:
  bool maximise_ = false, ties_improve_ = false, has_start_ = false;
  int patience_ = 0;
  int best_epoch_ = -1, last_epoch_ = -1;
  double best_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace fracture::engine
