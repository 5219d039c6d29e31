// BatchNorm2d that can be synchronised across data-parallel processes (torch.nn.SyncBatchNorm).
//
//   fracture::models::SyncBatchNorm2d bn(torch::nn::BatchNormOptions(64).eps(1e-3).momentum(0.03));
//   torch::Tensor y = bn(x);   // torch's BatchNorm2d exactly, unless a hook is set and bn is training
//   fracture::models::set_batch_norm_hook(hook);   // engine/sync_batchnorm.h sets one for its scope
//
// Keys, parameters and buffers are torch::nn::BatchNorm2d's (weights map 1:1; code that looks for
// BatchNorm2dImpl finds it). In training mode with a hook set, forward is the hook's: statistics over
// every rank's batch (the hook all-reduces them), as torch.nn.SyncBatchNorm; in eval mode, or with
// no hook, it is BatchNorm2dImpl::forward.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <ostream>

// libtorch defines BatchNormImplBase<2, BatchNorm2dImpl>::pretty_print in its .cpp without exporting
// it, and a subclass's construction vtables name it: batchnorm.cpp defines it (the same text torch
// prints: "torch::nn::BatchNorm2d(C, eps=..., momentum=..., affine=..., track_running_stats=...)").
namespace torch::nn {
template <>
void BatchNormImplBase<2, BatchNorm2dImpl>::pretty_print(std::ostream& stream) const;
}  // namespace torch::nn

namespace fracture::models {

class SyncBatchNorm2dImpl : public torch::nn::BatchNorm2dImpl {
 public:
  using torch::nn::BatchNorm2dImpl::BatchNorm2dImpl;
  torch::Tensor forward(const torch::Tensor& x);  // (B, C, H, W) -> (B, C, H, W)
};
TORCH_MODULE(SyncBatchNorm2d);

/// Training-mode BatchNorm of a module and its input; empty: none (the default).
using BatchNormHook = std::function<torch::Tensor(torch::nn::BatchNorm2dImpl&, const torch::Tensor&)>;
/// Sets the process's hook (not thread-safe: set it before training, clear it after).
void set_batch_norm_hook(BatchNormHook hook);

}  // namespace fracture::models
