#include "fracture/serve/common.h"

#include <signal.h>

#include <atomic>
#include <cstdio>

#include "fracture/core/fs.h"

namespace fracture::serve {

namespace {
std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal = sig; }
}  // namespace

void catch_stop_signals() {
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
}

int stop_signal() { return g_signal; }

std::string with_path_as(std::string msg, const std::string& path, const std::string& as) {
  if (path.empty()) return msg;
  for (size_t p = 0; (p = msg.find(path, p)) != std::string::npos; p += as.size()) msg.replace(p, path.size(), as);
  return msg;
}

std::string log_hash(std::string_view s) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(hash_bytes(s)));
  return std::string(b, 12);
}

}  // namespace fracture::serve
