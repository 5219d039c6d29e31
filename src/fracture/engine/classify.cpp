// Classification engine, training half: options, learning-rate schedule, early stopping, one fit and
// prediction. The run modes are in classify_run.cpp; their files in report/classify_files.
#include "fracture/engine/classify.h"
#include "fracture/engine/distributed.h"
#include "fracture/engine/sync_batchnorm.h"

#include <torch/torch.h>

#include <optional>

#include <chrono>
#include <cmath>
#include <limits>

#include "fracture/data/augment.h"
#include "fracture/core/error.h"
#include "fracture/core/progress.h"
#include "fracture/core/fs.h"
#include "fracture/core/rng.h"
#include "fracture/data/splits.h"
#include "fracture/eval/classification_metrics.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/inference.h"

namespace fracture::engine {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int count_positive(const std::vector<ClsItem>& items) {
  int n = 0;
  for (const auto& it : items) n += it.label == 1;
  return n;
}

// Checkpoint file for `arch` from weights=: a file (one model), or a folder holding <arch>.safetensors,
// <arch>.pth or <arch>.pt.
std::filesystem::path weights_file(const std::string& weights, const std::string& arch) {
  namespace fs = std::filesystem;
  fs::path p = weights;
  if (fs::is_directory(p)) {
    for (const char* ext : {".safetensors", ".pth", ".pt"}) {
      fs::path f = p / (arch + ext);
      if (fs::is_regular_file(f)) return f;
    }
    FRACTURE_FAIL("weights=", weights, ": folder has no ", arch, ".safetensors, ", arch, ".pth or ", arch,
                  ".pt for model ", arch);
  }
  FRACTURE_CHECK(fs::is_regular_file(p), "weights=", weights, ": no such file or folder");
  return p;
}

// Copies of every parameter and buffer (state-dict order), to restore the best epoch.
std::vector<torch::Tensor> snapshot(const torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (const auto& p : m.named_parameters(true)) out.push_back(p.value().detach().clone());
  for (const auto& b : m.named_buffers(true)) out.push_back(b.value().detach().clone());
  return out;
}

void restore(torch::nn::Module& m, const std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& p : m.named_parameters(true)) p.value().copy_(saved.at(i++));
  for (auto& b : m.named_buffers(true)) b.value().copy_(saved.at(i++));
}

// Shuffled loader over the training items with the given seed. A last batch of one image cannot be
// BatchNorm-normalised in train mode, so it is dropped (another image each epoch).
LoaderOptions training_loader_options(const ClassifyOptions& opt, size_t n, uint64_t seed) {
  LoaderOptions lo;
  lo.batch = opt.batch;
  lo.workers = opt.workers;
  lo.shuffle = true;
  lo.seed = seed;
  lo.drop_last = n > size_t(opt.batch) && n % size_t(opt.batch) == 1;
  lo.channels_last = opt.channels_last;
  return lo;
}

// "Precise BatchNorm" (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm", sec. 3): re-estimates
// the running mean/var of every BatchNorm layer that trains (a frozen backbone's are left alone) as
// the plain average over up to kRecalibrationImages training images, unaugmented as at evaluation,
// in a fixed shuffled order; dropout / stochastic depth off as at evaluation; no gradients.
// Why: MobileNetV3's BatchNorm momentum is 0.01 (torchvision), and its depthwise convolutions
// (kaiming fan_out init) shrink the signal ~10x per block; after the ~100-300 iterations of a short
// from-scratch run the running variances are still mostly their initial 1, so in eval mode the
// activations vanish layer by layer and every image gets the same logit (AUROC exactly 0.5, and
// early stopping keeps the first epoch). Batch statistics in train mode were fine all along.
constexpr size_t kRecalibrationImages = 512;

void recalibrate_batchnorm(models::ClassifierImpl& net, const std::vector<ClsItem>& train, const ClassifyOptions& opt,
                           const torch::Device& device, uint64_t seed) {
  net.train(true);  // a frozen backbone keeps its BatchNorm in eval mode: those are not touched
  std::vector<torch::nn::BatchNorm2dImpl*> bns;
  std::vector<c10::optional<double>> momenta;
  for (auto& m : net.modules(/*include_self=*/false)) {
    auto* bn = m->as<torch::nn::BatchNorm2d>();
    if (bn && bn->is_training() && bn->options.track_running_stats()) bns.push_back(bn);
  }
  net.eval();
  if (bns.empty()) return;
  for (auto* bn : bns) {
    momenta.push_back(bn->options.momentum());
    bn->reset_running_stats();
    bn->options.momentum(c10::nullopt);  // cumulative average over the batches below
    bn->train(true);
  }
  ClassificationOptions data = opt.data;
  data.augment = false;
  auto src = std::make_shared<ClassificationSource>(train, data);
  LoaderOptions lo = training_loader_options(opt, train.size(), splitmix64(seed ^ 0x707265636973ull));  // "precis"
  lo.skip_unreadable = !opt.strict;
  Loader loader(src, lo);
  torch::NoGradGuard no_grad;
  loader.start_epoch(0);
  size_t seen = 0;
  while (seen < kRecalibrationImages) {
    auto b = loader.next();
    if (!b) break;
    net.forward(b->images.to(device));
    seen += size_t(b->images.size(0));
  }
  for (size_t i = 0; i < bns.size(); ++i) bns[i]->options.momentum(momenta[i]);
  net.eval();
}

// torchvision initialises EfficientNet's output layer U(-1/sqrt(out), 1/sqrt(out)): U(-1, 1) for a
// single logit over 1280 features, so training started at logits of about +-20 (epoch-1 training
// loss 4.4 measured on the synthetic study, where 0.69 is chance). The one-logit head starts as
// torchvision's MobileNetV3 output layer does instead: weight N(0, 0.01), bias 0. Before loading
// weights, so a checkpoint that has a one-logit head still overrides it.
void init_one_logit_head(models::ClassifierImpl& net, const std::string& prefix) {
  torch::NoGradGuard no_grad;
  auto params = net.named_parameters();
  auto* w = params.find(prefix + "weight");
  auto* b = params.find(prefix + "bias");
  FRACTURE_CHECK(w && b && w->size(0) == 1, net.arch(), ": expected a one-logit head at ", prefix, "weight");
  torch::nn::init::normal_(*w, 0.0, 0.01);
  torch::nn::init::zeros_(*b);
}

}  // namespace

void prepare_one_logit_head(models::ClassifierImpl& net) {
  if (net.arch() == "efficientnet_b0") init_one_logit_head(net, "classifier.1.");
}

ClassifyOptions classify_options(const Config& cfg) {
  ClassifyOptions o;
  const std::string model = cfg.str("model");
  FRACTURE_CHECK(!model.empty(), "fracture classify: key 'model' is required: resnet18, mobilenet_v3_small, ",
                 "efficientnet_b0 or all");
  const auto names = models::classifier_names();
  if (model == "all") {
    o.models = names;
  } else {
    bool known = false;
    for (const auto& n : names) known = known || n == model;
    FRACTURE_CHECK(known, "unknown model '", model, "': expected resnet18, mobilenet_v3_small, efficientnet_b0 or all");
    o.models = {model};
  }
  o.weights = cfg.str("weights");
  if (!o.weights.empty() && o.models.size() > 1) {
    FRACTURE_CHECK(std::filesystem::is_directory(o.weights), "weights=", o.weights,
                   ": with model=all, weights= must be a folder holding <arch>.pth or <arch>.safetensors per backbone");
  }
  o.epochs = int(cfg.integer("epochs"));
  o.batch = int(cfg.integer("batch"));
  o.patience = int(cfg.integer("patience"));
  o.workers = int(cfg.integer("workers"));
  o.device = cfg.str("device");
  o.lr0 = cfg.is_null("lr0") ? 1e-3 : cfg.real("lr0");
  o.lrf = cfg.real("lrf");
  o.weight_decay = cfg.is_null("weight_decay") ? 1e-4 : cfg.real("weight_decay");
  o.warmup_epochs = cfg.is_null("warmup_epochs") ? 1.0 : cfg.real("warmup_epochs");
  o.monitor = cfg.str("monitor");
  o.finetune = cfg.str("finetune");
  o.freeze_epochs = int(cfg.integer("freeze_epochs"));
  o.class_weights = cfg.boolean("class_weights");
  o.calibration = parse_calibration_method(cfg.str("calibration"));
  o.val_fraction = cfg.real("val_fraction");
  o.folds = int(cfg.integer("folds"));
  o.repeats = int(cfg.integer("repeats"));
  o.group_by_patient = cfg.boolean("group_by_patient");
  o.seed = uint64_t(cfg.integer("seed"));
  o.strict = cfg.boolean("strict");
  o.channels_last = cfg.boolean("channels_last") && o.device == "cpu";  // measured on oneDNN (CPU) only
  o.sync_bn = cfg.boolean("sync_bn");
  o.winograd = cfg.boolean("winograd");
  FRACTURE_CHECK(o.epochs >= 1, "key 'epochs' must be >= 1, got ", o.epochs);
  FRACTURE_CHECK(o.batch >= 2, "key 'batch' must be >= 2 for BatchNorm training, got ", o.batch);
  FRACTURE_CHECK(o.patience >= 1, "key 'patience' must be >= 1, got ", o.patience);
  FRACTURE_CHECK(o.workers >= 0, "key 'workers' must be >= 0, got ", o.workers);
  FRACTURE_CHECK(o.lr0 > 0, "key 'lr0' must be > 0, got ", o.lr0);
  FRACTURE_CHECK(o.lrf > 0 && o.lrf <= 1, "key 'lrf' must be in (0, 1], got ", o.lrf);
  FRACTURE_CHECK(o.weight_decay >= 0, "key 'weight_decay' must be >= 0, got ", o.weight_decay);
  FRACTURE_CHECK(o.warmup_epochs >= 0, "key 'warmup_epochs' must be >= 0, got ", o.warmup_epochs);
  FRACTURE_CHECK(o.monitor == "val_loss" || o.monitor == "auroc", "key 'monitor' must be val_loss or auroc, got '",
                 o.monitor, "'");
  FRACTURE_CHECK(o.finetune == "full" || o.finetune == "head" || o.finetune == "staged",
                 "key 'finetune' must be full, head or staged, got '", o.finetune, "'");
  FRACTURE_CHECK(o.freeze_epochs >= 0, "key 'freeze_epochs' must be >= 0, got ", o.freeze_epochs);
  FRACTURE_CHECK(o.val_fraction > 0 && o.val_fraction < 1, "key 'val_fraction' must be in (0, 1), got ",
                 o.val_fraction);
  FRACTURE_CHECK(o.folds >= 2, "key 'folds' must be >= 2, got ", o.folds);
  FRACTURE_CHECK(o.repeats >= 1, "key 'repeats' must be >= 1, got ", o.repeats);
  FRACTURE_CHECK(o.device == "cpu" || o.device.rfind("cuda", 0) == 0, "key 'device' must be cpu, cuda or cuda:N, got '",
                 o.device, "'");
  o.data.imgsz = int(cfg.integer("imgsz"));
  FRACTURE_CHECK(o.data.imgsz >= 32, "key 'imgsz' must be >= 32 for the classifiers (5 stride-2 stages), got ",
                 o.data.imgsz);
  o.data.resize = cfg.str("resize_mode");
  FRACTURE_CHECK(o.data.resize == "letterbox" || o.data.resize == "stretch",
                 "key 'resize_mode' must be letterbox or stretch, got '", o.data.resize, "'");
  o.data.channels = 3;  // grey replicated: torchvision stems, pretrained or not (see classify.h)
  o.data.imagenet_norm = true;
  o.data.clahe = float(cfg.real("clahe"));
  FRACTURE_CHECK(o.data.clahe >= 0, "key 'clahe' must be >= 0, got ", o.data.clahe);
  o.data.aug = augment_options(cfg, AugmentTask::kClassify);
  o.data.read = read_options(cfg);
  o.data.cache = ImageCache::make(cfg.str("cache"), std::filesystem::path(cfg.str("project")) / ".cache" / "images");
  return o;
}

double mean_bce(const std::vector<double>& logits, const std::vector<int>& labels) {
  FRACTURE_CHECK(logits.size() == labels.size() && !logits.empty(), "mean_bce: ", logits.size(), " logits vs ",
                 labels.size(), " labels");
  double s = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double z = logits[i];
    s += std::max(z, 0.0) - z * labels[i] + std::log1p(std::exp(-std::fabs(z)));
  }
  return s / double(logits.size());
}

std::vector<double> predict_logits(models::ClassifierImpl& net, const std::vector<ClsItem>& items,
                                   const ClassifyOptions& opt, std::vector<std::string>* unreadable) {
  std::vector<double> out;
  if (items.empty()) return out;
  const double kMissing = std::numeric_limits<double>::quiet_NaN();
  ClassificationOptions data = opt.data;
  data.augment = false;
  auto src = std::make_shared<ClassificationSource>(items, data);
  LoaderOptions lo;
  lo.batch = opt.batch;
  lo.workers = opt.workers;
  lo.shuffle = false;
  lo.seed = 0;
  lo.channels_last = opt.channels_last;
  lo.skip_unreadable = unreadable != nullptr;
  Loader loader(src, lo);
  const torch::Device device(opt.device);
  torch::NoGradGuard no_grad;
  net.eval();
  loader.start_epoch(0);
  out.assign(items.size(), kMissing);
  std::vector<bool> seen(items.size(), false);
  while (auto b = loader.next()) {
    torch::Tensor z = net.forward(b->images.to(device)).reshape({-1}).to(torch::kCPU, torch::kDouble).contiguous();
    const double* p = z.data_ptr<double>();
    for (int64_t i = 0; i < z.numel(); ++i) {
      const size_t item = size_t(b->indices[size_t(i)]);
      out[item] = p[i];
      seen[item] = true;
      FRACTURE_CHECK(std::isfinite(p[i]), "predict: non-finite logit for ", items[item].image.string(),
                     " (training diverged? lower lr0)");
    }
  }
  if (unreadable) {
    *unreadable = loader.skipped();
  } else {
    FRACTURE_CHECK(std::count(seen.begin(), seen.end(), true) == std::ptrdiff_t(items.size()), "predict: got logits for ",
                   std::count(seen.begin(), seen.end(), true), " of ", items.size(), " images");
  }
  return out;
}

FitResult fit_classifier(const std::string& arch, const std::vector<ClsItem>& train, const std::vector<ClsItem>& val,
                         const ClassifyOptions& opt, uint64_t seed, Logger& log, const std::string& tag,
                         const std::function<void(const std::vector<EpochRecord>&)>& on_epoch) {
  const auto t_fit = std::chrono::steady_clock::now();
  const int n_pos = count_positive(train), n_neg = int(train.size()) - n_pos;
  const int v_pos = count_positive(val), v_neg = int(val.size()) - v_pos;
  FRACTURE_CHECK(n_pos > 0 && n_neg > 0, tag, ": the training images need both classes, got ", n_pos,
                 " fractured and ", n_neg, " not fractured");
  FRACTURE_CHECK(v_pos > 0 && v_neg > 0, tag, ": the validation images need both classes (early stopping), got ",
                 v_pos, " fractured and ", v_neg, " not fractured");
  if (opt.device != "cpu") FRACTURE_CHECK(torch::cuda::is_available(), "device=", opt.device, ": CUDA is not available");
  const torch::Device device(opt.device);

  FitResult res;
  torch::manual_seed(seed);
  models::ClassifierOptions mo;
  mo.num_classes = 1;
  mo.in_channels = 3;
  res.net = models::make_classifier(arch, mo);
  prepare_one_logit_head(*res.net);
  if (!opt.weights.empty()) {
    const auto file = weights_file(opt.weights, arch);
    auto tensors = models::read_checkpoint(file);
    auto report = models::load_state_dict(*res.net, tensors, file.string(), /*strict=*/true);
    std::string reinit;
    for (const auto& k : report.reinitialised) reinit += (reinit.empty() ? "" : ", ") + k;
    res.load_report.push_back("loaded " + std::to_string(report.loaded.size()) + " tensors from " + file.string());
    if (!reinit.empty()) res.load_report.push_back("head re-initialised (shape differs): " + reinit);
    for (const auto& line : res.load_report) log.info("{} {}: {}", arch, tag, line);
  }
  res.net->to(device);
  // Data-parallel (WORLD_SIZE > 1): rank 0's initial weights everywhere (they agree already from the
  // seed; this makes it so whatever the weights file), each rank a shard of every epoch.
  DistGroup* dist = default_group();
  if (dist) broadcast_module(*dist, *res.net);
  // After weights= (copy_ into an NHWC parameter would keep NHWC anyway), before the optimiser
  // (which keeps references to these parameters and makes its state in their memory format).
  if (opt.channels_last) models::weights_to_channels_last(*res.net);

  // Loaders: training with augmentation, validation without.
  ClassificationOptions tdata = opt.data;
  tdata.augment = true;
  auto src = std::make_shared<ClassificationSource>(train, tdata);
  LoaderOptions lo = training_loader_options(opt, train.size(), splitmix64(seed ^ 0x6c6f61646572ull));  // "loader"
  lo.skip_unreadable = !opt.strict;  // a file damaged during the run: left out and counted
  if (dist) {
    lo.shard_rank = dist->rank();
    lo.shard_count = dist->world_size();
  }
  Loader loader(src, lo);
  size_t skipped_reported = 0;
  std::vector<int> val_labels;
  for (const auto& it : val) val_labels.push_back(it.label);

  // AdamW, two groups: decay on conv/linear weights, none on biases and BatchNorm weights (every
  // parameter, frozen or not: staged fine-tuning unfreezes the backbone later).
  const ParamGroups pg = param_groups(*res.net, /*trainable_only=*/false);
  std::vector<torch::Tensor> no_decay = pg.bias;
  no_decay.insert(no_decay.end(), pg.no_decay.begin(), pg.no_decay.end());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(pg.decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(opt.lr0).weight_decay(opt.weight_decay)));
  groups.emplace_back(no_decay,
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(opt.lr0).weight_decay(0)));
  torch::optim::AdamW optimizer(std::move(groups), torch::optim::AdamWOptions(opt.lr0));

  const int64_t ipe = int64_t(loader.batches_per_epoch());
  const int64_t total = ipe * opt.epochs;
  const int64_t warmup = std::min<int64_t>(total, int64_t(std::llround(opt.warmup_epochs * double(ipe))));
  torch::Tensor pos_weight;
  if (opt.class_weights) pos_weight = torch::full({1}, double(n_neg) / double(n_pos), torch::kFloat).to(device);
  log.info("{} {}: {} train ({} fractured), {} val ({} fractured), {} iterations/epoch, finetune {}{}", arch, tag,
           train.size(), n_pos, val.size(), v_pos, ipe, opt.finetune,
           opt.class_weights ? ", pos_weight " + std::to_string(double(n_neg) / double(n_pos)) : std::string());

  const bool staged = opt.finetune == "staged" && opt.freeze_epochs > 0;
  if (opt.finetune == "head" || staged) models::freeze_backbone(*res.net);
  EarlyStopping stopper(opt.monitor, opt.patience);
  std::vector<torch::Tensor> best_state;
  int64_t it = 0;
  for (int epoch = 0; epoch < opt.epochs; ++epoch) {
    const auto t_epoch = std::chrono::steady_clock::now();
    if (staged && epoch == opt.freeze_epochs) {
      models::unfreeze(*res.net);
      log.info("{} {}: backbone unfrozen at epoch {}", arch, tag, epoch + 1);
    }
    res.net->train(true);
    loader.start_epoch(epoch);
    double loss_sum = 0, lr = opt.lr0;
    int64_t seen = 0;
    Progress bar(arch + " " + tag + " epoch " + std::to_string(epoch + 1) + "/" + std::to_string(opt.epochs), ipe);
    std::optional<SyncBatchNormScope> sync_bn;  // training batches only (not the recalibration below)
    if (opt.sync_bn) sync_bn.emplace(dist);
    while (auto b = loader.next()) {
      lr = lr_at_iteration(it++, total, warmup, opt.lr0, opt.lrf);
      for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      torch::Tensor x = b->images.to(device);
      torch::Tensor y = b->labels.to(device, torch::kFloat);
      if (it == 1)  // the first step: the memory format the run trains in
        res.channels_last = x.is_contiguous(torch::MemoryFormat::ChannelsLast) && models::weights_are_channels_last(*res.net);
      torch::Tensor z = res.net->forward(x).reshape({-1});
      auto bce = torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions();
      if (pos_weight.defined()) bce.pos_weight(pos_weight);
      torch::Tensor loss = torch::nn::functional::binary_cross_entropy_with_logits(z, y, bce);
      optimizer.zero_grad();
      loss.backward();
      if (dist) average_gradients(*dist, *res.net);  // the gradient of the mean loss over all ranks' images
      optimizer.step();
      const double l = loss.item<double>();
      FRACTURE_CHECK(std::isfinite(l), arch, " ", tag, ": training loss is not finite at epoch ", epoch + 1,
                     " (lower lr0)");
      loss_sum += l * double(x.size(0));
      seen += x.size(0);
      char m[48];
      std::snprintf(m, sizeof m, "loss %.4f", loss_sum / double(seen));
      bar.step(m);
    }
    bar.done();
    sync_bn.reset();
    if (dist) {  // the epoch's mean loss over every rank's images
      std::vector<torch::Tensor> sums{torch::tensor({loss_sum, double(seen)}, torch::kDouble)};
      dist->allreduce_sum(sums);
      loss_sum = sums[0][0].item<double>();
      seen = int64_t(std::llround(sums[0][1].item<double>()));
    }
    // every rank recomputes the statistics on the whole training set, so all validate the same model
    recalibrate_batchnorm(*res.net, train, opt, device, seed);
    std::vector<std::string> lost;  // strict=false: validation images that could not be read this epoch
    std::vector<double> vz = predict_logits(*res.net, val, opt, opt.strict ? nullptr : &lost);
    for (const auto& l : lost) log.warn("{} {}: validation image left out (strict=false): {}", arch, tag, l);
    std::vector<double> vzf = vz;
    std::vector<int> vlf = val_labels;
    keep_finite(vzf, vlf);
    EpochRecord rec;
    rec.epoch = epoch;
    rec.train_loss = seen ? loss_sum / double(seen) : 0.0;
    rec.val_loss = mean_bce(vzf, vlf);
    rec.val_auroc = roc_auc_score(vlf, vzf);
    rec.lr = lr;
    rec.best = stopper.update(epoch, opt.monitor == "auroc" ? rec.val_auroc : rec.val_loss);
    if (rec.best) {
      best_state = snapshot(*res.net);
      res.val_logits = vz;
    }
    rec.seconds = seconds_since(t_epoch);
    res.history.push_back(rec);
    // ETA: the epochs left at this fold's pace so far (early stopping can end it sooner)
    log.info("{} {} epoch {}/{}: train_loss {:.4f} val_loss {:.4f} val_auroc {:.4f} lr {:.2e} {:.1f}s{} | ETA {}", arch,
             tag, epoch + 1, opt.epochs, rec.train_loss, rec.val_loss, rec.val_auroc, rec.lr, rec.seconds,
             rec.best ? " *" : "", format_duration(eta_seconds(epoch + 1, opt.epochs, seconds_since(t_fit))));
    if (on_epoch) on_epoch(res.history);
    const std::vector<std::string> skipped = loader.skipped();
    for (; skipped_reported < skipped.size(); ++skipped_reported)
      log.warn("{} {}: training image left out (strict=false): {}", arch, tag, skipped[skipped_reported]);
    const bool frozen_phase = staged && epoch < opt.freeze_epochs;
    if (!frozen_phase && stopper.should_stop()) {
      log.info("{} {}: early stop after epoch {}: no {} improvement for {} epochs (best epoch {})", arch, tag,
               epoch + 1, opt.monitor, opt.patience, stopper.best_epoch() + 1);
      break;
    }
  }
  FRACTURE_CHECK(!best_state.empty(), arch, " ", tag, ": no epoch gave a finite ", opt.monitor);
  if (res.net->backbone_frozen()) models::unfreeze(*res.net);
  restore(*res.net, best_state);
  res.net->eval();
  res.best_epoch = stopper.best_epoch();
  res.epochs_run = int(res.history.size());
  res.seconds = seconds_since(t_fit);
  return res;
}

}  // namespace fracture::engine
