#include "fracture/core/log.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace fracture {

std::shared_ptr<Logger> make_logger(bool verbose) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto log = std::make_shared<spdlog::logger>("fracture", sink);
  log->set_pattern("%^%l%$: %v");
  log->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  return log;
}

std::shared_ptr<Logger> null_logger() {
  return std::make_shared<spdlog::logger>("null", std::make_shared<spdlog::sinks::null_sink_mt>());
}

}  // namespace fracture
