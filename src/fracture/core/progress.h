// Progress of long work: a bar redrawn in place on stderr when stderr is a terminal (nothing when it
// is not: the per-epoch log lines are the plain form), and an ETA from the mean time per step so far.
//
//   fracture::Progress bar("resnet18 r0f0 epoch 3/12", 40);      // 40 batches
//   for (int i = 0; i < 40; ++i) bar.step("loss 0.412");          // "... 12/40 [######..............] 4s<9s loss 0.412"
//   bar.done();                                                   // clears the line
//   std::string eta = fracture::format_duration(fracture::eta_seconds(3, 12, 41.5));   // "2m05s"
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace fracture {

/// elapsed / done * (total - done): seconds left at the mean pace so far; NaN when done <= 0.
double eta_seconds(int64_t done, int64_t total, double elapsed_seconds);
/// "45s", "3m05s", "1h04m"; "?" for NaN or a negative value.
std::string format_duration(double seconds);
/// isatty(stderr), unless FRACTURE_PROGRESS=0 (never draw) or =1 (always draw).
bool progress_on_terminal();

class Progress {
 public:
  /// total <= 0: a count without a bar. `draw` defaults to progress_on_terminal().
  Progress(std::string label, int64_t total, bool draw = progress_on_terminal());
  ~Progress();
  /// n more steps done; redraws at most every 0.2 s (and on the last step).
  void step(const std::string& metric = "", int64_t n = 1);
  /// Clears the bar line (a log line follows it).
  void done();
  /// The line as drawn now (tests).
  std::string line(const std::string& metric) const;

 private:
  std::string label_;
  int64_t total_ = 0, done_ = 0;
  bool draw_ = false, drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace fracture
