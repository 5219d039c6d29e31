// A bounded request queue with dynamic batching for one model: requests wait in a queue of at most
// `queue` entries; one worker thread takes up to `max_batch` of them, waiting at most `max_wait`
// after the first for more, runs them together and answers each. A full queue refuses at once
// (the service answers 503 with Retry-After), so memory stays bounded.
//
//   fracture::serve::Batcher b([&](const std::vector<fracture::ClsItem>& items) { return predictor.predict(items); }, {});
//   std::optional<std::future<fracture::serve::Answer>> f = b.submit(item);   // nullopt: queue full
//   fracture::serve::Answer a = f->get();   // a.prediction, or a.error when that image failed
//   b.stop();                               // answers what is queued, then joins the worker
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fracture/data/dataset.h"
#include "fracture/engine/predictor.h"

namespace fracture::serve {

struct BatcherOptions {
  size_t queue = 64;                        ///< requests waiting, at most
  size_t max_batch = 8;                     ///< images run together, at most
  std::chrono::milliseconds max_wait{10};   ///< wait after the first request for more
};

struct Answer {
  std::optional<engine::ImagePrediction> prediction;
  std::string error;  ///< why this image failed (unreadable, no pixel data, ...); empty on success
  size_t batch = 0;   ///< the size of the batch it ran in
};

class Batcher {
 public:
  using Run = std::function<std::vector<engine::ImagePrediction>(const std::vector<ClsItem>&)>;
  Batcher(Run run, BatcherOptions opt);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  /// Queues one image; nullopt when the queue is full or the batcher is stopping.
  std::optional<std::future<Answer>> submit(ClsItem item);
  size_t depth() const;
  /// Answers every queued request, then joins the worker. Idempotent.
  void stop();

 private:
  struct Job {
    ClsItem item;
    std::promise<Answer> promise;
  };
  void work();
  Run run_;
  BatcherOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> q_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace fracture::serve
