// What every fuzz target shares (tests/fuzz, docs/reliability.md): a private scratch folder on a
// RAM disk, the input written as a file, a logger that drops everything, and the rule each target
// enforces beyond "no crash, leak or undefined behaviour": bad input is refused with a
// fracture::Error that names the file at fault. Any other exception escapes the target, and
// libFuzzer (or the replay driver in `make test`) reports it as a failure.
//
//   static const std::filesystem::path dir = fuzz::scratch("yolo");   // made once per process
//   fuzz::write(dir / "a.txt", data, size);
//   fuzz::refused_naming("a.txt", [&] { fracture::load_yolo(dir / "data.yaml", true, fuzz::quiet(), nullptr); });
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fracture/core/error.h"
#include "fracture/core/log.h"

namespace fuzz {

/// A folder of this process (under /dev/shm when there is one), removed when the process exits.
inline std::filesystem::path scratch(const std::string& name) {
  namespace fs = std::filesystem;
  static const fs::path root = [] {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    const fs::path p = base / ("fracture-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(p);
    static const std::string keep = p.string();
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(keep, ec);
    });
    return p;
  }();
  const fs::path p = root / name;
  fs::create_directories(p);
  return p;
}

inline void write(const std::filesystem::path& p, const uint8_t* data, size_t size) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  if (!f) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", p.c_str());
    std::abort();
  }
}

inline void write(const std::filesystem::path& p, std::string_view s) {
  write(p, reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

inline fracture::Logger& quiet() {
  static auto log = fracture::null_logger();
  return *log;
}

/// Stops the run with a message: a property the target checks does not hold.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz: %s\n", what.c_str());
  std::abort();
}

/// Runs f. A fracture::Error is the expected refusal of bad input; it must name `file` (when not
/// empty). Returns true when f returned, false when it refused.
template <class F>
bool refused_naming(const std::string& file, F&& f) {
  try {
    f();
    return true;
  } catch (const fracture::Error& e) {
    if (!file.empty() && std::string_view(e.what()).find(file) == std::string_view::npos)
      fail("the error does not name " + file + ": " + e.what());
    return false;
  }
}

/// The input split at the first occurrence of `sep`: (before, after); after is "" when absent.
inline std::pair<std::string_view, std::string_view> split_once(std::string_view s, std::string_view sep) {
  const size_t i = s.find(sep);
  if (i == std::string_view::npos) return {s, {}};
  return {s.substr(0, i), s.substr(i + sep.size())};
}

}  // namespace fuzz
