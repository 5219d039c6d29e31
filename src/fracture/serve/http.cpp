#include "fracture/serve/http.h"

#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/engine/predictor.h"
#include "fracture/serve/batcher.h"
#include "fracture/serve/common.h"
#include "fracture/serve/metrics.h"
#include "fracture/serve/upload.h"

namespace fracture::serve {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

std::string status_text(int status) {
  switch (status) {
    case 400: return "bad request: malformed HTTP, or a body shorter than its Content-Length or sent slower than "
                     "read_timeout";
    case 404: return "no such route (POST /v1/predict, GET /health, /metrics, /v1/model)";
    case 405: return "method not allowed";
    case 408: return "request timeout: the client sent too slowly (key read_timeout)";
    case 413: return "payload too large (key max_upload_mb)";
    case 414: return "URI too long";
    default: return "HTTP " + std::to_string(status);
  }
}

void json_error(httplib::Response& res, int status, const std::string& msg) {
  res.status = status;
  // a message may quote the client's bytes (a file name): error_body keeps invalid UTF-8 from
  // becoming nlohmann's exception, which httplib answered with a bare 500
  res.set_content(error_body(status, msg), "application/json");
}

struct Service {
  const Config& cfg;
  Logger& log;
  engine::Predictor predictor;
  Metrics metrics;
  Batcher batcher;
  fs::path tmp;  // private uploads folder
  std::atomic<long> next_id{0}, answered{0};
  std::atomic<bool> stopping{false};
  long max_requests = 0;

  Service(const Config& c, Logger& l, BatcherOptions bo)
      : cfg(c), log(l), predictor(c, l),
        batcher([this](const std::vector<ClsItem>& items) {
                  metrics.batch(items.size());
                  return predictor.predict(items);
                }, bo) {}

  void predict(const httplib::Request& req, httplib::Response& res) {
    const auto t0 = std::chrono::steady_clock::now();
    const long id = ++next_id;
    std::string kind = finish_predict(req, res, id);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    metrics.request("/v1/predict", res.status, s);
    if (!kind.empty()) metrics.error(kind);
    ++answered;
  }

  // Returns the error kind ("" on success).
  std::string finish_predict(const httplib::Request& req, httplib::Response& res, long id) {
    Upload u = read_upload(req);
    if (!u.ok()) {
      json_error(res, u.status, u.error);
      return u.kind;
    }
    const std::string& name = u.name;
    const std::string& tag = u.log_tag;
    const fs::path file = tmp / (std::to_string(id) + u.ext);
    write_file_atomic(file, u.body);
    u.body.clear();
    std::optional<std::future<Answer>> fut = batcher.submit(ClsItem{file, 0, "", ""});
    if (!fut) {
      fs::remove(file);
      res.set_header("Retry-After", "1");
      json_error(res, 503, stopping ? "shutting down" : "busy: the request queue is full; retry later");
      log.warn("serve: request {} ({}): 503 queue full", id, tag);
      return "queue_full";
    }
    Answer a = fut->get();
    std::error_code ec;
    fs::remove(file, ec);
    if (!a.prediction) {
      // the temporary path is ours: the answer names the client's file, the log only "upload"
      json_error(res, 422, with_path_as(a.error, file.string(), name));
      log.warn("serve: request {} ({}): 422 {}", id, tag,
               with_path_as(a.error, file.string(), "upload").substr(0, 200));
      return "unreadable_image";
    }
    json j = std::move(a.prediction->json);
    j["file"] = name;
    if (req.has_param("overlay") && req.get_param_value("overlay") == "true")
      j["overlay_png_base64"] = base64(a.prediction->overlay_png);
    res.status = 200;
    res.set_content(j.dump(2, ' ', false, json::error_handler_t::replace) + "\n", "application/json");  // "file": the client's name
    log.info("serve: request {} ({}): 200, batch of {}", id, tag, a.batch);
    return "";
  }
};

}  // namespace

int run_http(const Config& cfg, Logger& log) {
  BatcherOptions bo;
  bo.queue = size_t(cfg.integer("queue"));
  bo.max_batch = size_t(cfg.integer("max_batch"));
  bo.max_wait = std::chrono::milliseconds(cfg.integer("max_wait_ms"));
  FRACTURE_CHECK(bo.queue >= 1 && bo.max_batch >= 1, "serve: queue and max_batch must be >= 1");
  const size_t max_upload = size_t(cfg.real("max_upload_mb") * 1024 * 1024);
  const std::string host = cfg.str("host");
  const int port = int(cfg.integer("port"));
  Service svc(cfg, log, bo);
  svc.max_requests = cfg.is_null("max_requests") ? 0 : long(cfg.integer("max_requests"));
  std::string tmpl = (fs::temp_directory_path() / "fracture-serve-XXXXXX").string();
  FRACTURE_CHECK(::mkdtemp(tmpl.data()), "serve: cannot make a private folder like ", tmpl);
  svc.tmp = tmpl;

  httplib::Server server;
  server.new_task_queue = [n = size_t(cfg.integer("http_threads"))] { return new httplib::ThreadPool(n); };
  server.set_read_timeout(std::chrono::seconds(cfg.integer("read_timeout")));
  server.set_payload_max_length(max_upload);
  // a declared size over the limit is refused before the body is read
  server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    const std::string refused = over_upload_limit(req, max_upload);
    if (!refused.empty()) {
      json_error(res, 413, refused);
      res.set_header("Connection", "close");
      svc.metrics.request(req.path, 413, 0.0);
      svc.metrics.error("too_large");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.set_error_handler([&](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) json_error(res, res.status, status_text(res.status));
  });
  server.Post("/v1/predict", [&](const httplib::Request& req, httplib::Response& res) { svc.predict(req, res); });
  server.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    const bool ready = !svc.stopping;
    res.status = ready ? 200 : 503;
    res.set_content(json({{"status", ready ? "ok" : "stopping"}, {"model_loaded", true}, {"ready", ready}}).dump() + "\n",
                    "application/json");
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(svc.metrics.prometheus(svc.batcher.depth()), "text/plain; version=0.0.4");
  });
  server.Get("/v1/model", [&](const httplib::Request&, httplib::Response& res) {
    json j = svc.predictor.info();
    j["batching"] = {{"queue", bo.queue}, {"max_batch", bo.max_batch}, {"max_wait_ms", bo.max_wait.count()},
                     {"max_upload_mb", cfg.real("max_upload_mb")}};
    res.set_content(j.dump(2) + "\n", "application/json");
  });

  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  FRACTURE_CHECK(bound > 0, "serve: cannot listen on ", host, ":", port, " (in use, or not an address of this machine)");
  if (!cfg.str("port_file").empty()) write_file_atomic(cfg.str("port_file"), std::to_string(bound) + "\n");
  log.info("serve: {} on http://{}:{} (queue {}, max_batch {}, max_wait {} ms); uploads kept only until answered",
           svc.predictor.summary(), host, bound, bo.queue, bo.max_batch, bo.max_wait.count());
  std::printf("serve: listening on http://%s:%d\n", host.c_str(), bound);
  std::fflush(stdout);

  catch_stop_signals();
  std::thread watcher([&] {  // stop on a signal or after max_requests answers
    while (server.is_running() || !svc.stopping) {
      if (stop_signal() != 0 || (svc.max_requests > 0 && svc.answered >= svc.max_requests)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    svc.stopping = true;
    server.stop();  // closes the listening socket; the worker threads finish the requests in flight
  });
  server.listen_after_bind();
  svc.stopping = true;
  watcher.join();
  svc.batcher.stop();
  std::error_code ec;
  fs::remove_all(svc.tmp, ec);
  log.info("serve: stopped ({}) after {} predictions", stop_signal() != 0 ? "signal" : "max_requests", svc.answered.load());
  return 0;
}

}  // namespace fracture::serve
