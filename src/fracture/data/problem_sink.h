// Where dataset loaders and checks send per-item problems: strict mode throws on the first one,
// otherwise each is recorded (when the caller asked for the list) and logged as a warning.
//
//   fracture::ProblemSink sink(strict, log, problems);
//   sink.add(label_file, 7, "class index 3 is out of range: nc = 2");  // throws fracture::Error if strict
//   if (sink.count() > 0) ... skip the item ...
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/core/error.h"
#include "fracture/core/log.h"
#include "fracture/data/dataset.h"

namespace fracture {

class ProblemSink {
 public:
  /// `out` may be null: problems are then only logged (and counted).
  ProblemSink(bool strict, Logger& log, std::vector<Problem>* out) : strict_(strict), log_(log), out_(out) {}

  /// Reports one problem: throws fracture::Error("file:line: message") in strict mode.
  void add(const std::filesystem::path& file, int line, const std::string& message) {
    Problem p{file, line, message};
    if (strict_) throw Error(p.str());
    ++count_;
    if (count_ <= kMaxLogged) log_.warn("{}", p.str());
    else if (count_ == kMaxLogged + 1) log_.warn("more dataset problems; the rest are not logged one by one");
    if (out_) out_->push_back(std::move(p));
  }

  int count() const { return count_; }  ///< problems reported through this sink
  bool strict() const { return strict_; }

 private:
  static constexpr int kMaxLogged = 20;  // keep the log readable on a badly broken dataset
  bool strict_;
  Logger& log_;
  std::vector<Problem>* out_;
  int count_ = 0;
};

}  // namespace fracture
