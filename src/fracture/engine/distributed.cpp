// c10d's Gloo process group (libtorch_cpu exports it; the gloo headers come from Debian's libgloo-dev,
// the library libtorch itself links).
#define USE_C10D_GLOO 1
#include "fracture/engine/distributed.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <functional>
#include <thread>

#include "fracture/core/error.h"

namespace fracture::engine {

namespace {

std::string what_of(const std::exception& e) {
  std::string w = e.what();
  const size_t nl = w.find('\n');  // c10::Error appends a C++ stack trace
  return nl == std::string::npos ? w : w.substr(0, nl);
}

}  // namespace

struct DistGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::chrono::milliseconds timeout{60000};
  int rank = 0, world = 1;
  std::string where;  ///< MASTER_ADDR:MASTER_PORT

  // After a failed collective: which ranks are gone. A dead process closes its connections, so every
  // survivor's collective fails within moments; each checks in on the rendezvous store, and the
  // ranks that have not within a few seconds are named. Rank 0 serves the store: when it is gone,
  // the store is unreachable, which names it.
  std::string lost_ranks() {
    const auto window = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(10));
    try {
      store->setTimeout(window);
      store->set("fracture/alive/" + std::to_string(rank), std::vector<uint8_t>{1});
      std::vector<int> missing;
      const auto until = std::chrono::steady_clock::now() + window;
      do {
        missing.clear();
        for (int r = 0; r < world; ++r)
          if (r != rank && !store->check({"fracture/alive/" + std::to_string(r)})) missing.push_back(r);
        if (missing.empty()) return "every rank is still up (the ranks ran different collectives)";
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      } while (std::chrono::steady_clock::now() < until);
      std::string names;
      for (int r : missing) names += (names.empty() ? "" : ", ") + std::to_string(r);
      return (missing.size() == 1 ? "rank " : "ranks ") + names + " of " + std::to_string(world) + " lost (no answer on " +
             "the rendezvous store within " + std::to_string(window.count() / 1000) + " s)";
    } catch (const std::exception&) {
      return rank == 0 ? std::string("the rendezvous store does not answer")
                       : "rank 0 of " + std::to_string(world) + " lost (the rendezvous store it serves at " + where +
                             " does not answer)";
    }
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& w, const char* op) {
    try {
      w->wait(timeout);
    } catch (const std::exception& e) {
      FRACTURE_FAIL("distributed: rank ", rank, " of ", world, ": ", op, " failed: ", lost_ranks(), " [", what_of(e),
                    "] (a rank that stalls is waited for up to dist_timeout = ", timeout.count() / 1000.0, " s)");
    }
  }
};

DistGroup::DistGroup() : impl_(std::make_unique<Impl>()) {}
DistGroup::~DistGroup() = default;

std::unique_ptr<DistGroup> DistGroup::connect(const DistEnv& env, std::chrono::milliseconds timeout) {
  std::unique_ptr<DistGroup> g(new DistGroup());
  Impl& m = *g->impl_;
  m.rank = env.rank;
  m.world = env.world_size;
  m.timeout = timeout;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  m.where = where;
  try {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = size_t(env.world_size);
    so.waitWorkers = true;
    so.timeout = timeout;
    m.store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    FRACTURE_FAIL("distributed: rank ", env.rank, " of ", env.world_size, ": no rendezvous at ", where, " within ",
                  timeout.count() / 1000.0, " s (", env.rank == 0 ? "is the port in use?" : "is rank 0 up and the address reachable?",
                  "): ", what_of(e));
  }
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    const bool loopback = env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    opts->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                            : loopback        ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                              : c10d::ProcessGroupGloo::createDefaultDevice());
    m.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(m.store, env.rank, env.world_size, opts);
  } catch (const std::exception& e) {
    FRACTURE_FAIL("distributed: rank ", env.rank, " of ", env.world_size, ": the Gloo group at ", where,
                  " did not form within ", timeout.count() / 1000.0, " s: ", what_of(e));
  }
  return g;
}

int DistGroup::rank() const { return impl_->rank; }
int DistGroup::world_size() const { return impl_->world; }

namespace {
// One flat CPU bucket: in the tensors' common dtype, float32 when they differ.
torch::Tensor flat_bucket(const std::vector<torch::Tensor>& tensors) {
  torch::ScalarType dt = tensors[0].scalar_type();
  for (const auto& t : tensors)
    if (t.scalar_type() != dt) dt = torch::kFloat;
  std::vector<torch::Tensor> parts;
  for (const auto& t : tensors) parts.push_back(t.detach().to(torch::kCPU, dt).reshape(-1));
  return torch::cat(parts);
}
}  // namespace

void DistGroup::allreduce_sum(std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return;
  std::vector<torch::Tensor> bucket{flat_bucket(tensors)};
  impl_->wait(impl_->pg->allreduce(bucket), "all-reduce");
  int64_t off = 0;
  for (auto& t : tensors) {
    const int64_t n = t.numel();
    torch::NoGradGuard ng;
    t.copy_(bucket[0].narrow(0, off, n).view(t.sizes()));
    off += n;
  }
}

void DistGroup::allreduce_mean(std::vector<torch::Tensor>& tensors) {
  allreduce_sum(tensors);
  torch::NoGradGuard ng;
  for (auto& t : tensors) t.div_(impl_->world);
}

void DistGroup::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (tensors.empty()) return;
  std::vector<torch::Tensor> bucket{flat_bucket(tensors)};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  impl_->wait(impl_->pg->broadcast(bucket, o), "broadcast");
  int64_t off = 0;
  for (auto& t : tensors) {
    torch::NoGradGuard ng;
    t.copy_(bucket[0].narrow(0, off, t.numel()).view(t.sizes()));
    off += t.numel();
  }
}

void DistGroup::broadcast_bytes(std::string& bytes, int root) {
  std::vector<torch::Tensor> size{torch::tensor({int64_t(bytes.size())}, torch::kLong)};
  broadcast(size, root);
  const int64_t n = size[0].item<int64_t>();
  if (n == 0) {
    bytes.clear();
    return;
  }
  std::vector<torch::Tensor> buf{impl_->rank == root ? torch::from_blob(bytes.data(), {n}, torch::kUInt8).clone()
                                                     : torch::empty({n}, torch::kUInt8)};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  impl_->wait(impl_->pg->broadcast(buf, o), "broadcast");
  bytes.assign(reinterpret_cast<const char*>(buf[0].data_ptr<uint8_t>()), size_t(n));
}

void DistGroup::barrier() { impl_->wait(impl_->pg->barrier(), "barrier"); }

void DistGroup::check_same(const std::string& what, const std::string& value) {
  // each rank's hash (a double: exact for a 52-bit value) gathered by summing one-hot slots
  const double h = double(std::hash<std::string>{}(value) & ((uint64_t(1) << 52) - 1));
  std::vector<torch::Tensor> slots{torch::zeros({impl_->world}, torch::kDouble)};
  slots[0][impl_->rank] = h;
  impl_->wait(impl_->pg->allreduce(slots), "all-reduce");
  for (int r = 0; r < impl_->world; ++r)
    FRACTURE_CHECK(slots[0][r].item<double>() == slots[0][0].item<double>(), "distributed: rank ", r, "'s ", what,
                   " differs from rank 0's (every rank must run the same version with the same keys)");
}

}  // namespace fracture::engine
