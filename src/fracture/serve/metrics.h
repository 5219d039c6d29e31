// The service's counters in Prometheus' text format (GET /metrics): requests by route and status,
// errors by kind, request latency and batch size histograms, the queue depth.
//
//   fracture::serve::Metrics m;
//   m.request("/v1/predict", 200, 0.042);      // route, status, seconds
//   m.error("unsupported_media_type");
//   m.batch(4);
//   std::string text = m.prometheus(queue_depth);
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace fracture::serve {

class Metrics {
 public:
  void request(const std::string& route, int status, double seconds);
  void error(const std::string& kind);
  void batch(size_t size);
  std::string prometheus(size_t queue_depth) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, long> requests_;
  std::map<std::string, long> errors_;
  std::vector<long> latency_counts_;  ///< cumulative-ready per bucket of kLatencyBuckets, then +Inf
  double latency_sum_ = 0;
  long latency_n_ = 0;
  std::vector<long> batch_counts_;
  long batch_sum_ = 0, batches_ = 0;
};

}  // namespace fracture::serve
