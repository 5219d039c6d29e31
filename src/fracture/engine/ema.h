// Exponential moving average of a model's weights, as Ultralytics' ModelEMA (utils/torch_utils.py).
//
//   auto ema_net = fracture::models::YoloV8(opt);              // same architecture as `net`
//   fracture::engine::ModelEMA ema(*net, ema_net.ptr());        // copies net's state into ema_net
//   optimizer.step();  ema.update(*net);                        // after every optimiser step
//   ema.module()->eval();                                       // validate / save the averaged model
//
// Each update: updates += 1, d = decay * (1 - exp(-updates / tau)); every floating-point parameter
// and buffer e <- d e + (1 - d) m (BatchNorm running statistics included, as Ultralytics averages
// the whole state dict); integer buffers (num_batches_tracked) are copied.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>

namespace fracture::engine {

class ModelEMA {
 public:
  /// `ema` must have the same parameters and buffers (names, shapes) as `model`; it receives a copy
  /// of model's state now, gets requires_grad false and stays in eval mode.
  ModelEMA(const torch::nn::Module& model, std::shared_ptr<torch::nn::Module> ema, double decay = 0.9999,
           double tau = 2000.0, int64_t updates = 0);

  /// The decay used by the update number `updates` (>= 1): decay * (1 - exp(-updates / tau)).
  static double decay_at(int64_t updates, double decay = 0.9999, double tau = 2000.0);

  /// One EMA step towards `model` (call after each optimiser step).
  void update(const torch::nn::Module& model);

  std::shared_ptr<torch::nn::Module> module() const { return ema_; }
  int64_t updates = 0;
  double decay = 0.9999;
  double tau = 2000.0;

 private:
  std::shared_ptr<torch::nn::Module> ema_;
};

}  // namespace fracture::engine
