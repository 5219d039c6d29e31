#include "fracture/engine/detect_run.h"

#include <torch/torch.h>

#include <algorithm>

#include "fracture/core/error.h"
#include "fracture/core/rundir.h"
#include "fracture/data/image.h"
#include "fracture/data/yolo.h"
#include "fracture/models/kernels/onednn_conv.h"
#include "fracture/report/data_files.h"
#include "fracture/report/detect_files.h"

namespace fracture::engine {

namespace fs = std::filesystem;

namespace {

int checked_int(const Config& cfg, const char* key, long long lo) {
  long long v = cfg.integer(key);
  FRACTURE_CHECK(v >= lo && v <= 1000000000LL, "detect: ", key, "=", v, " is out of range (>= ", lo, ")");
  return int(v);
}

bool inference_bf16(const Config& cfg, const torch::Device& device) {
  const std::string p = cfg.str("precision");
  FRACTURE_CHECK(p == "fp32" || p == "bf16", "config key 'precision' must be fp32 or bf16, got '", p, "'");
  if (p == "fp32") return false;
  FRACTURE_CHECK(device.is_cpu() && cfg.boolean("channels_last"),
                 "precision=bf16 runs on the CPU with channels_last=true (got device=", cfg.str("device"),
                 ", channels_last=", cfg.boolean("channels_last") ? "true" : "false", ")");
  FRACTURE_CHECK(models::OnednnConv::available(),
                 "precision=bf16 needs a build with oneDNN (FRACTURE_WITH_ONEDNN and libdnnl-dev); this one has none");
  return true;
}

// The images of source=: one file, or every image under a folder (sorted).
std::vector<fs::path> predict_sources(const fs::path& source) {
  std::vector<fs::path> files;
  if (fs::is_directory(source)) {
    for (const auto& e : fs::recursive_directory_iterator(source))
      if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    FRACTURE_CHECK(!files.empty(), "detect predict: no images in ", source.string());
  } else {
    files.push_back(source);
  }
  return files;
}

}  // namespace

models::InferenceOptions detect_inference_options(const Config& cfg, const torch::Device& device, Logger& log) {
  models::InferenceOptions io;
  io.log = &log;
  io.channels_last = cfg.boolean("channels_last") && device.is_cpu();
  io.bf16 = inference_bf16(cfg, device);
  io.winograd = cfg.boolean("winograd");
  return io;
}

std::vector<UnusableFile> screen_detection_dataset(DetDataset& ds, const Config& cfg, Logger& log,
                                                   const std::vector<Problem>& problems) {
  size_t listed = 0;
  for (const auto& [split, items] : ds.splits) listed += items.size();
  std::vector<UnusableFile> bad = screen_dataset(ds, screen_options(cfg));
  warn_unusable(log, cfg.str("data"), bad, listed);
  std::vector<UnusableFile> out;
  for (const Problem& p : problems) out.push_back(unusable_from_problem(p));
  out.insert(out.end(), bad.begin(), bad.end());
  return out;
}

DetValOptions det_val_options(const Config& cfg) {
  DetValOptions vo;
  vo.conf = cfg.is_null("conf") ? 0.001 : cfg.real("conf");
  vo.iou = cfg.real("iou");
  vo.max_det = cfg.integer("max_det");
  vo.matching = parse_match_rule(cfg.str("matching"));
  vo.rect = cfg.boolean("rect");
  vo.clahe = float(cfg.real("clahe"));
  vo.read = read_options(cfg);
  vo.skip_unreadable = !cfg.boolean("strict");
  return vo;
}

DetectOutcome detect_val(const Config& cfg, Logger& log) {
  FRACTURE_CHECK(!cfg.str("data").empty(), "detect val: data= must name a data.yaml");
  const std::string split = cfg.str("split");
  const torch::Device device(cfg.str("device"));
  const models::InferenceOptions io = detect_inference_options(cfg, device, log);
  LoadedDetector det = load_detector(cfg.str("model"), device, io);
  std::vector<Problem> problems;
  DetDataset ds = load_yolo(cfg.str("data"), cfg.boolean("strict"), log, &problems);
  std::vector<UnusableFile> skipped = screen_detection_dataset(ds, cfg, log, problems);
  FRACTURE_CHECK(int64_t(ds.names.size()) == det.net->options.nc, "detect val: ", cfg.str("data"), " has ",
                 ds.names.size(), " classes but the model ", det.weights.string(), " was trained for ",
                 det.net->options.nc);
  FRACTURE_CHECK(ds.splits.count(split) && !ds.splits.at(split).empty(), "detect val: ", cfg.str("data"),
                 " has no '", split, "' split (split= train, val or test)");
  DetValOptions vo = det_val_options(cfg);
  vo.imgsz = checked_int(cfg, "imgsz", 32);
  FRACTURE_CHECK(vo.imgsz % 32 == 0, "detect val: imgsz must be a multiple of 32, got ", vo.imgsz);
  vo.batch = checked_int(cfg, "batch", 1);
  vo.workers = checked_int(cfg, "workers", 0);
  vo.channels_last = io.channels_last;
  DetValOutput out = validate_detector(*det.net, ds.splits.at(split), ds.names, vo, log);
  DetectOutcome res;
  res.run_dir = make_run_dir(cfg.str("project"), "detect", cfg.is_null("name") ? "val" : cfg.str("name"));
  write_run_args(res.run_dir, cfg);
  for (const std::string& s : out.skipped) skipped.push_back(unusable_from_message(s, split));
  report::write_skipped(res.run_dir, skipped);
  report::write_val_report(out, ds.names, res.run_dir);
  res.report = report::format_val_table(out, ds.names);
  return res;
}

DetectOutcome detect_predict(const Config& cfg, Logger& log) {
  FRACTURE_CHECK(!cfg.str("source").empty(), "detect predict: source= must name an image, a folder or a DICOM file");
  const fs::path source = cfg.str("source");
  FRACTURE_CHECK(fs::exists(source), "detect predict: source '", source.string(), "' does not exist");
  const torch::Device device(cfg.str("device"));
  const models::InferenceOptions io = detect_inference_options(cfg, device, log);
  LoadedDetector det = load_detector(cfg.str("model"), device, io);
  const std::vector<fs::path> listed = predict_sources(source);
  std::vector<UnusableFile> skipped;
  const std::vector<bool> usable = screen_files(listed, screen_options(cfg), &skipped);
  std::vector<fs::path> files;
  for (size_t i = 0; i < listed.size(); ++i)
    if (usable[i]) files.push_back(listed[i]);
  warn_unusable(log, source.string(), skipped, listed.size());
  PredictOptions po;
  po.imgsz = checked_int(cfg, "imgsz", 32);
  po.conf = cfg.is_null("conf") ? 0.25 : cfg.real("conf");
  po.iou = cfg.real("iou");
  po.max_det = cfg.integer("max_det");
  po.channels_last = io.channels_last;
  po.rect = cfg.boolean("rect");
  ReadOptions ro;
  ro = read_options(cfg);
  DetectOutcome res;
  res.run_dir = make_run_dir(cfg.str("project"), "detect", cfg.is_null("name") ? "predict" : cfg.str("name"));
  write_run_args(res.run_dir, cfg);
  report::write_skipped(res.run_dir, skipped);
  std::vector<report::PredictedImage> all;
  for (const fs::path& f : files) {
    cv::Mat img = to_float01(read_image(f, ro));
    report::PredictedImage p{f.string(), img.cols, img.rows, predict_image(*det.net, img, po)};
    // Output name: path relative to the source folder, separators replaced, so names never collide.
    std::string stem = fs::is_directory(source) ? fs::relative(f, source).replace_extension().string()
                                                : f.stem().string();
    std::replace(stem.begin(), stem.end(), '/', '_');
    report::write_predicted_image(res.run_dir, stem, p, det.names, img);
    log.info("{}: {} detections", f.string(), p.preds.size());
    all.push_back(std::move(p));
  }
  report::write_predict_summary(res.run_dir, all, det.names);
  res.report = std::to_string(files.size()) + " images";
  return res;
}

}  // namespace fracture::engine
