#include "fracture/engine/detect_eval.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/detect/loss.h"
#include "fracture/detect/nms.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/inference.h"
#include "fracture/report/detect_files.h"
#include "fracture/data/loader.h"

namespace fracture::engine {

namespace fs = std::filesystem;

fs::path resolve_detector_weights(const fs::path& model) {
  FRACTURE_CHECK(!model.empty(), "detect: model= must name a run directory or a weights file");
  FRACTURE_CHECK(fs::exists(model), "detect: model '", model.string(), "' does not exist");
  if (fs::is_directory(model)) {
    for (const char* f : {"weights/best.safetensors", "weights/last.safetensors", "best.safetensors", "last.safetensors"})
      if (fs::exists(model / f)) return model / f;
    FRACTURE_FAIL("detect: run directory '", model.string(),
                  "' holds no weights/best.safetensors or weights/last.safetensors");
  }
  return model;
}

LoadedDetector load_detector(const fs::path& model, const torch::Device& device, bool channels_last) {
  LoadedDetector d;
  d.weights = resolve_detector_weights(model);
  models::NamedTensors t = models::read_checkpoint(d.weights);
  int64_t width0 = -1, nc = -1;
  for (const auto& [k, v] : t) {
    if (k == "model.0.conv.weight") width0 = v.size(0);
    if (k == "model.22.cv3.0.2.weight") nc = v.size(0);
  }
  FRACTURE_CHECK(width0 > 0 && nc > 0, d.weights.string(),
                 ": not a YOLOv8 detector state dict (no model.0.conv.weight / model.22.cv3.0.2.weight)");
  if (width0 == 16) d.scale = "n";
  else if (width0 == 32) d.scale = "s";
  else if (width0 == 48) d.scale = "m";
  else FRACTURE_FAIL(d.weights.string(), ": model.0.conv.weight has ", width0, " channels; expected 16 (n), 32 (s) or 48 (m)");
  models::YoloV8Options o;
  o.scale = d.scale;
  o.nc = nc;
  d.net = models::YoloV8(o);
  models::LoadOptions lo;
  lo.head_prefix = "model.22.cv3.";
  lo.strict = true;
  lo.source = d.weights.string();
  models::load_state_dict(*d.net, t, lo);
  d.net->to(device);
  if (channels_last) models::weights_to_channels_last(*d.net);
  d.net->eval();
  d.names = report::read_names(d.weights.parent_path(), nc);
  return d;
}

LoadedDetector load_detector(const fs::path& model, const torch::Device& device,
                             const models::InferenceOptions& optimize) {
  LoadedDetector d = load_detector(model, device);
  models::optimize_for_inference(*d.net, optimize);  // eval mode, BN folded (+ NHWC, fused oneDNN convs)
  return d;
}

BoxXyxy unletterbox(const BoxXyxy& b, const LetterboxInfo& lb) {
  auto fx = [&](double x) { return std::clamp((x - lb.pad_x) / double(lb.scale), 0.0, double(lb.src_w)); };
  auto fy = [&](double y) { return std::clamp((y - lb.pad_y) / double(lb.scale), 0.0, double(lb.src_h)); };
  return {fx(b.x1), fy(b.y1), fx(b.x2), fy(b.y2)};
}

namespace {

// Rows [x1, y1, x2, y2, conf, cls] of one image's NMS output -> predictions in original pixels.
std::vector<Prediction> to_predictions(const torch::Tensor& det, const LetterboxInfo& lb) {
  auto d = det.to(torch::kCPU, torch::kDouble).contiguous();
  std::vector<Prediction> out;
  const double* p = d.data_ptr<double>();
  for (int64_t r = 0; r < d.size(0); ++r, p += 6) {
    Prediction q;
    q.box = unletterbox({p[0], p[1], p[2], p[3]}, lb);
    q.conf = std::clamp(p[4], 0.0, 1.0);
    q.cls = int(std::lround(p[5]));
    out.push_back(q);
  }
  return out;
}

std::vector<GroundTruth> to_ground_truth(const DetItem& item, int w, int h, int nc) {
  std::vector<GroundTruth> g;
  for (const Box& b : item.boxes) {
    FRACTURE_CHECK(b.cls >= 0 && b.cls < nc, item.label.empty() ? item.image.string() : item.label.string(),
                   ": class ", b.cls, " but the model has ", nc, " classes");
    GroundTruth t;
    t.cls = b.cls;
    t.box = {(b.cx - b.w / 2.0) * w, (b.cy - b.h / 2.0) * h, (b.cx + b.w / 2.0) * w, (b.cy + b.h / 2.0) * h};
    g.push_back(t);
  }
  return g;
}

}  // namespace

DetValOutput validate_detector(models::YoloV8Impl& net, const std::vector<DetItem>& items,
                               const std::vector<std::string>& names, const DetValOptions& opt, Logger& log,
                               const detect::DetectionLoss* loss) {
  const int nc = int(names.size());
  FRACTURE_CHECK(net.options.nc == nc, "detect val: the dataset has ", nc, " classes but the model has ",
                 net.options.nc, " (train or convert a model for this dataset's classes)");
  FRACTURE_CHECK(!items.empty(), "detect val: the split has no images");
  DetectionOptions dopt;
  dopt.imgsz = opt.imgsz;
  dopt.augment = false;
  dopt.channels = 3;
  dopt.clahe = opt.clahe;
  dopt.read = opt.read;
  dopt.cache = opt.cache;
  const int batch = std::max(1, opt.batch);
  // Loader order: the items' own, or with rect by aspect ratio; order[k] is the item at position k.
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<DetItem> reordered;  // rect only: the items in loader order
  DetValOutput out;
  if (opt.rect) {
    std::vector<cv::Size> sizes;
    sizes.reserve(items.size());
    for (const DetItem& it : items) {
      try {
        sizes.push_back(image_size(it.image, opt.read));
      } catch (const std::exception& e) {
        if (!opt.skip_unreadable) throw;
        out.skipped.push_back(e.what());
        sizes.push_back(cv::Size(opt.imgsz, opt.imgsz));  // its batch shape; the loader leaves it out
      }
    }
    RectBatches rb = rect_batches(sizes, batch, opt.imgsz, int(net.l22->stride.back()));  // 32
    order = rb.order;
    for (size_t k : order) reordered.push_back(items[k]);
    dopt.shapes = rb.shapes;
  }
  auto src = std::make_shared<DetectionSource>(opt.rect ? std::move(reordered) : items, dopt);
  LoaderOptions lo;
  lo.batch = batch;
  lo.workers = opt.workers;
  lo.shuffle = false;
  lo.channels_last = opt.channels_last;
  lo.skip_unreadable = opt.skip_unreadable;
  Loader loader(src, lo);
  loader.start_epoch(0);

  const bool was_training = net.is_training();
  net.eval();
  torch::NoGradGuard ng;
  const torch::Device device = net.parameters().front().device();
  detect::NmsOptions no;
  no.conf_thres = opt.conf;
  no.iou_thres = opt.iou;
  no.multi_label = opt.multi_label;
  no.max_det = opt.max_det;

  out.matching = opt.matching;
  out.rect = opt.rect;
  std::vector<ImagePredictions> by_item(items.size());
  DetectionMetrics dm(names, opt.matching);
  torch::Tensor loss_sum;
  int64_t n_batches = 0;
  while (auto b = loader.next()) {
    auto x = b->images.to(device);
    auto feats = net.forward_train(x);       // 3 x (B, 64 + nc, H_i, W_i)
    auto pred = net.l22->decode(feats);      // (B, 4 + nc, A) xywh letterbox pixels, sigmoid scores
    if (loss) {
      auto l = (*loss)(feats, b->targets.to(device), x.size(2), x.size(3)).items.to(torch::kCPU, torch::kDouble);
      loss_sum = loss_sum.defined() ? loss_sum + l : l;
    }
    ++n_batches;
    auto dets = detect::non_max_suppression(pred, no);
    for (size_t k = 0; k < dets.size(); ++k) {
      const LetterboxInfo& lb = b->letterboxes[k];
      const size_t item_index = order[size_t(b->indices[k])];
      const DetItem& item = items[item_index];
      ImagePredictions ip;
      ip.path = item.image.string();
      ip.width = lb.src_w;
      ip.height = lb.src_h;
      ip.preds = to_predictions(dets[k], lb);
      ip.gts = to_ground_truth(item, lb.src_w, lb.src_h, nc);
      by_item[item_index] = std::move(ip);
    }
  }
  // Accumulated in the split's order (Ultralytics uses its loader's, sorted by aspect ratio with
  // rect): only exact ties in confidence can tell the two apart, and then predictions.json rescores
  // to the same figures.
  std::vector<ImagePredictions> read;  // without the images the loader left out (skip_unreadable)
  for (ImagePredictions& ip : by_item)
    if (!ip.path.empty()) read.push_back(std::move(ip));
  for (const ImagePredictions& ip : read) dm.update(ip.preds, ip.gts);
  if (opt.skip_unreadable)
    for (const std::string& s : loader.skipped())
      if (std::find(out.skipped.begin(), out.skipped.end(), s) == out.skipped.end()) out.skipped.push_back(s);
  for (const std::string& s : out.skipped) log.warn("detect val: image left out (strict=false): {}", s);
  out.images = std::move(read);
  out.results = dm.compute();
  out.confusion = dm.confusion();
  out.n_images = int64_t(out.images.size());
  if (loss_sum.defined()) {
    loss_sum = loss_sum / double(n_batches);
    for (int i = 0; i < 3; ++i) out.loss.push_back(loss_sum[i].item<double>());
  }
  if (was_training) net.train();
  log.debug("detect val: {} images, mAP50 {:.4f}, mAP50-95 {:.4f}", out.n_images, out.results.map50, out.results.map);
  return out;
}

DetectionMetrics metrics_from_images(const std::vector<ImagePredictions>& images, const std::vector<std::string>& names,
                                     MatchRule matching) {
  DetectionMetrics dm(names, matching);
  for (const auto& im : images) dm.update(im.preds, im.gts);
  return dm;
}

std::vector<Prediction> predict_image(models::YoloV8Impl& net, const cv::Mat& img01, const PredictOptions& opt) {
  FRACTURE_CHECK(img01.type() == CV_32FC1 && !img01.empty(), "predict_image: expected a non-empty CV_32FC1 image");
  FRACTURE_CHECK(opt.imgsz > 0 && opt.imgsz % 32 == 0, "detect predict: imgsz must be a positive multiple of 32, got ",
                 opt.imgsz);
  LetterboxInfo lb;
  const int stride = int(net.l22->stride.back());  // 32
  cv::Mat x = opt.rect ? letterbox_min(img01, opt.imgsz, stride, 114.0 / 255.0, &lb)
                       : letterbox(img01, opt.imgsz, 114.0 / 255.0, &lb);
  if (!x.isContinuous()) x = x.clone();
  torch::NoGradGuard ng;
  net.eval();
  const torch::Device device = net.parameters().front().device();
  auto t = torch::from_blob(x.data, {1, 1, x.rows, x.cols}, torch::kFloat32).clone();
  const auto format = opt.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  t = t.expand({1, 3, x.rows, x.cols}).contiguous(format).to(device);  // grey replicated to 3 channels
  auto pred = net.forward(t);                                      // (1, 4 + nc, A)
  detect::NmsOptions no;
  no.conf_thres = opt.conf;
  no.iou_thres = opt.iou;
  no.max_det = opt.max_det;
  no.agnostic = opt.agnostic;
  auto dets = detect::non_max_suppression(pred, no);
  return to_predictions(dets[0], lb);
}

}  // namespace fracture::engine
