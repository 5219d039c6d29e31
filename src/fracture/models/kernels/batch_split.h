// Inference on a batch as slices side by side: each of ATen's threads runs the whole model on its
// own slices of a few images, one thread inside (oneDNN primitives, ATen ops and our kernels run on
// one thread within another OpenMP region), instead of every layer being split over all threads.
// Used by optimized classifiers (InferenceOptions::batch_slice) at batch 16 and such.
//
//   torch::Tensor y = fracture::models::forward_batch_slices(x, 4, [&](const torch::Tensor& s) {
//     return net->forward_head(net->forward_features(s));   // (b, ...) -> (b, ...)
//   });                                                      // x (B, ...) -> the slices' outputs, in order
//
// Why: at batch 16 a layer-by-layer split over 2 threads streams each layer's whole activation
// (up to 77 MB for EfficientNet-B0's first expansion) through memory between layers; a slice of 4
// images keeps a thread's working set a quarter of that, and no thread waits at a barrier per layer.
// Measured interleaved in one process, 2 threads, batch 16, no slices -> slices of 4
// (docs/performance.md): EfficientNet-B0 191 -> 211 img/s, MobileNetV3-Small 1,416 -> 1,518,
// ResNet18 148 -> 153.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>

namespace fracture::models {

/// f on slices of x's batch (dim 0), side by side on ATen's threads, the outputs concatenated
/// along dim 0 in batch order. With T = at::get_num_threads(): when T >= 2, x has at least
/// T x `images` images and this thread is not already in a parallel region, the batch is cut into
/// T x floor(B / (T x images)) slices of near-equal size (16 images, 2 threads, 4: four slices of 4,
/// two per thread); otherwise f(x). Grad and inference mode of the caller hold inside. The first
/// exception a slice throws is rethrown here after all slices end. f must be safe to call from
/// several threads at once (an optimised classifier's forward is).
at::Tensor forward_batch_slices(const at::Tensor& x, int64_t images,
                                const std::function<at::Tensor(const at::Tensor&)>& f);

}  // namespace fracture::models
