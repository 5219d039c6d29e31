// fracture study data=data.yaml [cfg=study.yaml] [model=all] [detectors=[yolov8n,yolov8s,yolov8m]]
//                [resume=runs/study/study]
// The whole protocol into one study directory (engine/study_run.h); prints summary.md and its path.
#include <cstdio>
#include <filesystem>

#include "fracture/cli/commands.h"
#include "fracture/engine/study_run.h"

namespace fracture::cli {

int cmd_study(const Config& cfg, Logger& log) {
  const engine::StudyOutcome out = engine::run_study(cfg, log);
  if (out.report.empty()) {  // a shard whose study other shards are still running
    std::printf("study: %s (this shard's jobs are done; the report comes when the last shard finishes)\n",
                out.run_dir.string().c_str());
    return 0;
  }
  const bool html = std::filesystem::is_regular_file(out.run_dir / "report.html");
  std::printf("%s\nstudy: %s (report: %s%s)\n", out.report.c_str(), out.run_dir.string().c_str(),
              (out.run_dir / "summary.md").string().c_str(),
              html ? (", " + (out.run_dir / "report.html").string()).c_str() : "");
  return 0;
}

}  // namespace fracture::cli
