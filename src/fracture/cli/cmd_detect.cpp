// fracture detect train data=data.yaml model=yolov8n|s|m epochs=N imgsz=S batch=B [weights=FILE] [resume=RUN]
// fracture detect val     model=RUN_DIR|weights.safetensors data=data.yaml split=val|test
// fracture detect predict model=RUN_DIR|weights.safetensors source=IMAGE|FOLDER|DICOM conf=0.25 iou=0.7
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "fracture/cli/commands.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/rundir.h"
#include "fracture/data/image.h"
#include "fracture/data/yolo.h"
#include "fracture/engine/detect_eval.h"
#include "fracture/engine/detect_train.h"
#include "fracture/models/inference.h"
#include "fracture/models/onednn_conv.h"

namespace fracture::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int checked_int(const Config& cfg, const char* key, long long lo) {
  long long v = cfg.integer(key);
  FRACTURE_CHECK(v >= lo && v <= 1000000000LL, "detect: ", key, "=", v, " is out of range (>= ", lo, ")");
  return int(v);
}

}  // namespace

int cmd_detect_train(const Config& cfg, Logger& log) {
  engine::DetectTrainResult r = engine::detect_train(cfg, log);
  std::printf("%d epochs, best epoch %d (fitness %.4f)\n%s", r.epochs_done, r.best_epoch, r.best_fitness,
              engine::format_val_table(r.final_val, r.names).c_str());
  std::printf("results saved to %s\n", r.run_dir.string().c_str());
  return 0;
}

// precision=fp32|bf16: bf16 only where the fused oneDNN path runs (CPU, channels_last, oneDNN built in);
// on a CPU without native bf16 (models::bf16_supported) optimize_for_inference warns once and runs fp32.
static bool inference_bf16(const Config& cfg, const torch::Device& device) {
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

// How val and predict run the detector: optimised, channels-last on the CPU (key channels_last),
// precision and winograd from the config.
static models::InferenceOptions inference_options(const Config& cfg, const torch::Device& device, Logger& log) {
  models::InferenceOptions io;
  io.log = &log;
  io.channels_last = cfg.boolean("channels_last") && device.is_cpu();
  io.bf16 = inference_bf16(cfg, device);
  io.winograd = cfg.boolean("winograd");
  return io;
}

int cmd_detect_val(const Config& cfg, Logger& log) {
  FRACTURE_CHECK(!cfg.str("data").empty(), "detect val: data= must name a data.yaml");
  const std::string split = cfg.str("split");
  const torch::Device device(cfg.str("device"));
  const models::InferenceOptions io = inference_options(cfg, device, log);
  engine::LoadedDetector det = engine::load_detector(cfg.str("model"), device, io);
  DetDataset ds = load_yolo(cfg.str("data"), cfg.boolean("strict"), log, nullptr);
  FRACTURE_CHECK(int64_t(ds.names.size()) == det.net->options.nc, "detect val: ", cfg.str("data"), " has ",
                 ds.names.size(), " classes but the model ", det.weights.string(), " was trained for ",
                 det.net->options.nc);
  FRACTURE_CHECK(ds.splits.count(split) && !ds.splits.at(split).empty(), "detect val: ", cfg.str("data"),
                 " has no '", split, "' split (split= train, val or test)");
  engine::DetValOptions vo;
  vo.imgsz = checked_int(cfg, "imgsz", 32);
  FRACTURE_CHECK(vo.imgsz % 32 == 0, "detect val: imgsz must be a multiple of 32, got ", vo.imgsz);
  vo.batch = checked_int(cfg, "batch", 1);
  vo.workers = checked_int(cfg, "workers", 0);
  vo.conf = cfg.is_null("conf") ? 0.001 : cfg.real("conf");
  vo.iou = cfg.real("iou");
  vo.max_det = cfg.integer("max_det");
  vo.matching = parse_match_rule(cfg.str("matching"));
  vo.rect = cfg.boolean("rect");
  vo.clahe = float(cfg.real("clahe"));
  vo.read.dicom_window = cfg.str("dicom_window");
  vo.channels_last = io.channels_last;
  engine::DetValOutput out = engine::validate_detector(*det.net, ds.splits.at(split), ds.names, vo, log);
  fs::path run = make_run_dir(cfg.str("project"), "detect", cfg.is_null("name") ? "val" : cfg.str("name"));
  write_file_atomic(run / "args.yaml", cfg.to_yaml());
  engine::write_val_report(out, ds.names, run);
  std::printf("%s", engine::format_val_table(out, ds.names).c_str());
  std::printf("results saved to %s\n", run.string().c_str());
  return 0;
}

int cmd_detect_predict(const Config& cfg, Logger& log) {
  FRACTURE_CHECK(!cfg.str("source").empty(), "detect predict: source= must name an image, a folder or a DICOM file");
  const fs::path source = cfg.str("source");
  FRACTURE_CHECK(fs::exists(source), "detect predict: source '", source.string(), "' does not exist");
  const torch::Device device(cfg.str("device"));
  const models::InferenceOptions io = inference_options(cfg, device, log);
  engine::LoadedDetector det = engine::load_detector(cfg.str("model"), device, io);
  std::vector<fs::path> files;
  if (fs::is_directory(source)) {
    for (const auto& e : fs::recursive_directory_iterator(source))
      if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    FRACTURE_CHECK(!files.empty(), "detect predict: no images in ", source.string());
  } else {
    files.push_back(source);
  }
  engine::PredictOptions po;
  po.imgsz = checked_int(cfg, "imgsz", 32);
  po.conf = cfg.is_null("conf") ? 0.25 : cfg.real("conf");
  po.iou = cfg.real("iou");
  po.max_det = cfg.integer("max_det");
  po.channels_last = io.channels_last;
  po.rect = cfg.boolean("rect");
  ReadOptions ro;
  ro.dicom_window = cfg.str("dicom_window");
  fs::path run = make_run_dir(cfg.str("project"), "detect", cfg.is_null("name") ? "predict" : cfg.str("name"));
  write_file_atomic(run / "args.yaml", cfg.to_yaml());
  json all = json::array();
  for (const fs::path& f : files) {
    cv::Mat img = to_float01(read_image(f, ro));
    std::vector<Prediction> preds = engine::predict_image(*det.net, img, po);
    // Output name: path relative to the source folder, separators replaced, so names never collide.
    std::string stem = fs::is_directory(source) ? fs::relative(f, source).replace_extension().string()
                                                : f.stem().string();
    std::replace(stem.begin(), stem.end(), '/', '_');
    json j;
    j["file"] = f.string();
    j["width"] = img.cols;
    j["height"] = img.rows;
    json boxes = json::array();
    for (const auto& p : preds)
      boxes.push_back({{"xyxy", {p.box.x1, p.box.y1, p.box.x2, p.box.y2}},
                       {"class", p.cls},
                       {"name", det.names[size_t(p.cls)]},
                       {"confidence", p.conf}});
    j["boxes"] = boxes;
    write_file_atomic(run / (stem + ".json"), j.dump(2));
    std::vector<uchar> png;
    cv::imencode(".png", engine::draw_detections(img, preds, det.names), png);
    write_file_atomic(run / (stem + ".png"), std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
    log.info("{}: {} detections", f.string(), preds.size());
    all.push_back(j);
  }
  write_file_atomic(run / "predictions.json", all.dump(1));
  std::printf("%zu images, results saved to %s\n", files.size(), run.string().c_str());
  return 0;
}

}  // namespace fracture::cli
