// CPU threads for tensor maths (ATen's intra-op pool), set once per command from the `threads` key.
//
//   int n = fracture::apply_compute_threads(cfg, log);   // null = every core this process may use
//
// Why it is explicit: Debian's libtorch (OpenMP backend) starts with at::get_num_threads() == 1 on
// these machines (`python3 -c 'import torch; print(torch.get_num_threads())'` prints 1 on 2 cores),
// so a command that never set it trained and predicted on one core.
#pragma once
#include "fracture/core/config.h"
#include "fracture/core/log.h"

namespace fracture {

/// Cores this process may run on: the CPU affinity mask's count, else hardware_concurrency, >= 1.
int usable_cores();

/// Sets ATen's intra-op threads from the config key `threads` (null: usable_cores()); returns the
/// count set. Throws fracture::Error naming the key when it is not a positive integer.
int apply_compute_threads(const Config& cfg, Logger& log);

}  // namespace fracture
