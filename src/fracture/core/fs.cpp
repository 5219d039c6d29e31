#include "fracture/core/fs.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <vector>

#include "fracture/core/error.h"

namespace fracture {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  FRACTURE_CHECK(in.good(), path.string(), ": cannot open file for reading");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  FRACTURE_CHECK(!in.bad(), path.string(), ": read error");
  return s;
}

namespace {

// Test hook (tests/cli/kill9.sh, docs/reliability.md): with FRACTURE_TEST_KILL_AT_WRITE=N the N-th
// atomic write of the process writes half its bytes to the temp file, then SIGKILLs the process: a
// kill in the middle of a checkpoint write, at a point the test chooses.
void maybe_die_mid_write(std::FILE* f, std::string_view content) {
  static const long kill_at = [] {
    const char* e = std::getenv("FRACTURE_TEST_KILL_AT_WRITE");
    return e ? std::atol(e) : 0L;
  }();
  static std::atomic<long> writes{0};
  if (kill_at <= 0 || ++writes != kill_at) return;
  std::fwrite(content.data(), 1, content.size() / 2, f);
  std::fflush(f);
  ::kill(::getpid(), SIGKILL);
}

}  // namespace

void write_file_atomic(const fs::path& path, std::string_view content) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  // Unique temp name in the same folder so rename() is atomic on POSIX.
  std::random_device rd;
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + hex64((uint64_t(rd()) << 32) | rd()).substr(8);
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    FRACTURE_CHECK(f != nullptr, tmp.string(), ": cannot open for writing");
    maybe_die_mid_write(f, content);
    errno = 0;
    size_t n = content.empty() ? 0 : std::fwrite(content.data(), 1, content.size(), f);
    bool ok = n == content.size() && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    const int err = errno;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
      // the previous file at `path`, if any, is untouched: only the temp file is removed
      std::remove(tmp.c_str());
      FRACTURE_FAIL(path.string(), ": write failed after ", n, " of ", content.size(), " bytes: ",
                    err ? std::strerror(err) : "unknown error", " (disk full, or over a file-size limit?); ",
                    "the previous version of the file, if any, is kept");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    FRACTURE_FAIL(path.string(), ": cannot rename temp file into place: ", ec.message());
  }
}

namespace {
const std::regex& temp_name() {
  static const std::regex temp(R"(.+\.tmp\.[0-9]+\.[0-9a-f]{8})");  // write_file_atomic's temp files
  return temp;
}
}  // namespace

bool only_entries(const fs::path& dir, const std::vector<std::string>& names) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (std::find(names.begin(), names.end(), n) == names.end() && !std::regex_match(n, temp_name())) return false;
  }
  return !ec;
}

int remove_stale_temp_files(const fs::path& dir) {
  const std::regex& temp = temp_name();
  std::vector<fs::path> stale;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec) && std::regex_match(it->path().filename().string(), temp)) stale.push_back(it->path());
  int n = 0;
  for (const fs::path& p : stale) n += fs::remove(p, ec) ? 1 : 0;
  return n;
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
