#include "fracture/models/kernels/batch_split.h"

#include <ATen/Parallel.h>
#include <ATen/ops/cat.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace fracture::models {

at::Tensor forward_batch_slices(const at::Tensor& x, int64_t images,
                                const std::function<at::Tensor(const at::Tensor&)>& f) {
  const int64_t threads = std::max(1, at::get_num_threads()), batch = x.dim() > 0 ? x.size(0) : 0;
#if defined(_OPENMP)
  const bool nested = omp_in_parallel();
#else
  const bool nested = true;  // no OpenMP: nothing runs side by side
#endif
  if (nested || threads < 2 || images < 1 || batch < threads * images) return f(x);
  const int64_t slices = threads * (batch / (threads * images));
  std::vector<at::Tensor> out(static_cast<size_t>(slices));
  const bool inference = c10::InferenceMode::is_enabled(), grad = c10::GradMode::is_enabled();
  std::exception_ptr error;
  std::mutex error_mu;
  // Slice i (of near-equal sizes) goes to thread i * T / slices: consecutive slices, one thread's
  // images in one stretch of the batch.
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(threads))
  for (int64_t i = 0; i < slices; ++i) {
    try {
      c10::InferenceMode inference_guard(inference);
      c10::AutoGradMode grad_guard(grad);
      const int64_t b0 = batch * i / slices, b1 = batch * (i + 1) / slices;
      out[static_cast<size_t>(i)] = f(x.narrow(0, b0, b1 - b0));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return at::cat(out, 0);
}

}  // namespace fracture::models
