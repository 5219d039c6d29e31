// fracture classify train|cv|val|predict: thin wrappers over fracture::engine (engine/classify.h).
//   fracture classify cv data=DATA model=resnet18|mobilenet_v3_small|efficientnet_b0|all folds=5 repeats=3
//   fracture classify train data=DATA model=... epochs=... [resume=RUN_DIR]
//   fracture classify val model=RUN_DIR split=val|test
//   fracture classify predict model=RUN_DIR source=IMAGE|FOLDER|DICOM threshold=0.5
// Each prints its report (the study tables, metrics or predictions) and the run directory.
#include <cstdio>

#include "fracture/cli/commands.h"
#include "fracture/core/error.h"
#include "fracture/engine/classify.h"
#include "fracture/engine/classify_run.h"

namespace fracture::cli {

namespace {
int print(const engine::ClassifyOutcome& out, Logger& log) {
  std::printf("%s\n", out.report.c_str());
  std::printf("results saved to %s\n", out.run_dir.string().c_str());
  std::fflush(stdout);
  log.debug("run directory {}", out.run_dir.string());
  return 0;
}
// The classifiers have no bf16 path (InferenceOptions::bf16 is YOLOv8-only): say so, not ignore it.
void refuse_bf16(const Config& cfg) {
  FRACTURE_CHECK(cfg.str("precision") == "fp32", "precision=", cfg.str("precision"),
                 ": classify runs in fp32 only (bf16 inference is built for detect val/predict)");
}
}  // namespace

int cmd_classify_train(const Config& cfg, Logger& log) { return print(engine::classify_train(cfg, log), log); }
int cmd_classify_cv(const Config& cfg, Logger& log) { return print(engine::classify_cv(cfg, log), log); }
int cmd_classify_val(const Config& cfg, Logger& log) {
  refuse_bf16(cfg);
  return print(engine::classify_val(cfg, log), log);
}
int cmd_classify_predict(const Config& cfg, Logger& log) {
  refuse_bf16(cfg);
  return print(engine::classify_predict(cfg, log), log);
}

}  // namespace fracture::cli
