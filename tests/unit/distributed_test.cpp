// The c10d Gloo group (engine/distributed.h) on loopback: two ranks as two threads of this process
// (Gloo's TCP transport between them), a free port per test, timeouts of a few seconds.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <torch/torch.h>

#include <future>
#include <string>

#include "fracture/core/error.h"
#include "fracture/engine/distributed.h"
#include "fracture/engine/sync_batchnorm.h"

using namespace fracture;
using namespace fracture::engine;

namespace {

int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

DistEnv env_of(int rank, int world, int port) {
  DistEnv e;
  e.rank = rank;
  e.world_size = world;
  e.master_port = port;
  return e;
}

struct EnvGuard {  // restores the variables a test sets
  ~EnvGuard() {
    for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(k);
  }
};

}  // namespace

TEST(Distributed, EnvironmentAsTorchrunSetsIt) {
  EnvGuard g;
  DistEnv one = dist_env_from_environment();
  EXPECT_EQ(one.world_size, 1);
  EXPECT_EQ(one.rank, 0);
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "3", 1);
  ::setenv("LOCAL_WORLD_SIZE", "2", 1);
  ::setenv("MASTER_ADDR", "10.0.0.7", 1);
  ::setenv("MASTER_PORT", "29555", 1);
  DistEnv e = dist_env_from_environment();
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.local_rank, 1);  // no LOCAL_RANK: rank % LOCAL_WORLD_SIZE
  EXPECT_EQ(e.master_addr, "10.0.0.7");
  EXPECT_EQ(e.master_port, 29555);
  auto fails_with = [](const char* key, const char* value, const std::string& msg) {
    const std::string old = std::getenv(key) ? std::getenv(key) : "";
    ::setenv(key, value, 1);
    try {
      dist_env_from_environment();
      ADD_FAILURE() << key << "=" << value << " accepted";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(msg), std::string::npos) << err.what();
    }
    ::setenv(key, old.c_str(), 1);
  };
  fails_with("RANK", "4", "environment RANK='4': expected an integer from 0 to 3");
  fails_with("MASTER_PORT", "70000", "environment MASTER_PORT='70000'");
  fails_with("WORLD_SIZE", "two", "environment WORLD_SIZE='two'");
  ::unsetenv("RANK");
  try {
    dist_env_from_environment();
    ADD_FAILURE() << "WORLD_SIZE without RANK accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("RANK and WORLD_SIZE must be set together"), std::string::npos);
  }
}

TEST(Distributed, TwoRanksAllReduceBroadcastAndAgree) {
  const int port = free_port();
  auto rank_main = [port](int rank) {
    auto g = DistGroup::connect(env_of(rank, 2, port), std::chrono::seconds(20));
    EXPECT_EQ(g->rank(), rank);
    EXPECT_EQ(g->world_size(), 2);
    // two tensors of different shapes in one bucket: rank r holds r + 1 and 10 (r + 1)
    std::vector<torch::Tensor> t{torch::full({2, 3}, float(rank + 1)), torch::full({4}, 10.0f * (rank + 1))};
    g->allreduce_mean(t);
    EXPECT_TRUE(torch::equal(t[0], torch::full({2, 3}, 1.5f)));
    EXPECT_TRUE(torch::equal(t[1], torch::full({4}, 15.0f)));
    std::vector<torch::Tensor> s{torch::full({3}, float(rank))};
    g->allreduce_sum(s);
    EXPECT_TRUE(torch::equal(s[0], torch::full({3}, 1.0f)));
    std::vector<torch::Tensor> b{torch::arange(5, torch::kFloat) * float(rank + 7)};
    g->broadcast(b, 1);  // rank 1's values: arange * 8
    EXPECT_TRUE(torch::equal(b[0], torch::arange(5, torch::kFloat) * 8.0f));
    g->check_same("config", "model: resnet18");
    g->barrier();
    bool refused = false;
    try {
      g->check_same("config", rank == 0 ? "epochs: 1" : "epochs: 2");
    } catch (const Error& e) {
      refused = std::string(e.what()).find("distributed: rank 1's config differs from rank 0's") != std::string::npos;
    }
    EXPECT_TRUE(refused) << "rank " << rank;
    return true;
  };
  auto r1 = std::async(std::launch::async, rank_main, 1);
  EXPECT_TRUE(rank_main(0));
  EXPECT_TRUE(r1.get());
}

TEST(Distributed, MissingRankIsAClearErrorNotAHang) {
  const int port = free_port();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    DistGroup::connect(env_of(0, 2, port), std::chrono::seconds(2));  // rank 1 never comes
    FAIL() << "expected a rendezvous error";
  } catch (const Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("distributed: rank 0 of 2"), std::string::npos) << w;
    EXPECT_NE(w.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << w;
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
}

TEST(Distributed, PortInUseOnRankZeroIsNamed) {
  // a listening socket holds the port: rank 0 cannot serve the rendezvous there
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  try {
    DistGroup::connect(env_of(0, 1, ntohs(a.sin_port)), std::chrono::seconds(2));
    ADD_FAILURE() << "expected: port in use";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is the port in use?"), std::string::npos) << e.what();
  }
  ::close(s);
}

// SyncBatchNorm (engine/sync_batchnorm.h) against torch's own BatchNorm2d on the whole batch: two
// ranks with 3 images each give rank 0's and rank 1's rows of torch's output and input gradient,
// weight and bias gradients that sum to torch's, and torch's running statistics. Tolerance 1e-5:
// float32 with the statistics merged in float64 (torch sums in another order).
TEST(Distributed, SyncBatchNormEqualsBatchNormOnTheWholeBatch) {
  torch::manual_seed(11);
  const torch::Tensor x = torch::randn({6, 4, 5, 3}) * 3 + 1;  // 6 images, 4 channels
  const torch::Tensor r = torch::randn({6, 4, 5, 3});          // loss = sum(y * r)
  auto make_bn = [] {
    torch::nn::BatchNorm2d bn(torch::nn::BatchNorm2dOptions(4).momentum(0.1).eps(1e-3));
    torch::NoGradGuard ng;
    bn->weight.copy_(torch::tensor({0.5f, 1.0f, 1.5f, -2.0f}));
    bn->bias.copy_(torch::tensor({0.1f, 0.2f, -0.3f, 0.4f}));
    bn->train();
    return bn;
  };
  auto ref = make_bn();
  const torch::Tensor xr = x.clone().requires_grad_(true);
  const torch::Tensor yr = ref->forward(xr);
  (yr * r).sum().backward();

  const int port = free_port();
  auto rank_main = [&](int rank) {
    auto g = DistGroup::connect(env_of(rank, 2, port), std::chrono::seconds(20));
    auto bn = make_bn();
    const torch::Tensor xs = x.narrow(0, 3 * rank, 3).clone().requires_grad_(true);
    const torch::Tensor y = sync_batch_norm(*bn, xs, *g);
    (y * r.narrow(0, 3 * rank, 3)).sum().backward();
    EXPECT_TRUE(torch::allclose(y, yr.narrow(0, 3 * rank, 3), 1e-5, 1e-5)) << "rank " << rank;
    EXPECT_TRUE(torch::allclose(xs.grad(), xr.grad().narrow(0, 3 * rank, 3), 1e-5, 1e-5)) << "rank " << rank;
    std::vector<torch::Tensor> wb{bn->weight.grad().clone(), bn->bias.grad().clone()};
    g->allreduce_sum(wb);
    EXPECT_TRUE(torch::allclose(wb[0], ref->weight.grad(), 1e-5, 1e-4)) << wb[0] << ref->weight.grad();
    EXPECT_TRUE(torch::allclose(wb[1], ref->bias.grad(), 1e-5, 1e-4));
    EXPECT_TRUE(torch::allclose(bn->running_mean, ref->running_mean, 1e-5, 1e-5));
    EXPECT_TRUE(torch::allclose(bn->running_var, ref->running_var, 1e-5, 1e-5)) << bn->running_var << ref->running_var;
    EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
    return true;
  };
  auto r1 = std::async(std::launch::async, rank_main, 1);
  EXPECT_TRUE(rank_main(0));
  EXPECT_TRUE(r1.get());
}
