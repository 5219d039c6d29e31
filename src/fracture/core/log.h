// Logging: a spdlog logger made once in main() and passed down explicitly (no global logger).
//
//   auto log = fracture::make_logger(/*verbose=*/false);
//   log->info("wrote {} images to {}", n, out.string());
#pragma once
#include <spdlog/spdlog.h>

#include <memory>

namespace fracture {

using Logger = spdlog::logger;

/// A colour stderr logger named "fracture"; debug level when verbose.
std::shared_ptr<Logger> make_logger(bool verbose);

/// A logger that drops everything (tests).
std::shared_ptr<Logger> null_logger();

}  // namespace fracture
