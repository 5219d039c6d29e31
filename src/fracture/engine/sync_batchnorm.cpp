#include "fracture/engine/sync_batchnorm.h"

#include <torch/torch.h>

#include "fracture/core/error.h"
#include "fracture/engine/distributed.h"
#include "fracture/models/batchnorm.h"

namespace fracture::engine {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// (C) -> (1, C, 1, 1), to broadcast over (B, C, H, W).
torch::Tensor per_channel(const torch::Tensor& v) { return v.reshape({1, -1, 1, 1}); }

struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  // x (B, C, H, W); weight, bias (C); running_mean, running_var (C) updated in place.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps, DistGroup* group) {
    const int64_t C = x.size(1), W = group->world_size(), r = group->rank();
    const double n_local = double(x.numel() / std::max<int64_t>(C, 1));
    auto [v_local, m_local] = torch::var_mean(x, {0, 2, 3}, /*unbiased=*/false);
    // all-gather as an all-reduce of one slot per rank: [n, mean (C), var (C)]
    std::vector<torch::Tensor> slots{torch::zeros({W, 2 * C + 1}, torch::kDouble)};
    slots[0][r][0] = n_local;
    slots[0][r].narrow(0, 1, C).copy_(m_local.to(torch::kCPU, torch::kDouble));
    slots[0][r].narrow(0, 1 + C, C).copy_(v_local.to(torch::kCPU, torch::kDouble));
    group->allreduce_sum(slots);
    const torch::Tensor n = slots[0].narrow(1, 0, 1);               // (W, 1)
    const torch::Tensor m = slots[0].narrow(1, 1, C);               // (W, C)
    const torch::Tensor v = slots[0].narrow(1, 1 + C, C);           // (W, C)
    const double N = n.sum().item<double>();
    FRACTURE_CHECK(N > 1, "SyncBatchNorm: expected more than one value per channel over all ranks, got ", N);
    const torch::Tensor mean = (n * m).sum(0) / N;                  // (C) float64
    const torch::Tensor var = (n * (v + (m - mean).square())).sum(0) / N;
    const torch::Tensor invstd = (var + eps).rsqrt();
    {
      torch::NoGradGuard ng;
      const auto mom = momentum;
      running_mean.mul_(1 - mom).add_(mean.to(running_mean.options()), mom);
      running_var.mul_(1 - mom).add_((var * (N / (N - 1))).to(running_var.options()), mom);
    }
    const auto opt = x.options();
    const torch::Tensor mean_f = mean.to(opt), invstd_f = invstd.to(opt);
    torch::Tensor y = (x - per_channel(mean_f)) * per_channel(invstd_f * weight) + per_channel(bias);
    ctx->save_for_backward({x, weight, mean_f, invstd_f});
    ctx->saved_data["N"] = N;
    ctx->saved_data["group"] = int64_t(reinterpret_cast<intptr_t>(group));
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double N = ctx->saved_data["N"].toDouble();
    auto* group = reinterpret_cast<DistGroup*>(intptr_t(ctx->saved_data["group"].toInt()));
    const torch::Tensor& dy = grads[0];
    const torch::Tensor xhat = (x - per_channel(mean)) * per_channel(invstd);
    const torch::Tensor sum_dy = dy.sum({0, 2, 3});
    const torch::Tensor sum_dy_xhat = (dy * xhat).sum({0, 2, 3});
    const int64_t C = x.size(1);
    // every rank joins this all-reduce, whatever needs a gradient, so the collectives stay paired
    std::vector<torch::Tensor> both{torch::cat({sum_dy, sum_dy_xhat}).to(torch::kCPU, torch::kDouble)};
    group->allreduce_sum(both);
    const torch::Tensor g_dy = both[0].narrow(0, 0, C).to(x.options()) / N;
    const torch::Tensor g_dy_xhat = both[0].narrow(0, C, C).to(x.options()) / N;
    const torch::Tensor dx =
        (dy - per_channel(g_dy) - xhat * per_channel(g_dy_xhat)) * per_channel(weight * invstd);
    return {dx, sum_dy_xhat, sum_dy, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, DistGroup& group) {
  DistGroup* g = &group;
  FRACTURE_CHECK(bn.options.affine() && bn.options.track_running_stats(),
                 "SyncBatchNorm: needs affine BatchNorm with running statistics");
  FRACTURE_CHECK(x.dim() == 4, "SyncBatchNorm: expected (B, C, H, W), got ", x.sizes());
  bn.num_batches_tracked.add_(1);
  // torch's BatchNorm: momentum, or a cumulative average when it is unset
  const double mom = bn.options.momentum() ? *bn.options.momentum() : 1.0 / bn.num_batches_tracked.item<double>();
  return SyncBatchNormFunction::apply(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, mom,
                                      bn.options.eps(), g);
}

SyncBatchNormScope::SyncBatchNormScope(DistGroup* group) {
  if (!group || group->world_size() <= 1) return;
  models::set_batch_norm_hook(
      [group](torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) { return sync_batch_norm(bn, x, *group); });
  active_ = true;
}

SyncBatchNormScope::~SyncBatchNormScope() {
  if (active_) models::set_batch_norm_hook({});
}

}  // namespace fracture::engine
