// The CLI's command table: `fracture TASK [MODE] key=value ...`.
// Each command is a function of the resolved config; it returns the process exit status. Built into
// the `fracture` binary only (main.cpp dispatches), so no library test links it.
//
//   for (const fracture::cli::Command& c : fracture::cli::commands())
//     std::printf("fracture %s %s  %s\n", c.task.c_str(), c.mode.c_str(), c.help.c_str());
//   int status = fracture::cli::cmd_detect_val(cfg, *log);   // 0 success, 1 a reported error
#pragma once
#include <string>
#include <vector>

#include "fracture/core/config.h"
#include "fracture/core/log.h"

namespace fracture::cli {

struct Command {
  std::string task;   ///< classify, detect, synth, check, weights, ...
  std::string mode;   ///< train, val, predict, cv, ...; "" for tasks without modes
  std::string help;   ///< one line for `fracture help`
  int (*run)(const Config& cfg, Logger& log);
};

/// Every command, in help order.
const std::vector<Command>& commands();

// Implementations live in cmd_*.cpp.
int cmd_synth(const Config& cfg, Logger& log);
int cmd_check(const Config& cfg, Logger& log);
int cmd_study(const Config& cfg, Logger& log);
int cmd_predict(const Config& cfg, Logger& log);
int cmd_serve(const Config& cfg, Logger& log);
int cmd_dicom_node(const Config& cfg, Logger& log);
int cmd_weights_inspect(const Config& cfg, Logger& log);
int cmd_weights_convert(const Config& cfg, Logger& log);
// classify (cmd_classify.cpp)
int cmd_classify_train(const Config& cfg, Logger& log);
int cmd_classify_cv(const Config& cfg, Logger& log);
int cmd_classify_val(const Config& cfg, Logger& log);
int cmd_classify_predict(const Config& cfg, Logger& log);
// detect (cmd_detect.cpp)
int cmd_detect_train(const Config& cfg, Logger& log);
int cmd_detect_val(const Config& cfg, Logger& log);
int cmd_detect_predict(const Config& cfg, Logger& log);

}  // namespace fracture::cli
