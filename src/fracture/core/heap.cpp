#include "fracture/core/heap.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fracture {

std::string tune_heap_for_tensors() {
#if defined(__GLIBC__)
  const char* own = std::getenv("FRACTURE_DEFAULT_MALLOC");
  if (own && std::strcmp(own, "1") == 0) return "";
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::strstr(tunables, "malloc")) return "";
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_")) return "";
  // Both calls also switch off glibc's dynamic threshold adjustment, which is what we want: the
  // sizes stay where they are set.
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(2147483647)) == 1;
  return std::string("malloc: mmap threshold 1 GiB ") + (mmap_ok ? "set" : "refused") + ", trim threshold 2 GiB " +
         (trim_ok ? "set" : "refused");
#else
  return "";
#endif
}

}  // namespace fracture
