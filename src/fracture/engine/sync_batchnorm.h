// SyncBatchNorm for data-parallel training (torch.nn.SyncBatchNorm's arithmetic, on a DistGroup).
//
//   fracture::engine::SyncBatchNormScope sync(group);   // null group or world size 1: does nothing
//   torch::Tensor loss = net->forward(x).sum();         // models::SyncBatchNorm2d in training mode
//   loss.backward();                                    // normalised over every rank's batch
//
// Forward: each rank's per-channel count, mean and biased variance are gathered in one all-reduce
// (one slot per rank) and merged in float64 as Chan et al.'s parallel variance (torch's
// batch_norm_gather_stats_with_counts does the same merge): mean = sum n_r m_r / N,
// var = sum n_r (v_r + (m_r - mean)^2) / N; the output is (x - mean) / sqrt(var + eps) * w + b and the
// running statistics move by momentum with the unbiased var * N / (N - 1), as one process with the
// whole batch would. Backward: sum(dy) and sum(dy * xhat) per channel are all-reduced (one
// collective) and dx = w / sqrt(var + eps) * (dy - sum(dy) / N - xhat * sum(dy * xhat) / N); dw, db
// are the rank's own sums (the data-parallel gradient average then makes them the batch's).
// So with the loss of rank r scaled to be its share of the whole batch's loss times the world size,
// averaged gradients equal one process's with the union of the batches, up to float rounding.
#pragma once
#include <torch/nn/modules/batchnorm.h>
#include <torch/types.h>

namespace fracture::engine {

class DistGroup;

/// One training-mode BatchNorm forward over every rank's batch (what the scope installs): x
/// (B, C, H, W) is this rank's share; bn's running statistics move as above; differentiable in x,
/// bn.weight and bn.bias (the backward pass all-reduces, so every rank must run it).
torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, DistGroup& group);

/// Installs SyncBatchNorm over `group` for every models::SyncBatchNorm2d in training mode while it
/// lives. Every rank must run the same forward and backward passes (same layers, same order).
class SyncBatchNormScope {
 public:
  explicit SyncBatchNormScope(DistGroup* group);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;

 private:
  bool active_ = false;
};

}  // namespace fracture::engine
