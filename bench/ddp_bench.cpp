// Data-parallel training throughput, side by side with PyTorch's DistributedDataParallel (Gloo) in
// the same process tree: one process with 2 threads against 2 processes with 1 thread each, for
// fracture (engine/distributed.h, the nproc launcher) and for torch (two ranks with torchrun's
// environment), on the
// same model, global batch and input size, random images (no data loading: the step alone).
//
//   build/bench/ddp_bench model=resnet18 imgsz=128 batch=16 steps=8 repeat=3   # from the checkout
//
// Each configuration runs as its own child process tree `repeat` times, alternating fracture and
// torch; the table shows medians. Per configuration: images per second (global batch x steps /
// wall time of the timed steps, after 2 warm-up steps), scaling efficiency (2 processes against 1
// process with the same 2 cores), and for fracture the share of a step spent in the gradient
// all-reduce (torch overlaps its all-reduce with the backward pass, so it has no such share).
// Worker mode (internal): worker=1, as one rank (RANK/WORLD_SIZE from the environment, or alone).
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "bench_common.h"
#include "fracture/core/log.h"
#include "fracture/engine/distributed.h"
#include "fracture/models/classifier.h"

namespace {

int worker(const std::string& model, int imgsz, int batch, int steps, int threads) {
  at::set_num_threads(threads);
  auto log = fracture::make_logger(false);
  const fracture::engine::DistEnv env = fracture::engine::dist_env_from_environment();
  std::unique_ptr<fracture::engine::DistGroup> g;
  if (env.world_size > 1) g = fracture::engine::DistGroup::connect(env, std::chrono::seconds(120));
  const int world = env.world_size, local = batch / world;
  torch::manual_seed(0);
  fracture::models::ClassifierOptions mo;
  mo.num_classes = 1;
  auto net = fracture::models::make_classifier(model, mo);
  net->train();
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-3));
  // the global batch, this rank's slice
  const torch::Tensor x_all = torch::randn({batch, 3, imgsz, imgsz});
  const torch::Tensor y_all = (torch::rand({batch}) > 0.5).to(torch::kFloat);
  const torch::Tensor x = x_all.narrow(0, env.rank * local, local), y = y_all.narrow(0, env.rank * local, local);
  double comm = 0;
  std::chrono::steady_clock::time_point t0;
  for (int s = 0; s < steps + 2; ++s) {
    if (s == 2) {
      if (g) g->barrier();
      t0 = std::chrono::steady_clock::now();
      comm = 0;
    }
    opt.zero_grad();
    torch::nn::functional::binary_cross_entropy_with_logits(net->forward(x).reshape({-1}), y).backward();
    if (g) {
      const auto tc = std::chrono::steady_clock::now();
      std::vector<torch::Tensor> grads;
      for (auto& p : net->parameters())
        if (p.grad().defined()) grads.push_back(p.mutable_grad());
      g->allreduce_mean(grads);
      comm += bench::seconds_since(tc);
    }
    opt.step();
  }
  if (g) g->barrier();
  const double wall = bench::seconds_since(t0);
  if (env.rank == 0)
    std::printf("RESULT fracture_w%d %.3f %.4f\n", world, double(batch) * steps / wall, g ? comm / wall : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string model = bench::arg(argc, argv, "model", "resnet18");
  const int imgsz = std::atoi(bench::arg(argc, argv, "imgsz", "128").c_str());
  const int batch = std::atoi(bench::arg(argc, argv, "batch", "16").c_str());
  const int steps = std::atoi(bench::arg(argc, argv, "steps", "8").c_str());
  const int repeat = std::atoi(bench::arg(argc, argv, "repeat", "3").c_str());
  const std::string common =
      "model=" + model + " imgsz=" + std::to_string(imgsz) + " batch=" + std::to_string(batch) + " steps=" + std::to_string(steps);
  if (!bench::arg(argc, argv, "nproc", "").empty()) {  // the launcher: this program as `nproc` ranks
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i)
      if (std::string(argv[i]).rfind("nproc=", 0) != 0) args.push_back(argv[i]);
    auto log = fracture::make_logger(false);
    return fracture::engine::launch_local(std::atoi(bench::arg(argc, argv, "nproc", "2").c_str()), args, *log);
  }
  if (bench::arg(argc, argv, "worker", "0") == "1")
    return worker(model, imgsz, batch, steps, std::atoi(bench::arg(argc, argv, "threads", "1").c_str()));
  bench::print_isa();
  const std::string self = argv[0];
  const std::string script = bench::arg(argc, argv, "script", "bench/ddp_bench.py");  // run from the checkout
  const std::string py = "/usr/bin/python3 " + script + " " + common;
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"fracture 1 x 2 threads", self + " worker=1 threads=2 " + common},
      {"torch 1 x 2 threads", py + " threads=2"},
      {"fracture 2 x 1 thread", self + " nproc=2 worker=1 threads=1 " + common},
      // torchrun's environment set by hand: Debian's torch.distributed.run stops with an AttributeError
      // in its elastic agent on this Python (3.11), before starting a rank
      {"torch 2 x 1 thread", "bash -c 'P=$((20000 + RANDOM % 20000)); for r in 0 1; do RANK=$r WORLD_SIZE=2 "
                             "LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$P /usr/bin/python3 " + script + " " +
                             common + " threads=1 & done; wait'"}};
  std::map<std::string, std::vector<double>> ips, share;
  for (int r = 0; r < repeat; ++r)
    for (const auto& [name, cmd] : runs)
      for (const auto& [k, v] : bench::run_child(cmd)) {
        ips[name].push_back(v.at(0));
        if (v.size() > 1) share[name].push_back(v[1]);
      }
  auto median = [](std::vector<double> v) -> double {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("ddp_bench %s, global batch %d at %d px, %d timed steps, median of %d runs, 2 cores\n", model.c_str(),
              batch, imgsz, steps, repeat);
  std::printf("| configuration | images/s | vs 1 process (same framework) | all-reduce share of a step |\n|---|---|---|---|\n");
  for (const auto& [name, cmd] : runs) {
    const bool two = name.find("2 x") != std::string::npos;
    const std::string base = name.substr(0, name.find(' ')) + " 1 x 2 threads";
    std::printf("| %s | %.2f | %s | %s |\n", name.c_str(), median(ips[name]),
                two ? std::to_string(median(ips[name]) / median(ips[base])).substr(0, 4).c_str() : "1",
                share[name].empty() || !two ? "-" : std::to_string(median(share[name])).substr(0, 5).c_str());
  }
  return 0;
}
