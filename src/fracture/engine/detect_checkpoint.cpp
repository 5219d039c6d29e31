#include "fracture/engine/detect_checkpoint.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <map>

#include "fracture/core/error.h"
#include "fracture/core/json_file.h"
#include "fracture/core/fs.h"
#include "fracture/core/rundir.h"
#include "fracture/engine/distributed.h"
#include "fracture/engine/optimizer_state.h"
#include "fracture/report/detect_files.h"

namespace fracture::engine {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The resume files of the checkpoint after `epochs_done` epochs carry that number in their names
// (weights/resume_e<N>_{model,ema,optimizer,grads}.safetensors). last_state.json,
// written last and atomically, names the set in force: a kill while a checkpoint is half written
// leaves the previous complete set named, and the set it replaces is deleted only after.
fs::path resume_file(const fs::path& wdir, int epochs_done, const char* part) {
  return wdir / ("resume_e" + std::to_string(epochs_done) + "_" + part);
}

void save_state(const fs::path& wdir, const TrainState& s) {
  json j;
  j["epochs_done"] = s.epochs_done;
  j["best_fitness"] = s.best_fitness;
  j["best_epoch"] = s.best_epoch;
  j["ema_updates"] = s.ema_updates;
  j["last_opt_step"] = s.last_opt_step;
  j["elapsed_s"] = s.elapsed;
  j["finished"] = s.finished;
  j["grads"] = s.grads;
  j["world_size"] = s.world_size;
  j["resume_files"] = resume_file("", s.epochs_done, "*").string();
  write_file_atomic(wdir / "last_state.json", j.dump(2));
}

TrainState state_from_json(const json& j, const fs::path& f) {
  FRACTURE_CHECK(j.contains("resume_files"), f.string(), ": a checkpoint of an older fracture (resume files without ",
                 "epoch numbers); it cannot be resumed safely, start the run again");
  TrainState s;
  s.epochs_done = j.at("epochs_done").get<int>();
  s.best_fitness = j.at("best_fitness").get<double>();
  s.best_epoch = j.at("best_epoch").get<int>();
  s.ema_updates = j.at("ema_updates").get<int64_t>();
  s.last_opt_step = j.at("last_opt_step").get<int64_t>();
  s.elapsed = j.value("elapsed_s", 0.0);
  s.finished = j.value("finished", false);
  s.grads = j.value("grads", false);
  s.world_size = j.value("world_size", 1);
  return s;
}

TrainState load_state(const fs::path& wdir) {
  const fs::path f = wdir / "last_state.json";
  const json j = read_json_file(f);
  try {
    return state_from_json(j, f);
  } catch (const json::exception& e) {
    FRACTURE_FAIL(f.string(), ": unreadable (", e.what(), ")");
  }
}

// Deletes the resume files of every checkpoint but the one after `keep` epochs.
void remove_other_resume_files(const fs::path& wdir, int keep) {
  const std::string mine = resume_file("", keep, "").string();
  std::vector<fs::path> old;
  for (const auto& e : fs::directory_iterator(wdir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("resume_e", 0) == 0 && n.rfind(mine, 0) != 0) old.push_back(e.path());
  }
  for (const auto& f : old) fs::remove(f);
}

models::NamedTensors grads_of(const torch::nn::Module& m) {
  models::NamedTensors g;
  for (const auto& p : m.named_parameters(true))
    if (p.value().grad().defined()) g.emplace_back(p.key(), p.value().grad().detach().to(torch::kCPU).contiguous());
  return g;
}

void load_tensors_into(torch::nn::Module& m, const fs::path& file) {
  models::LoadOptions lo;
  lo.strict = true;
  lo.source = file.string();
  models::load_state_dict(m, models::read_checkpoint(file), lo);
}

}  // namespace

fs::path resume_dir(const std::string& resume) {
  fs::path p(resume);
  FRACTURE_CHECK(fs::exists(p), "detect train: resume '", resume, "' does not exist");
  if (fs::is_regular_file(p)) p = p.parent_path().parent_path();  // run/weights/last.safetensors -> run
  // with weights/last_state.json: a checkpoint to resume from. Without it, a run killed before its
  // first checkpoint holds only what a detect run writes first (trained from the start in place);
  // another folder with an args.yaml (a dataset made by synth, a classify run) holds more.
  FRACTURE_CHECK((fs::exists(p / "args.yaml") && fs::exists(p / "weights" / "last_state.json")) ||
                     stopped_at_birth(p, {"weights", "skipped.csv", "results.csv"}),
                 "detect train: resume '", resume,
                 "' is not a detect run directory with args.yaml and weights/last_state.json");
  return p;
}

// The run's resume state from weights/: the training model, the EMA, the optimiser, gradients
// accumulated since the last optimiser step, and results.csv's rows of the finished epochs, all
// from the checkpoint last_state.json names.
TrainState restore_run(const fs::path& run, const fs::path& wdir, torch::nn::Module& net, torch::nn::Module& ema_net,
                       ModelEMA& ema, torch::optim::Optimizer& opt, std::vector<std::string>& csv_rows) {
  TrainState st = load_state(wdir);
  FRACTURE_CHECK(!(st.finished && fs::is_regular_file(run / "metrics.json")), "detect train: ", run.string(),
                 " already finished its training (", st.epochs_done, " epochs) and final validation; nothing to resume");
  const int n = st.epochs_done;
  load_tensors_into(net, resume_file(wdir, n, "model.safetensors"));
  load_tensors_into(ema_net, resume_file(wdir, n, "ema.safetensors"));
  ema.updates = st.ema_updates;
  const fs::path optf = resume_file(wdir, n, "optimizer.safetensors");
  if (!fs::exists(optf) && fs::exists(resume_file(wdir, n, "optimizer.pt")))  // written by fracture <= 0.1 (torch::save)
    torch::load(opt, resume_file(wdir, n, "optimizer.pt").string());
  else
    load_optimizer_state(opt, models::read_safetensors(optf), optf.string());
  if (st.grads) {
    auto g = models::read_checkpoint(resume_file(wdir, n, "grads.safetensors"));
    std::map<std::string, torch::Tensor> gm(g.begin(), g.end());
    for (auto& p : net.named_parameters(true)) {
      auto it = gm.find(p.key());
      if (it != gm.end())  // in the parameter's memory format, as autograd makes gradients
        p.value().mutable_grad() = it->second.to(p.value().device()).clone(p.value().suggest_memory_format());
    }
  }
  csv_rows = report::read_detect_results(run, st.epochs_done);
  // The state names the resume set: files of other epochs are what a kill left between
  // save_epoch_checkpoint's state and its cleanup (found by kill9.sh: a study whose detector had
  // finished kept resume_e1_ema.safetensors, which the uninterrupted run does not have).
  remove_other_resume_files(wdir, n);
  return st;
}

// What resume needs after an epoch: EMA weights (last, and best when it is), the training model,
// the optimiser, gradients accumulated since the last optimiser step (they carry over into the next
// epoch), and the state; each file written atomically, the state last (it names the resume set).
void save_epoch_checkpoint(const fs::path& wdir, TrainState& st, int epoch, int64_t nb, bool is_best,
                           const models::NamedTensors& best_state, torch::nn::Module& net, torch::nn::Module& ema_net,
                           torch::optim::Optimizer& opt) {
  const int n = st.epochs_done;
  models::save_safetensors(ema_net, resume_file(wdir, n, "ema.safetensors"));
  models::save_safetensors(net, resume_file(wdir, n, "model.safetensors"));
  // not torch::save: it orders the states by memory address, so two identical runs wrote other bytes
  models::write_safetensors(optimizer_state(opt), resume_file(wdir, n, "optimizer.safetensors"));
  const int64_t last_ni = nb * (epoch + 1) - 1;
  auto g = grads_of(net);
  st.grads = last_ni > st.last_opt_step && !g.empty();
  if (st.grads) models::write_safetensors(g, resume_file(wdir, n, "grads.safetensors"));
  // what users load; resume never reads them (a kill between these and the state is harmless)
  models::save_safetensors(ema_net, wdir / "last.safetensors");
  if (is_best) models::write_safetensors(best_state, wdir / "best.safetensors");
  save_state(wdir, st);
  remove_other_resume_files(wdir, n);
}

fs::path mirror_run(DistGroup& group, const fs::path& run, const fs::path& scratch) {
  return mirror_dir(group, run, scratch, [](const fs::path& rel) {
    const std::string r = rel.generic_string();
    return r == "args.yaml" || r == "results.csv" || (r.rfind("weights/", 0) == 0 && r != "weights/last.safetensors");
  });
}

}  // namespace fracture::engine
