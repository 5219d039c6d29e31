// What both servers share: stopping on SIGTERM / SIGINT, and the hash a log line may print instead
// of an identifier (privacy).
//
//   fracture::serve::catch_stop_signals();               // before serving
//   while (!fracture::serve::stop_signal()) serve_one();  // then finish what is in flight
//   log->info("request {} ({})", id, fracture::serve::log_hash(sop_instance_uid));
#pragma once
#include <string>
#include <string_view>

namespace fracture::serve {

/// SIGTERM and SIGINT set a flag instead of ending the process (in flight work is finished first).
void catch_stop_signals();
/// The signal caught (SIGTERM or SIGINT), 0 when none.
int stop_signal();
/// `msg` with every occurrence of `path` (a private temporary file of ours) spelled `as`: what an
/// error may say to the client (its own file name) or to the log (a neutral word).
std::string with_path_as(std::string msg, const std::string& path, const std::string& as);
/// 12 hex digits of a 64-bit FNV-1a hash: names a request or object in a log without its identifier.
std::string log_hash(std::string_view s);

}  // namespace fracture::serve
