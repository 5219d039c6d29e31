// fracture predict model=STUDY_DIR source=IMAGE|FOLDER|DICOM [conf=0.25]
// Per image: calibrated probability, decision, triage, boxes and a Grad-CAM overlay (engine/predict.h).
#include <cstdio>

#include "fracture/cli/commands.h"
#include "fracture/engine/predict.h"

namespace fracture::cli {

int cmd_predict(const Config& cfg, Logger& log) {
  const engine::PredictOutcome out = engine::predict_study(cfg, log);
  std::printf("%sresults in %s\n", out.report.c_str(), out.run_dir.string().c_str());
  return 0;
}

}  // namespace fracture::cli
