#include "fracture/engine/predict.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fracture/core/fs.h"
#include "fracture/core/rundir.h"
#include "fracture/engine/classify_run.h"
#include "fracture/engine/predictor.h"
#include "fracture/report/data_files.h"

namespace fracture::engine {

namespace fs = std::filesystem;
using nlohmann::json;

PredictOutcome predict_study(const Config& cfg, Logger& log) {
  const Predictor predictor(cfg, log);
  std::vector<UnusableFile> skipped;
  const std::vector<ClsItem> items = detail::source_items(cfg, "fracture predict", log, skipped);
  PredictOutcome out;
  out.run_dir = make_run_dir(cfg.str("project"), "predict", cfg.str("name").empty() ? "predict" : cfg.str("name"));
  write_run_args(out.run_dir, cfg);
  report::write_skipped(out.run_dir, skipped);
  const fs::path src = cfg.str("source");
  json all = json::array();
  std::ostringstream rep;
  rep << "fracture predict: " << predictor.summary() << "\n";
  std::vector<ImagePrediction> preds = predictor.predict(items);
  for (size_t i = 0; i < items.size(); ++i) {
    const fs::path& file = items[i].image;
    json& j = preds[i].json;
    std::string stem = fs::is_directory(src) ? fs::relative(file, src).replace_extension().string() : file.stem().string();
    std::replace(stem.begin(), stem.end(), '/', '_');
    j["overlay"] = stem + ".png";
    write_file_atomic(out.run_dir / (stem + ".json"), j.dump(2) + "\n");
    write_file_atomic(out.run_dir / (stem + ".png"), preds[i].overlay_png);
    all.push_back(j);
    rep << preds[i].line << "\n";
  }
  write_file_atomic(out.run_dir / "predictions.json", all.dump(1) + "\n");
  if (!skipped.empty()) rep << skipped.size() << " unusable files left out (skipped.csv)\n";
  out.report = rep.str();
  return out;
}

}  // namespace fracture::engine
