#include "fracture/core/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fracture {

double eta_seconds(int64_t done, int64_t total, double elapsed) {
  if (done <= 0) return std::nan("");
  return elapsed / double(done) * double(total > done ? total - done : 0);
}

std::string format_duration(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  const long long t = std::llround(s);
  char buf[32];
  if (t < 60) std::snprintf(buf, sizeof buf, "%llds", t);
  else if (t < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, (t % 3600) / 60);
  return buf;
}

bool progress_on_terminal() {
  if (const char* e = std::getenv("FRACTURE_PROGRESS")) return std::strcmp(e, "0") != 0;
  return isatty(STDERR_FILENO) == 1;
}

Progress::Progress(std::string label, int64_t total, bool draw)
    : label_(std::move(label)), total_(total), draw_(draw), start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { done(); }

std::string Progress::line(const std::string& metric) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string s = label_ + " " + std::to_string(done_);
  if (total_ > 0) {
    s += "/" + std::to_string(total_) + " [";
    const int width = 20, fill = int(double(width) * double(std::min(done_, total_)) / double(total_));
    s += std::string(size_t(fill), '#') + std::string(size_t(width - fill), '.') + "]";
    s += " " + format_duration(elapsed) + "<" + format_duration(eta_seconds(done_, total_, elapsed));
  } else {
    s += " " + format_duration(elapsed);
  }
  if (!metric.empty()) s += " " + metric;
  return s;
}

void Progress::step(const std::string& metric, int64_t n) {
  done_ += n;
  if (!draw_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200) && done_ != total_) return;
  last_draw_ = now;
  std::fprintf(stderr, "\r\033[K%s", line(metric).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::done() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace fracture
