#include "fracture/serve/batcher.h"

#include <exception>

namespace fracture::serve {

Batcher::Batcher(Run run, BatcherOptions opt) : run_(std::move(run)), opt_(opt) {
  if (opt_.max_batch == 0) opt_.max_batch = 1;
  worker_ = std::thread([this] { work(); });
}

Batcher::~Batcher() { stop(); }

std::optional<std::future<Answer>> Batcher::submit(ClsItem item) {
  std::lock_guard<std::mutex> lk(mu_);
  if (stopping_ || q_.size() >= opt_.queue) return std::nullopt;
  Job j{std::move(item), {}};
  std::future<Answer> f = j.promise.get_future();
  q_.push_back(std::move(j));
  cv_.notify_one();
  return f;
}

size_t Batcher::depth() const {
  std::lock_guard<std::mutex> lk(mu_);
  return q_.size();
}

void Batcher::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Batcher::work() {
  for (;;) {
    std::vector<Job> batch;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !q_.empty(); });
      if (q_.empty()) return;  // stopping, nothing left
      // the first request starts the clock: wait up to max_wait for the batch to fill
      const auto until = std::chrono::steady_clock::now() + opt_.max_wait;
      cv_.wait_until(lk, until, [&] { return stopping_ || q_.size() >= opt_.max_batch; });
      while (!q_.empty() && batch.size() < opt_.max_batch) {
        batch.push_back(std::move(q_.front()));
        q_.pop_front();
      }
    }
    std::vector<ClsItem> items;
    for (const Job& j : batch) items.push_back(j.item);
    try {
      std::vector<engine::ImagePrediction> out = run_(items);
      for (size_t i = 0; i < batch.size(); ++i) batch[i].promise.set_value(Answer{std::move(out[i]), "", batch.size()});
    } catch (const std::exception&) {
      // one bad image fails its batch: run each alone, so only it gets the error
      for (Job& j : batch) {
        try {
          std::vector<engine::ImagePrediction> one = run_({j.item});
          j.promise.set_value(Answer{std::move(one[0]), "", 1});
        } catch (const std::exception& e) {
          j.promise.set_value(Answer{std::nullopt, e.what(), 1});
        }
      }
    }
  }
}

}  // namespace fracture::serve
