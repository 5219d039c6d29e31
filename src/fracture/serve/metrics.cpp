#include "fracture/serve/metrics.h"

#include <cstdio>
#include <sstream>

namespace fracture::serve {

namespace {
const double kLatencyBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const double kBatchBuckets[] = {1, 2, 4, 8, 16, 32};

template <size_t N>
void observe(std::vector<long>& counts, const double (&bounds)[N], double v) {
  if (counts.empty()) counts.assign(N + 1, 0);
  size_t i = 0;
  while (i < N && v > bounds[i]) ++i;
  ++counts[i];
}

template <size_t N>
void histogram(std::ostringstream& o, const std::string& name, const std::vector<long>& counts, const double (&bounds)[N],
               double sum, long n) {
  long cum = 0;
  for (size_t i = 0; i <= N; ++i) {
    cum += counts.empty() ? 0 : counts[i];
    char le[32];
    if (i < N) std::snprintf(le, sizeof le, "%g", bounds[i]); else std::snprintf(le, sizeof le, "+Inf");
    o << name << "_bucket{le=\"" << le << "\"} " << cum << "\n";
  }
  o << name << "_sum " << sum << "\n" << name << "_count " << n << "\n";
}
}  // namespace

void Metrics::request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lk(mu_);
  ++requests_[{route, status}];
  observe(latency_counts_, kLatencyBuckets, seconds);
  latency_sum_ += seconds;
  ++latency_n_;
}

void Metrics::error(const std::string& kind) {
  std::lock_guard<std::mutex> lk(mu_);
  ++errors_[kind];
}

void Metrics::batch(size_t size) {
  std::lock_guard<std::mutex> lk(mu_);
  observe(batch_counts_, kBatchBuckets, double(size));
  batch_sum_ += long(size);
  ++batches_;
}

std::string Metrics::prometheus(size_t queue_depth) const {
  std::lock_guard<std::mutex> lk(mu_);
  std::ostringstream o;
  o << "# HELP fracture_requests_total HTTP requests answered, by route and status.\n"
    << "# TYPE fracture_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    o << "fracture_requests_total{route=\"" << k.first << "\",status=\"" << k.second << "\"} " << n << "\n";
  o << "# HELP fracture_errors_total Requests refused or failed, by kind.\n# TYPE fracture_errors_total counter\n";
  for (const auto& [k, n] : errors_) o << "fracture_errors_total{kind=\"" << k << "\"} " << n << "\n";
  o << "# HELP fracture_request_seconds Time from request to answer.\n# TYPE fracture_request_seconds histogram\n";
  histogram(o, "fracture_request_seconds", latency_counts_, kLatencyBuckets, latency_sum_, latency_n_);
  o << "# HELP fracture_batch_size Images per model run.\n# TYPE fracture_batch_size histogram\n";
  histogram(o, "fracture_batch_size", batch_counts_, kBatchBuckets, double(batch_sum_), batches_);
  o << "# HELP fracture_queue_depth Requests waiting for the model.\n# TYPE fracture_queue_depth gauge\n"
    << "fracture_queue_depth " << queue_depth << "\n";
  return o.str();
}

}  // namespace fracture::serve
