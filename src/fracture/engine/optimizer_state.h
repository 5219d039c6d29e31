// The optimiser's state as named tensors, for resume files that are byte-identical between two runs
// of the same seed: torch::save orders the states by the parameters' memory addresses, which differ
// from run to run. Here: param groups in order, parameters in group order.
//
//   fracture::models::NamedTensors s = fracture::engine::optimizer_state(*opt);   // SGD, Adam or AdamW
//   fracture::models::write_safetensors(s, wdir / "resume_e3_optimizer.safetensors");
//   fracture::engine::load_optimizer_state(*opt, fracture::models::read_safetensors(f), f.string());
//
// Keys: param_groups.<g>.<option> (0-dim float64: lr, momentum, dampening, weight_decay, nesterov for
// SGD; lr, beta1, beta2, eps, weight_decay, amsgrad for Adam and AdamW) and state.<g>.<p>.<field>
// (momentum_buffer; step as 0-dim int64, exp_avg, exp_avg_sq, max_exp_avg_sq), for parameters that
// have a state.
#pragma once
#include <torch/optim/optimizer.h>

#include <string>

#include "fracture/models/weights/checkpoint.h"

namespace fracture::engine {

/// The state of an SGD, Adam or AdamW optimiser (CPU tensors). Throws for another optimiser type.
models::NamedTensors optimizer_state(const torch::optim::Optimizer& opt);

/// Sets `opt` (same type, same param groups and parameter shapes as the one saved) from
/// optimizer_state's tensors. Throws fracture::Error naming `source` when a key, shape or the
/// optimiser type does not match.
void load_optimizer_state(torch::optim::Optimizer& opt, const models::NamedTensors& tensors, const std::string& source);

}  // namespace fracture::engine
