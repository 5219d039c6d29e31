// Internal to models/weights: shared by the format readers and the state-dict mapping.
//
//   std::string s = fracture::models::detail::shape_str(t.sizes());   // "[64, 3, 7, 7]"
#pragma once
#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <string>

namespace fracture::models::detail {

/// "[64, 3, 7, 7]": a shape for error messages.
inline std::string shape_str(c10::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace fracture::models::detail
