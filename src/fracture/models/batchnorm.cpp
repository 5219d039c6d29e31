#include "fracture/models/batchnorm.h"

template <>
void torch::nn::BatchNormImplBase<2, torch::nn::BatchNorm2dImpl>::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "torch::nn::BatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=";
  if (options.momentum())
    stream << *options.momentum();
  else
    stream << "None";
  stream << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats() << ")";
}

namespace fracture::models {

namespace {
BatchNormHook& hook_slot() {
  static BatchNormHook h;
  return h;
}
}  // namespace

void set_batch_norm_hook(BatchNormHook hook) { hook_slot() = std::move(hook); }

torch::Tensor SyncBatchNorm2dImpl::forward(const torch::Tensor& x) {
  const BatchNormHook& h = hook_slot();
  if (h && is_training()) return h(*this, x);
  return torch::nn::BatchNorm2dImpl::forward(x);
}

}  // namespace fracture::models
