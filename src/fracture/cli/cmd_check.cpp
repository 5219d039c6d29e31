// fracture check data=PATH [strict=true|false] [report=FILE] [near_dup_bits=12] [near_dup_corr=0.9] [workers=2]
// Prints the dataset summary and every problem found; exit 0 without errors (warnings allowed),
// 1 with errors (strict=true: at the first error).
#include <cstdio>

#include "fracture/cli/commands.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/data/check.h"

namespace fracture::cli {

int cmd_check(const Config& cfg, Logger& log) {
  FRACTURE_CHECK(!cfg.is_null("data"), "fracture check: key 'data' is required: a data.yaml, a COCO json, ",
                 "a class folder or a CSV manifest (data=PATH)");
  const std::filesystem::path data = cfg.str("data");
  const std::string report = cfg.str("report");
  if (!report.empty()) refuse_write_into_dataset(report, data);

  CheckOptions opt;
  opt.strict = cfg.boolean("strict");
  opt.threads = int(cfg.integer("workers"));
  FRACTURE_CHECK(opt.threads >= 1, "key 'workers' must be >= 1, got ", opt.threads);
  opt.near_duplicate_bits = int(cfg.integer("near_dup_bits"));
  opt.near_duplicate_correlation = cfg.real("near_dup_corr");
  FRACTURE_CHECK(opt.near_duplicate_correlation >= -1 && opt.near_duplicate_correlation <= 1,
                 "key 'near_dup_corr' must be in [-1, 1], got ", opt.near_duplicate_correlation);
  FRACTURE_CHECK(opt.near_duplicate_bits <= 63, "key 'near_dup_bits' must be <= 63 (or -1 = off), got ",
                 opt.near_duplicate_bits);
  opt.positive = cfg.str("positive");
  opt.read = read_options(cfg);

  CheckReport r = check_dataset(data, opt, log);
  std::fputs(format_report(r, int(cfg.integer("max_warnings"))).c_str(), stdout);
  std::fflush(stdout);
  if (!report.empty()) {
    write_check_json(report, r);
    log.info("wrote {}", report);
  }
  return r.errors() > 0 ? 1 : 0;
}

}  // namespace fracture::cli
