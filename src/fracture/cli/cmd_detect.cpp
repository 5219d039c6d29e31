// fracture detect train|val|predict: thin wrappers over fracture::engine (detect_train.h, detect_run.h).
//   fracture detect train data=data.yaml model=yolov8n|s|m epochs=N imgsz=S batch=B [weights=FILE] [resume=RUN]
//   fracture detect val     model=RUN_DIR|weights.safetensors data=data.yaml split=val|test
//   fracture detect predict model=RUN_DIR|weights.safetensors source=IMAGE|FOLDER|DICOM conf=0.25 iou=0.7
#include <cstdio>

#include "fracture/cli/commands.h"
#include "fracture/engine/detect_run.h"
#include "fracture/engine/detect_train.h"
#include "fracture/report/detect_files.h"

namespace fracture::cli {

int cmd_detect_train(const Config& cfg, Logger& log) {
  engine::DetectTrainResult r = engine::detect_train(cfg, log);
  std::printf("%d epochs, best epoch %d (fitness %.4f)\n%s", r.epochs_done, r.best_epoch, r.best_fitness,
              report::format_val_table(r.final_val, r.names).c_str());
  std::printf("results saved to %s\n", r.run_dir.string().c_str());
  return 0;
}

int cmd_detect_val(const Config& cfg, Logger& log) {
  const engine::DetectOutcome out = engine::detect_val(cfg, log);
  std::printf("%s", out.report.c_str());
  std::printf("results saved to %s\n", out.run_dir.string().c_str());
  return 0;
}

int cmd_detect_predict(const Config& cfg, Logger& log) {
  const engine::DetectOutcome out = engine::detect_predict(cfg, log);
  std::printf("%s, results saved to %s\n", out.report.c_str(), out.run_dir.string().c_str());
  return 0;
}

}  // namespace fracture::cli
