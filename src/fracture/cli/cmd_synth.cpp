// fracture synth out=DIR n=N imgsz=S seed=K difficulty=easy|medium|hard bits=8|16 dicom=false
//                images_per_patient=3 fracture_rate=0.5 workers=2
#include "fracture/cli/commands.h"
#include "fracture/core/error.h"
#include "fracture/data/synth.h"

namespace fracture::cli {

int cmd_synth(const Config& cfg, Logger& log) {
  SynthOptions opt;
  auto in_int = [&](const char* key) {
    long long v = cfg.integer(key);
    FRACTURE_CHECK(v >= -2147483647LL && v <= 2147483647LL, "synth: ", key, "=", v, " is out of range");
    return int(v);
  };
  FRACTURE_CHECK(!cfg.str("out").empty(), "synth: out= must name the output folder");
  FRACTURE_CHECK(cfg.integer("seed") >= 0, "synth: seed must be >= 0, got ", cfg.integer("seed"));
  opt.n = in_int("n");
  opt.imgsz = in_int("imgsz");
  opt.seed = uint64_t(cfg.integer("seed"));
  opt.difficulty = cfg.str("difficulty");
  opt.bits = in_int("bits");
  opt.dicom = cfg.boolean("dicom");
  opt.images_per_patient = in_int("images_per_patient");
  opt.fracture_rate = cfg.real("fracture_rate");
  opt.threads = in_int("workers");
  write_synth(opt, cfg.str("out"), log);
  return 0;
}

}  // namespace fracture::cli
