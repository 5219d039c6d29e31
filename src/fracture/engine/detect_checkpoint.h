// The resume state of a detect training run: per-epoch checkpoints in weights/, written atomically.
//
//   fracture::engine::TrainState st;   // after an epoch of detect_train:
//   fracture::engine::save_epoch_checkpoint(wdir, st, epoch, nb, is_best, best, *net, *ema_net, *opt);
//   auto back = fracture::engine::restore_run(run, wdir, *net, *ema_net, ema, *opt, rows);   // resume=
//   auto local = fracture::engine::mirror_run(*group, run, scratch);   // data-parallel: rank 0's files
//
// Files (weights/): resume_e<N>_{model,ema,optimizer,grads}.safetensors (engine/optimizer_state.h) after N
// epochs, then last_state.json (written last) naming the set in force; a kill while a set is half
// written leaves the previous set named. The state is per model, not per rank: a data-parallel run's
// pending gradients are the ranks' average, so a resume may use any number of processes.
#pragma once
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fracture/engine/ema.h"
#include "fracture/models/weights/checkpoint.h"

namespace fracture::engine {

class DistGroup;

/// weights/last_state.json.
struct TrainState {
  int epochs_done = 0;
  double best_fitness = 0.0;
  int best_epoch = 0;
  int64_t ema_updates = 0;
  int64_t last_opt_step = -1;
  double elapsed = 0.0;
  bool finished = false;  ///< no epoch left to train (all done, or stopped early); final validation may be due
  bool grads = false;     ///< the checkpoint has pending accumulated gradients
  int world_size = 1;     ///< data-parallel processes that wrote it (a resume may use another number)
};

/// The run directory of `resume` (a run directory, or a file in its weights/): one with args.yaml and
/// weights/last_state.json, or one killed before its first checkpoint (core/rundir.h stopped_at_birth:
/// args.yaml and at most weights/, skipped.csv, results.csv), which the caller trains from the
/// start, in place. Throws naming `resume` for anything else.
std::filesystem::path resume_dir(const std::string& resume);

/// Loads the checkpoint last_state.json names into net, ema_net, ema and opt (pending gradients
/// into net's .grad) and results.csv's rows of the finished epochs into csv_rows. Throws when the
/// run has already finished and been validated.
TrainState restore_run(const std::filesystem::path& run, const std::filesystem::path& wdir, torch::nn::Module& net,
                       torch::nn::Module& ema_net, ModelEMA& ema, torch::optim::Optimizer& opt,
                       std::vector<std::string>& csv_rows);

/// Writes the checkpoint after `epoch` (0-based; st.epochs_done already counts it): EMA and model
/// weights, optimiser, pending gradients (when the epoch ended between optimiser steps), last and
/// best (when is_best) for users, then the state; removes the previous set.
void save_epoch_checkpoint(const std::filesystem::path& wdir, TrainState& st, int epoch, int64_t nb, bool is_best,
                           const models::NamedTensors& best_state, torch::nn::Module& net, torch::nn::Module& ema_net,
                           torch::optim::Optimizer& opt);

/// Data-parallel resume: rank 0 sends the files a resume reads (args.yaml, results.csv, weights/
/// but last.safetensors) of `run` (engine/distributed.h mirror_dir); every other rank writes them
/// under `scratch` and gets that path back (rank 0 gets `run`). Every rank calls it.
std::filesystem::path mirror_run(DistGroup& group, const std::filesystem::path& run, const std::filesystem::path& scratch);

}  // namespace fracture::engine
