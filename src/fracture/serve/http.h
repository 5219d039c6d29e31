// `fracture serve model=RUN_DIR host=127.0.0.1 port=8080`: the prediction of `fracture predict`
// over HTTP, the model loaded once, requests batched (serve/batcher.h).
//
//   fracture::Config cfg = fracture::Config::defaults();
//   cfg.set("model", "runs/study/study", "example");
//   int status = fracture::serve::run_http(cfg, *log);   // until SIGTERM / SIGINT (or max_requests)
//
// Routes:
//   POST /v1/predict[?overlay=true]  body: a PNG, JPEG, TIFF, BMP or DICOM Part 10 file (raw, or the
//        multipart part named "file"); answer: the JSON `fracture predict` writes for that file
//        ("file" is the upload's name, "overlay_png_base64" added with overlay=true)
//   GET  /health      {"status": "ok", "model_loaded": true, "ready": true}; 503 while shutting down
//   GET  /metrics     Prometheus text (serve/metrics.h)
//   GET  /v1/model    Predictor::info() and the batching limits
// Errors are JSON {"error": "...", "status": N}: 400 (empty body, bad multipart, a path-like file
// name), 413 (Content-Length over max_upload_mb, refused before the body is read), 415 (not an
// image or DICOM), 422 (an image that cannot be decoded, a DICOM without pixel data), 503 with
// Retry-After (queue full, or shutting down), 408 (a client slower than read_timeout).
// Privacy: an upload lives in a private temporary folder (mode 0700) only until its answer; logs
// name a request by number and a hash (of the SOP Instance UID for DICOM, of the bytes otherwise),
// never a patient attribute or the client's file name.
#pragma once
#include "fracture/core/config.h"
#include "fracture/core/log.h"

namespace fracture::serve {

/// Serves until SIGTERM or SIGINT (in-flight requests are answered first) or until max_requests
/// predictions have been answered (tests). Returns the process exit status.
int run_http(const Config& cfg, Logger& log);

}  // namespace fracture::serve
