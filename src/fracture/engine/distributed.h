// Data-parallel groups on torch.distributed's c10d, as PyTorch's DistributedDataParallel uses them
// on CPU: a TCPStore rendezvous at MASTER_ADDR:MASTER_PORT (rank 0 serves it) and a
// ProcessGroupGloo; the environment is torchrun's, so torchrun-style launchers, srun and mpirun
// wrappers start us unchanged.
//
//   fracture::engine::DistEnv env = fracture::engine::dist_env_from_environment();   // RANK, WORLD_SIZE, ...
//   if (env.world_size > 1) {
//     auto group = fracture::engine::DistGroup::connect(env, std::chrono::seconds(60));
//     group->allreduce_mean(grads);   // one flat bucket, summed by Gloo's ring all-reduce, divided by the world size
//     group->broadcast(params, 0);    // rank 0's tensors on every rank
//   }
//
// Gradients go through one flattened bucket per call (bucketed all-reduce) rather than c10d's
// Reducer: the Reducer hooks autograd of a DistributedDataParallel module, which the C++ frontend
// does not have; one bucket per step costs one collective instead of one per parameter. Every wait
// has the group's timeout: a rank that died makes the others fail with an error, never hang.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include "fracture/core/config.h"
#include "fracture/core/log.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fracture::engine {

/// torchrun's environment. Without RANK / WORLD_SIZE: one process (rank 0 of 1).
struct DistEnv {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

/// Reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT. Throws
/// fracture::Error naming the variable when one is malformed (RANK outside [0, WORLD_SIZE), a port
/// outside 1-65535, WORLD_SIZE without RANK, ...).
DistEnv dist_env_from_environment();

/// One process group (Gloo). Not copyable; collectives block until every rank has joined them.
class DistGroup {
 public:
  /// Rendezvous and group. Throws fracture::Error naming MASTER_ADDR:MASTER_PORT and the timeout
  /// when the group cannot form (port in use on rank 0, master unreachable, a rank missing).
  static std::unique_ptr<DistGroup> connect(const DistEnv& env, std::chrono::milliseconds timeout);
  ~DistGroup();

  int rank() const;
  int world_size() const;
  /// In place: every tensor becomes the mean over ranks (one flat bucket in the tensors' dtype,
  /// float32 when they differ).
  void allreduce_mean(std::vector<torch::Tensor>& tensors);
  /// In place: every tensor becomes the sum over ranks.
  void allreduce_sum(std::vector<torch::Tensor>& tensors);
  /// In place: every tensor becomes root's.
  void broadcast(std::vector<torch::Tensor>& tensors, int root);
  /// `bytes` becomes root's (any length: a file's contents).
  void broadcast_bytes(std::string& bytes, int root);
  void barrier();
  /// The same string on every rank (a config hash): throws naming the first rank whose value differs.
  void check_same(const std::string& what, const std::string& value);

 private:
  DistGroup();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One data-parallel command, from start to end: with WORLD_SIZE > 1 it joins the group (timeout:
/// key dist_timeout, seconds), checks that every rank runs the same version with the same resolved
/// keys, and sets the default group; ranks other than 0 log warnings only and write into a scratch
/// project removed at the end, so only rank 0 writes the run directory. With one process: nothing.
/// Throws fracture::Error for a command that is not data-parallel (classify train and cv are).
class DistributedCommand {
 public:
  DistributedCommand(Config& cfg, Logger& log, const std::string& command);
  ~DistributedCommand();
  DistributedCommand(const DistributedCommand&) = delete;
  DistributedCommand& operator=(const DistributedCommand&) = delete;

 private:
  std::filesystem::path scratch_;
};

/// Every parameter and floating-point buffer of `net` becomes rank `root`'s (the same start on every rank).
void broadcast_module(DistGroup& group, torch::nn::Module& net, int root = 0);
/// Every defined parameter gradient of `net` becomes the ranks' mean (one bucket): the gradient of
/// the mean loss over all ranks' images, so every rank takes the same optimiser step.
void average_gradients(DistGroup& group, torch::nn::Module& net);

/// Every rank gets rank 0's copy of the files under `dir` that `include` accepts (called on rank 0
/// with paths relative to `dir`): rank 0 reads and broadcasts them one by one, the others write them
/// atomically under `scratch`, so nodes need no shared file system. Returns `dir` on rank 0,
/// `scratch` elsewhere. Every rank calls it.
std::filesystem::path mirror_dir(DistGroup& group, const std::filesystem::path& dir, const std::filesystem::path& scratch,
                                 const std::function<bool(const std::filesystem::path& rel)>& include);

/// `nproc=N`: runs `args` (the command line without nproc=) N times on this machine as ranks 0..N-1
/// of one group (torchrun's environment, MASTER_ADDR 127.0.0.1 and a free port) and waits for all.
/// When one exits non-zero the others are stopped (SIGTERM) and its status returned, with a line
/// naming the rank. Rank 0's output passes through; the others' standard output is discarded.
int launch_local(int nproc, const std::vector<std::string>& args, Logger& log);

/// The process's group for data-parallel training (torch.distributed's default group): set once at
/// start-up by the command line when WORLD_SIZE > 1; null in a single process. The trainers use it.
DistGroup* default_group();
void set_default_group(std::unique_ptr<DistGroup> group);

}  // namespace fracture::engine
