// The weight-file targets' shared check: a file that was read writes back (our writer) and reads
// back to the same keys, dtypes, shapes and bytes.
#pragma once
#include <torch/types.h>

#include <cstring>

#include "../fuzz_util.h"
#include "fracture/models/weights/checkpoint.h"

namespace fuzz {

inline void same_tensors(const fracture::models::NamedTensors& a, const fracture::models::NamedTensors& b,
                         const char* what) {
  if (a.size() != b.size()) fail(std::string(what) + ": tensor count differs after write and read");
  for (size_t i = 0; i < a.size(); ++i) {
    const torch::Tensor x = a[i].second.contiguous(), y = b[i].second.contiguous();
    if (a[i].first != b[i].first || x.scalar_type() != y.scalar_type() || x.sizes() != y.sizes() ||
        (x.numel() > 0 && std::memcmp(x.data_ptr(), y.data_ptr(), size_t(x.numel()) * x.element_size()) != 0))
      fail(std::string(what) + ": tensor '" + a[i].first + "' differs after write and read");
  }
}

}  // namespace fuzz
