#include "fracture/core/fs.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <random>

#include "fracture/core/error.h"

namespace fracture {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  FRACTURE_CHECK(in.good(), path.string(), ": cannot open file for reading");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  FRACTURE_CHECK(!in.bad(), path.string(), ": read error");
  return s;
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  // Unique temp name in the same folder so rename() is atomic on POSIX.
  std::random_device rd;
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + hex64((uint64_t(rd()) << 32) | rd()).substr(8);
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    FRACTURE_CHECK(f != nullptr, tmp.string(), ": cannot open for writing");
    size_t n = content.empty() ? 0 : std::fwrite(content.data(), 1, content.size(), f);
    bool ok = n == content.size() && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
      std::remove(tmp.c_str());
      FRACTURE_FAIL(path.string(), ": write failed (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    FRACTURE_FAIL(path.string(), ": cannot rename temp file into place: ", ec.message());
  }
}

uint64_t hash_bytes(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex64(uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[i] = d[v & 15];
  return s;
}

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

std::string trim(std::string_view s) {
  const size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string_view::npos ? std::string() : std::string(s.substr(a, b - a + 1));
}

}  // namespace fracture
