// Process-wide glibc malloc settings for tensor workloads, applied once at start-up by the CLI and
// the benchmarks.
//
//   std::string what = fracture::tune_heap_for_tensors();   // "" when left as it was
//
// Why: libtorch's CPU allocator is plain malloc. With glibc's defaults every tensor over the
// (dynamic) mmap threshold gets fresh pages from the kernel and gives them back on free, and the
// heap top is trimmed, so each training step page-faults its activations in again (measured:
// 1.11 M page faults and 9.7-13.9 images/s for 6 resnet18 training steps + inference at 224 px,
// against 0.27 M and 14.0-14.9 with these settings; `perf stat -e page-faults
// build/bench/classifier_bench model=resnet18 ...`). Freed memory then stays with the process
// (reused for the next tensors) instead of returning to the kernel: resident memory sits at the
// high-water mark, as with PyTorch's CUDA caching allocator.
#pragma once
#include <string>

namespace fracture {

/// Sets M_MMAP_THRESHOLD to 1 GiB and M_TRIM_THRESHOLD to 2 GiB (mallopt takes an int) (glibc only). Does nothing when
/// the user already chose malloc settings (GLIBC_TUNABLES mentions malloc, or MALLOC_MMAP_THRESHOLD_
/// / MALLOC_TRIM_THRESHOLD_ is set) or when FRACTURE_DEFAULT_MALLOC=1. Returns a one-line summary of
/// what it did ("" when nothing), for a debug log line.
std::string tune_heap_for_tensors();

}  // namespace fracture
