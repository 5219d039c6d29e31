#include "fracture/engine/detect_train.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "fracture/data/augment.h"
#include "fracture/core/error.h"
#include "fracture/core/progress.h"
#include "fracture/core/fs.h"
#include "fracture/core/rundir.h"
#include "fracture/data/yolo.h"
#include "fracture/detect/loss.h"
#include "fracture/data/screen.h"
#include "fracture/engine/detect_checkpoint.h"
#include "fracture/engine/detect_run.h"
#include "fracture/engine/distributed.h"
#include "fracture/engine/ema.h"
#include "fracture/engine/sync_batchnorm.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/inference.h"
#include "fracture/models/yolov8.h"
#include "fracture/data/loader.h"
#include "fracture/report/data_files.h"
#include "fracture/report/detect_files.h"

namespace fracture::engine {

namespace fs = std::filesystem;
using nlohmann::json;

OptimizerChoice choose_optimizer(const std::string& name, double lr0, double momentum, double warmup_bias_lr,
                                 int64_t nc, int64_t iterations) {
  OptimizerChoice c;
  c.warmup_bias_lr = warmup_bias_lr;
  if (name == "auto") {
    if (iterations > 10000) {
      c.name = "SGD";
      c.lr = 0.01;
      c.momentum = 0.9;
    } else {
      c.name = "AdamW";
      c.lr = std::nearbyint(0.002 * 5.0 / (4.0 + double(nc)) * 1e6) / 1e6;  // round(x, 6)
      c.momentum = 0.9;
    }
    c.warmup_bias_lr = 0.0;  // Ultralytics: no higher than 0.01 for Adam
    return c;
  }
  FRACTURE_CHECK(name == "SGD" || name == "Adam" || name == "AdamW", "detect: optimizer must be auto, SGD, Adam or AdamW, got '",
                 name, "'");
  c.name = name;
  c.lr = lr0;
  c.momentum = momentum;
  return c;
}

double detection_fitness(double map50, double map50_95) { return 0.1 * map50 + 0.9 * map50_95; }

namespace {


std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerChoice& c, const ParamGroups& g, double decay) {
  using namespace torch::optim;
  std::vector<OptimizerParamGroup> groups;
  if (c.name == "SGD") {
    auto o = [&](double wd) {
      return std::make_unique<SGDOptions>(SGDOptions(c.lr).momentum(c.momentum).nesterov(true).weight_decay(wd));
    };
    groups.emplace_back(g.bias, o(0.0));
    groups.emplace_back(g.decay, o(decay));
    groups.emplace_back(g.no_decay, o(0.0));
    return std::make_unique<SGD>(groups, SGDOptions(c.lr).momentum(c.momentum).nesterov(true));
  }
  if (c.name == "Adam") {
    auto o = [&](double wd) {
      return std::make_unique<AdamOptions>(AdamOptions(c.lr).betas({c.momentum, 0.999}).weight_decay(wd));
    };
    groups.emplace_back(g.bias, o(0.0));
    groups.emplace_back(g.decay, o(decay));
    groups.emplace_back(g.no_decay, o(0.0));
    return std::make_unique<Adam>(groups, AdamOptions(c.lr).betas({c.momentum, 0.999}));
  }
  auto o = [&](double wd) {
    return std::make_unique<AdamWOptions>(AdamWOptions(c.lr).betas({c.momentum, 0.999}).weight_decay(wd));
  };
  groups.emplace_back(g.bias, o(0.0));
  groups.emplace_back(g.decay, o(decay));
  groups.emplace_back(g.no_decay, o(0.0));
  return std::make_unique<AdamW>(groups, AdamWOptions(c.lr).betas({c.momentum, 0.999}).weight_decay(0.0));
}

void set_momentum(torch::optim::Optimizer& opt, const std::string& name, double m) {
  if (name != "SGD") return;  // Ultralytics warms "momentum" only; Adam groups carry betas
  for (auto& g : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).momentum(m);
}

std::string model_scale(const std::string& model) {
  if (model.empty() || model == "yolov8n" || model == "n") return "n";
  if (model == "yolov8s" || model == "s") return "s";
  if (model == "yolov8m" || model == "m") return "m";
  FRACTURE_FAIL("detect train: model must be yolov8n, yolov8s or yolov8m, got '", model,
                "' (start from a checkpoint with weights=FILE)");
}


int in_int(const Config& cfg, const char* key, long long lo) {
  long long v = cfg.integer(key);
  FRACTURE_CHECK(v >= lo && v <= 1000000000LL, "detect train: ", key, "=", v, " is out of range (>= ", lo, ")");
  return int(v);
}

// The training loader's sample options: augmentation from the config (Ultralytics' keys), mosaic
// closed for the last close_mosaic epochs.
DetectionOptions train_data_options(const Config& cfg, int imgsz, int epochs) {
  DetectionOptions dopt;
  dopt.imgsz = imgsz;
  dopt.augment = true;
  dopt.channels = 3;
  dopt.epochs = epochs;
  dopt.close_mosaic = in_int(cfg, "close_mosaic", 0);
  dopt.clahe = float(cfg.real("clahe"));
  dopt.aug = augment_options(cfg);
  dopt.read = read_options(cfg);
  dopt.cache = ImageCache::make(cfg.str("cache"), fs::path(cfg.str("project")) / ".cache" / "images");
  return dopt;
}

// The per-epoch validation of the EMA model, as Ultralytics' trainer: twice the training batch,
// conf 0.001 unless set, the `matching` rule (the fitness that picks `best` follows it) and `rect`.
DetValOptions epoch_val_options(const Config& cfg, int imgsz, int batch, int workers, bool channels_last) {
  DetValOptions vo = det_val_options(cfg);
  vo.imgsz = imgsz;
  vo.batch = batch * 2;
  vo.workers = workers;
  vo.channels_last = channels_last;
  return vo;
}

// What one epoch's optimisation steps use.
struct EpochSteps {
  Loader& loader;
  models::YoloV8Impl& net;
  ModelEMA& ema;
  torch::optim::Optimizer& opt;
  const detect::DetectionLoss& loss;
  const OptimizerChoice& oc;
  const WarmupInput& wi;
  int64_t nb = 0;          ///< batches per epoch
  int64_t nw = 0;          ///< warmup iterations
  int accumulate0 = 1;     ///< nbs / batch after warmup
  torch::Device device;
  DistGroup* dist = nullptr;  ///< data-parallel group (null: one process)
  bool sync_bn = true;        ///< SyncBatchNorm over the group
};

// Data-parallel loss: rank r's loss made its share of the whole batch's loss times the world size,
// so the average of the ranks' gradients is one process's gradient for the union of the batches.
// One process: L = sum over the batch / max(tss, 1) * B (Ultralytics, tss = the sum of the target
// scores, B = batch). Rank r: L_r = W * sum over its images / max(tss_all, 1) * B_all, i.e. its own
// loss times max(tss_r, 1) / max(tss_all, 1) * W * B_all / B_r. Ultralytics multiplies by W but
// normalises by its own tss_r and B_r; this differs only in that normaliser (one scalar all-reduce).
// The loss items (box, cls, dfl) become the whole batch's. Throws on every rank at once when the
// loss is not finite on one.
void scale_loss_across_ranks(detect::LossOutput& out, int64_t batch, DistGroup& g, int epoch, int64_t i) {
  const double tss_r = std::max(out.target_scores_sum, 1.0);
  std::vector<torch::Tensor> sums{torch::cat({torch::tensor({out.target_scores_sum, double(batch)}, torch::kDouble),
                                              out.items.to(torch::kCPU, torch::kDouble) * tss_r})};
  g.allreduce_sum(sums);
  const double tss_all = std::max(sums[0][0].item<double>(), 1.0), b_all = sums[0][1].item<double>();
  out.items = sums[0].narrow(0, 2, 3) / tss_all;
  FRACTURE_CHECK(torch::isfinite(out.items).all().item<bool>(), "detect train: the loss is not finite at epoch ",
                 epoch + 1, ", batch ", i + 1, " on some rank (lower lr0 or check the labels)");
  out.total = out.total * (tss_r / tss_all * double(g.world_size()) * b_all / double(batch));
}

// One training epoch (Ultralytics' _do_train inner loop): the scheduled lr for every group, warmup
// of lr / momentum / accumulation over the first nw iterations, forward, loss, backward, and every
// `accumulate` iterations grad-norm clipping (10), an optimiser step and an EMA update. Returns the
// running mean of the loss items (box, cls, dfl); *channels_last says whether the first batch was.
torch::Tensor train_epoch(EpochSteps& c, int epoch, int epochs, TrainState& st, bool* channels_last) {
  const double lr_sched = c.oc.lr * lr_factor(epoch, epochs, c.wi.lrf, c.wi.cos_lr);
  for (auto& g : c.opt.param_groups()) g.options().set_lr(lr_sched);
  c.loader.start_epoch(epoch);
  c.net.train();
  SyncBatchNormScope sync_bn(c.sync_bn ? c.dist : nullptr);
  torch::Tensor tloss = torch::zeros({3}, torch::kDouble);
  int64_t i = 0;
  Progress bar("detect train: epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), c.nb);
  while (auto b = c.loader.next()) {
    const int64_t ni = i + c.nb * epoch;
    int accumulate = c.accumulate0;
    if (ni <= c.nw) {
      WarmupValues v = warmup_values(ni, c.nw, epoch, c.wi);
      accumulate = v.accumulate;
      for (size_t j = 0; j < c.opt.param_groups().size(); ++j) c.opt.param_groups()[j].options().set_lr(v.lr[j]);
      set_momentum(c.opt, c.oc.name, v.momentum);
    }
    auto x = b->images.to(c.device);
    if (i == 0) *channels_last = x.is_contiguous(torch::MemoryFormat::ChannelsLast);
    auto feats = c.net.forward_train(x);
    auto out = c.loss(feats, b->targets.to(c.device), x.size(2), x.size(3));
    if (c.dist) scale_loss_across_ranks(out, x.size(0), *c.dist, epoch, i);
    FRACTURE_CHECK(std::isfinite(out.total.item<double>()), "detect train: the loss is not finite at epoch ",
                   epoch + 1, ", batch ", i + 1, " (lower lr0 or check the labels)");
    out.total.backward();
    tloss = (tloss * double(i) + out.items.to(torch::kCPU, torch::kDouble)) / double(i + 1);
    if (ni - st.last_opt_step >= accumulate) {
      if (c.dist) average_gradients(*c.dist, c.net);
      torch::nn::utils::clip_grad_norm_(c.net.parameters(), 10.0);
      c.opt.step();
      c.opt.zero_grad();
      c.ema.update(c.net);
      st.last_opt_step = ni;
    }
    ++i;
    char m[96];
    std::snprintf(m, sizeof m, "box %.3f cls %.3f dfl %.3f", tloss[0].item<double>(), tloss[1].item<double>(),
                  tloss[2].item<double>());
    bar.step(m);
  }
  // gradients left pending for the next epoch: the ranks' mean now (the next step's mean of
  // mean + own equals the mean of all), so every rank, and the checkpoint, holds the same
  if (c.dist && c.nb * (epoch + 1) - 1 > st.last_opt_step) average_gradients(*c.dist, c.net);
  return tloss;
}


// One results.csv row: the epoch's mean training losses, the EMA's validation, the three groups'
// learning rates, elapsed seconds.
std::string results_row(int epoch, const torch::Tensor& tloss, const DetValOutput& vout, const double (&lrs)[3],
                        double elapsed) {
  report::DetectEpochRow r;
  r.epoch = epoch;
  for (int k = 0; k < 3; ++k) {
    r.train_loss[k] = tloss[k].item<double>();
    r.val_loss[k] = vout.loss.size() == 3 ? vout.loss[size_t(k)] : 0.0;
    r.lr[k] = lrs[k];
  }
  r.precision = vout.results.mp;
  r.recall = vout.results.mr;
  r.map50 = vout.results.map50;
  r.map50_95 = vout.results.map;
  r.elapsed = std::round(elapsed * 1000.0) / 1000.0;
  return report::detect_results_row(r);
}


// Ultralytics' build_optimizer for this run: the choice (optimizer=auto by iterations), weight
// decay scaled by batch * accumulate / nbs, the three parameter groups.
struct BuiltOptimizer {
  OptimizerChoice choice;
  std::unique_ptr<torch::optim::Optimizer> opt;
  int accumulate = 1;  ///< nbs / batch after warmup
};

BuiltOptimizer build_optimizer(const Config& cfg, torch::nn::Module& net, size_t n_train, int batch, int nbs,
                               int epochs, int64_t nc, Logger& log) {
  BuiltOptimizer b;
  b.accumulate = std::max(int(std::nearbyint(double(nbs) / batch)), 1);
  auto real_or = [&](const char* key, double dflt) { return cfg.is_null(key) ? dflt : cfg.real(key); };
  const double weight_decay = real_or("weight_decay", 0.0005) * batch * b.accumulate / nbs;
  const int64_t iterations = int64_t(std::ceil(double(n_train) / std::max(batch, nbs))) * int64_t(epochs);
  b.choice = choose_optimizer(cfg.str("optimizer"), real_or("lr0", 0.01), cfg.real("momentum"),
                              cfg.real("warmup_bias_lr"), nc, iterations);
  const ParamGroups groups = param_groups(net, /*trainable_only=*/true);  // dfl.conv is fixed
  b.opt = make_optimizer(b.choice, groups, weight_decay);
  log.info("detect train: optimizer {} (lr={}, momentum={}) with parameter groups {} weight(decay=0.0), {} "
           "weight(decay={}), {} bias(decay=0.0)",
           b.choice.name, b.choice.lr, b.choice.momentum, groups.no_decay.size(), groups.decay.size(), weight_decay,
           groups.bias.size());
  return b;
}

WarmupInput warmup_input(const Config& cfg, const OptimizerChoice& oc, int epochs, int nbs, int batch) {
  WarmupInput wi;
  wi.lr = oc.lr;
  wi.warmup_bias_lr = oc.warmup_bias_lr;
  wi.warmup_momentum = cfg.real("warmup_momentum");
  wi.momentum = oc.momentum;
  wi.epochs = epochs;
  wi.lrf = cfg.real("lrf");
  wi.cos_lr = cfg.boolean("cos_lr");
  wi.nbs = nbs;
  wi.batch = batch;
  return wi;
}

// The training model (from weights= on a new run) and its EMA twin, same initialisation from the
// seed; NHWC weights before the optimiser and the EMA are made (both keep these tensors, and copy_ /
// mul_ / add_ of the EMA and of resume loading keep a tensor's memory format).
std::pair<models::YoloV8, models::YoloV8> build_models(const Config& cfg, const std::string& scale, int64_t nc,
                                                       uint64_t seed, const torch::Device& device, bool channels_last,
                                                       bool resuming, Logger& log) {
  torch::manual_seed(seed);
  models::YoloV8Options mo;
  mo.scale = scale;
  mo.nc = nc;
  models::YoloV8 net(mo);
  if (!cfg.is_null("weights") && !resuming) {
    auto rep = models::load_yolov8_weights(*net, cfg.str("weights"), /*strict=*/true);
    log.info("detect train: {} from {}", rep.summary(), cfg.str("weights"));
  }
  net->to(device);
  models::YoloV8 ema_net(mo);
  ema_net->to(device);
  if (channels_last) {
    models::weights_to_channels_last(*net);
    models::weights_to_channels_last(*ema_net);
  }
  return {net, ema_net};
}

// The run directory and its config: a new one (args.yaml written), or the resumed run's own. A
// data-parallel resume reads rank 0's run: the other ranks get a copy of its files in their scratch
// project (mirror_run), so the nodes need no shared file system.
fs::path open_run(const Config& cfg_in, Config& cfg, DistGroup* dist, Logger& log) {
  if (!cfg_in.str("resume").empty()) {
    const bool root = !dist || dist->rank() == 0;
    fs::path run = root ? resume_dir(cfg_in.str("resume")) : fs::path();
    if (root) remove_killed_writes(run, log);
    if (dist) run = mirror_run(*dist, run, fs::path(cfg_in.str("project")) / "resume");
    cfg = Config::defaults();
    cfg.merge_file((run / "args.yaml").string());
    if (!root) cfg.set("project", cfg_in.str("project"), "distributed");  // the rank's scratch project
    log.info("detect train: resuming {}", run.string());
    return run;
  }
  cfg = cfg_in;
  return {};
}

}  // namespace

DetectTrainResult detect_train(const Config& cfg_in, Logger& log, int stop_after_epochs) {
  Config cfg;
  DistGroup* dist = default_group();  // data-parallel (WORLD_SIZE > 1): every rank runs this function
  const bool root = !dist || dist->rank() == 0;
  const int world = dist ? dist->world_size() : 1;
  fs::path run = open_run(cfg_in, cfg, dist, log);
  // a resumed run killed before its first checkpoint has nothing to restore: trained from the start
  // in its own directory, with its args.yaml (the same seed, so the same result)
  const bool resuming = !run.empty() && fs::exists(run / "weights" / "last_state.json");
  if (!run.empty() && !resuming)
    log.info("detect train: {} has no checkpoint yet (stopped before its first epoch ended): training it from the start",
             run.string());
  FRACTURE_CHECK(!cfg.str("data").empty(), "detect train: data= must name a data.yaml");
  const int epochs = in_int(cfg, "epochs", 1);
  const int imgsz = in_int(cfg, "imgsz", 32);
  FRACTURE_CHECK(imgsz % 32 == 0, "detect train: imgsz must be a multiple of 32 (YOLOv8 stride), got ", imgsz);
  const int batch = in_int(cfg, "batch", 1);  // the whole batch over all ranks (Ultralytics)
  FRACTURE_CHECK(batch % world == 0, "detect train: batch=", batch, " is the batch over all ranks (as Ultralytics) and ",
                 "must divide among WORLD_SIZE=", world, " processes");
  const int patience = in_int(cfg, "patience", 0);
  const int workers = in_int(cfg, "workers", 0);
  const int nbs = in_int(cfg, "nbs", 1);
  const uint64_t seed = uint64_t(in_int(cfg, "seed", 0));
  const torch::Device device(cfg.str("device"));
  const bool channels_last = cfg.boolean("channels_last") && device.is_cpu();  // measured on oneDNN (CPU) only
  const std::string scale = model_scale(cfg.str("model"));

  std::vector<Problem> problems;
  DetDataset ds = load_yolo(cfg.str("data"), cfg.boolean("strict"), log, &problems);
  const std::vector<UnusableFile> skipped = screen_detection_dataset(ds, cfg, log, problems);
  FRACTURE_CHECK(ds.splits.count("train") && !ds.splits.at("train").empty(), cfg.str("data"), ": no train images");
  FRACTURE_CHECK(ds.splits.count("val") && !ds.splits.at("val").empty(), cfg.str("data"), ": no val images");
  const int64_t nc = int64_t(ds.names.size());
  const auto& train_items = ds.splits.at("train");

  if (run.empty()) {
    run = make_run_dir(cfg.str("project"), "detect", cfg.is_null("name") ? "train" : cfg.str("name"));
    write_run_args(run, cfg);
  }
  const fs::path wdir = run / "weights";
  fs::create_directories(wdir);
  report::write_names(wdir, ds.names);
  report::write_skipped(run, skipped);

  auto [net, ema_net] = build_models(cfg, scale, nc, seed, device, channels_last, resuming, log);
  // rank 0's start everywhere (equal from the seed already; so whatever weights= read)
  if (dist && !resuming) broadcast_module(*dist, *net);
  ModelEMA ema(*net, ema_net.ptr());

  const DetectionOptions dopt = train_data_options(cfg, imgsz, epochs);
  if (dopt.cache && dopt.cache->mode() == ImageCache::Mode::ram)
    check_ram_fits(ram_bytes_needed(train_items.size() + ds.splits.at("val").size(), imgsz),
                   train_items.size() + ds.splits.at("val").size(), imgsz);
  auto src = std::make_shared<DetectionSource>(train_items, dopt);
  LoaderOptions lo;
  lo.batch = batch / world;  // rank r: every world-th image of the epoch (torch's DistributedSampler)
  lo.shard_rank = dist ? dist->rank() : 0;
  lo.shard_count = world;
  lo.workers = workers;
  lo.shuffle = true;
  lo.seed = seed;
  lo.channels_last = channels_last;
  lo.skip_unreadable = !cfg.boolean("strict");  // a file damaged during the run: left out and counted
  Loader loader(src, lo);
  const int64_t nb = int64_t(loader.batches_per_epoch());
  size_t skipped_reported = 0;

  BuiltOptimizer bo = build_optimizer(cfg, *net, train_items.size(), batch, nbs, epochs, nc, log);
  torch::optim::Optimizer& opt = *bo.opt;
  detect::DetectionLossOptions lopt;
  lopt.box = cfg.real("box");
  lopt.cls = cfg.real("cls");
  lopt.dfl = cfg.real("dfl");
  const detect::DetectionLoss loss(nc, {8, 16, 32}, lopt);
  DetValOptions vo = epoch_val_options(cfg, imgsz, batch, workers, channels_last);
  vo.cache = dopt.cache;  // one cache for the run (train and val entries differ by interpolation)

  TrainState st;
  std::vector<std::string> csv_rows;
  if (resuming) {
    st = restore_run(run, wdir, *net, *ema_net, ema, opt, csv_rows);
    if (st.finished) log.info("detect train: training finished before ({} epochs); final validation only", st.epochs_done);
    if (st.world_size != world)
      log.info("detect train: resumed by {} process(es), the checkpoint was written by {} (its state is per model: the "
               "weights, the optimiser and the ranks' mean gradient)", world, st.world_size);
  } else {
    opt.zero_grad();
  }
  net->train();
  // Ultralytics' EarlyStopping: fitness maximised, >= moves the best epoch, counted from fitness 0.
  EarlyStopping stopper(/*maximise=*/true, patience, /*ties_improve=*/true, /*start=*/0.0);
  if (resuming) stopper.restore(st.epochs_done - 1, st.best_epoch - 1, st.best_fitness);

  const int64_t nw = warmup_iterations(cfg.is_null("warmup_epochs") ? 3.0 : cfg.real("warmup_epochs"), nb);
  const WarmupInput wi = warmup_input(cfg, bo.choice, epochs, nbs, batch);
  DetectTrainResult res;
  res.run_dir = run;
  res.names = ds.names;
  const auto t_start = std::chrono::steady_clock::now();
  const double elapsed0 = st.elapsed;
  const int st_epochs0 = st.epochs_done;  // this process's first epoch (ETA from its own pace)
  EpochSteps steps{loader, *net, ema, opt, loss, bo.choice, wi, nb, nw, bo.accumulate, device, dist, cfg.boolean("sync_bn")};
  st.world_size = world;
  const bool save = cfg.boolean("save");
  models::NamedTensors best_state;
  if (resuming && fs::exists(wdir / "best.safetensors")) best_state = models::read_safetensors(wdir / "best.safetensors");
  res.epochs_done = st.epochs_done;
  res.best_epoch = st.best_epoch;
  res.best_fitness = st.best_fitness;
  res.early_stopped = st.finished && st.epochs_done < epochs;
  for (int epoch = st.epochs_done; epoch < epochs && !st.finished; ++epoch) {
    bool batch_channels_last = false;
    const torch::Tensor tloss = train_epoch(steps, epoch, epochs, st, &batch_channels_last);
    if (epoch == st.epochs_done)  // the memory format the run trains in
      res.channels_last = batch_channels_last && models::weights_are_channels_last(*net) &&
                          models::weights_are_channels_last(*ema_net);
    double lrs[3];
    for (size_t j = 0; j < 3; ++j) lrs[j] = opt.param_groups()[j].options().get_lr();

    // the EMA (equal on every rank: each validates it, so no rank waits on another's validation)
    DetValOutput vout = validate_detector(*ema_net, ds.splits.at("val"), ds.names, vo, log, &loss);
    st.epochs_done = epoch + 1;
    st.ema_updates = ema.updates;
    st.elapsed = elapsed0 + std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::vector<torch::Tensor> fitness{torch::tensor({vout.results.fitness()}, torch::kDouble)};
    if (dist) dist->broadcast(fitness, 0);  // rank 0's decides best and stop on every rank
    const bool is_best = stopper.update(epoch, fitness[0].item<double>());
    st.best_fitness = stopper.best_value();
    st.best_epoch = stopper.best_epoch() + 1;
    const bool stop_early = stopper.should_stop() && epoch + 1 < epochs;
    st.finished = stop_early || epoch + 1 == epochs;
    csv_rows.push_back(results_row(epoch, tloss, vout, lrs, st.elapsed));
    report::write_detect_results(run, csv_rows);

    // Checkpoints: EMA weights (Ultralytics keys), then what resume needs. save=false keeps `best`
    // in memory and writes last/best once at the end (no resume state).
    if (is_best) {
      best_state.clear();
      for (const auto& [k, v] : models::state_dict(*ema_net)) best_state.emplace_back(k, v.detach().to(torch::kCPU).clone());
    }
    if (save && root) save_epoch_checkpoint(wdir, st, epoch, nb, is_best, best_state, *net, *ema_net, opt);

    const std::vector<std::string> lost = loader.skipped();
    for (; skipped_reported < lost.size(); ++skipped_reported)
      log.warn("detect train: training image left out (strict=false): {}", lost[skipped_reported]);
    log.info("detect train: epoch {}/{} box {:.4f} cls {:.4f} dfl {:.4f} | P {:.3f} R {:.3f} mAP50 {:.3f} "
             "mAP50-95 {:.3f}{} | ETA {}",
             epoch + 1, epochs, tloss[0].item<double>(), tloss[1].item<double>(), tloss[2].item<double>(),
             vout.results.mp, vout.results.mr, vout.results.map50, vout.results.map, is_best ? " (best)" : "",
             format_duration(eta_seconds(epoch + 1 - st_epochs0, epochs - st_epochs0,
                                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count())));
    res.epochs_done = st.epochs_done;
    res.best_epoch = st.best_epoch;
    res.best_fitness = st.best_fitness;
    if (stop_early) {
      log.info("detect train: early stopping, no improvement for {} epochs; best epoch {}", patience, st.best_epoch);
      res.early_stopped = true;
      break;
    }
    if (stop_after_epochs > 0 && st.epochs_done >= stop_after_epochs && epoch + 1 < epochs) return res;
  }
  if (!root) return res;  // rank 0 writes the weights and validates them
  if (!save) {
    models::save_safetensors(*ema_net, wdir / "last.safetensors");
    models::write_safetensors(best_state, wdir / "best.safetensors");
  }

  // Final validation of `best` (Ultralytics final_eval).
  LoadedDetector best = load_detector(wdir / "best.safetensors", device, channels_last);
  res.final_val = validate_detector(*best.net, ds.splits.at("val"), ds.names, vo, log, nullptr);
  report::write_val_report(res.final_val, ds.names, run);
  log.info("detect train: {} epochs done, best epoch {} (fitness {:.4f}); results in {}", res.epochs_done,
           res.best_epoch, res.best_fitness, run.string());
  return res;
}

}  // namespace fracture::engine
