// Errors: every failure a user can cause is a fracture::Error whose message names
// the file, line or field at fault and what was expected.
//
//   FRACTURE_CHECK(nc > 0, path.string(), ": 'nc' must be a positive integer, got ", nc);
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace fracture {

/// A user-facing error: bad input, bad config, bad file.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... A>
std::string cat(const A&... a) {
  std::ostringstream s;
  (s << ... << a);
  return s.str();
}
}  // namespace detail

}  // namespace fracture

/// Throws fracture::Error with the concatenated message parts when `cond` is false.
#define FRACTURE_CHECK(cond, ...)                                    \
  do {                                                               \
    if (!(cond)) throw ::fracture::Error(::fracture::detail::cat(__VA_ARGS__)); \
  } while (0)

/// Throws fracture::Error with the concatenated message parts.
#define FRACTURE_FAIL(...) throw ::fracture::Error(::fracture::detail::cat(__VA_ARGS__))
