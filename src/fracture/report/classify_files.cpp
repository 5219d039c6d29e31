#include "fracture/report/classify_files.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/json_file.h"
#include "fracture/core/fs.h"

namespace fracture::report {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
std::string num(double v) { return csv::number(v, 9); }
}  // namespace

void write_run_json(const fs::path& run, const std::string& mode, const std::vector<std::string>& models) {
  json j = {{"task", "classify"}, {"mode", mode}, {"models", models}};
  write_file_atomic(run / "run.json", j.dump(1) + "\n");
}

ClassifyRunInfo read_run_json(const fs::path& run) {
  const fs::path f = run / "run.json";
  FRACTURE_CHECK(fs::is_regular_file(f), run.string(), ": not a fracture classify run directory (no run.json)");
  try {
    json j = json::parse(read_file(f));
    return {j.at("mode").get<std::string>(), j.at("models").get<std::vector<std::string>>()};
  } catch (const json::exception& e) {
    FRACTURE_FAIL(f.string(), ": unreadable (", e.what(), ")");
  }
}

void write_epoch_results(const fs::path& file, const std::vector<EpochRecord>& h) {
  std::string o = csv::line({"epoch", "train_loss", "val_loss", "val_auroc", "lr", "seconds"});
  for (const auto& r : h)
    o += csv::line({std::to_string(r.epoch + 1), num(r.train_loss), num(r.val_loss), num(r.val_auroc), num(r.lr),
                    num(r.seconds)});
  write_file_atomic(file, o);
}

json calibrator_json(const Calibrator& c) {
  json j = {{"method", to_string(c.method)}};
  if (c.method == CalibrationMethod::temperature) {
    j["temperature"] = c.temperature;
    j["at_bound"] = c.at_bound;
  } else if (c.method == CalibrationMethod::platt) {
    j["a"] = c.a;
    j["b"] = c.b;
    j["formula"] = "p = 1 / (1 + exp(a * logit + b))";
  }
  j["nll_before"] = c.nll_before;
  j["nll_after"] = c.nll_after;
  return j;
}

Calibrator calibrator_from_json(const json& j, const std::string& origin) {
  Calibrator c;
  try {
    c.method = parse_calibration_method(j.contains("method") ? j.at("method").get<std::string>() : "temperature");
    if (c.method == CalibrationMethod::temperature) {
      c.temperature = j.at("temperature").get<double>();
      FRACTURE_CHECK(c.temperature > 0 && std::isfinite(c.temperature), origin, ": temperature must be positive, got ",
                     c.temperature);
      c.at_bound = j.value("at_bound", false);
    } else if (c.method == CalibrationMethod::platt) {
      c.a = j.at("a").get<double>();
      c.b = j.at("b").get<double>();
      FRACTURE_CHECK(std::isfinite(c.a) && std::isfinite(c.b), origin, ": Platt a and b must be finite");
    }
    c.nll_before = j.value("nll_before", 0.0);
    c.nll_after = j.value("nll_after", 0.0);
  } catch (const json::exception& e) {
    FRACTURE_FAIL(origin, ": unreadable calibration (", e.what(), ")");
  } catch (const Error& e) {
    FRACTURE_FAIL(origin, ": ", e.what());
  }
  return c;
}

void write_calibration_json(const fs::path& file, const Calibrator& c, size_t n_images, const std::string& fitted_on) {
  json j = calibrator_json(c);
  j["n_images"] = n_images;
  j["fitted_on"] = fitted_on;
  write_file_atomic(file, j.dump(1) + "\n");
}

Calibrator read_calibrator(const fs::path& f) {
  FRACTURE_CHECK(fs::is_regular_file(f), f.string(), ": missing (the run did not finish this model or fold)");
  return calibrator_from_json(read_json_file(f), f.string());
}

std::string fold_to_json(const FoldPredictions& f) {
  json j;
  j["model"] = f.model;
  j["repeat"] = f.repeat;
  j["fold"] = f.fold;
  j["images"] = f.images;
  j["patients"] = f.patients;
  j["labels"] = f.labels;
  j["logits"] = f.logits;
  j["val_labels"] = f.val_labels;
  j["val_logits"] = f.val_logits;
  j["best_epoch"] = f.best_epoch;
  j["epochs_run"] = f.epochs_run;
  j["train_seconds"] = f.train_seconds;
  return j.dump(1) + "\n";
}

FoldPredictions fold_from_json(const std::string& text, const std::string& origin) {
  FoldPredictions f;
  try {
    auto j = json::parse(text);
    f.model = j.at("model").get<std::string>();
    f.repeat = j.at("repeat").get<int>();
    f.fold = j.at("fold").get<int>();
    f.images = j.at("images").get<std::vector<std::string>>();
    f.patients = j.at("patients").get<std::vector<std::string>>();
    f.labels = j.at("labels").get<std::vector<int>>();
    f.logits = j.at("logits").get<std::vector<double>>();
    f.val_labels = j.at("val_labels").get<std::vector<int>>();
    f.val_logits = j.at("val_logits").get<std::vector<double>>();
    f.best_epoch = j.at("best_epoch").get<int>();
    f.epochs_run = j.at("epochs_run").get<int>();
    f.train_seconds = j.at("train_seconds").get<double>();
  } catch (const json::exception& e) {
    FRACTURE_FAIL(origin, ": not a fold file written by fracture classify (", e.what(), ")");
  }
  FRACTURE_CHECK(f.images.size() == f.labels.size() && f.labels.size() == f.logits.size() &&
                     f.patients.size() == f.labels.size() && f.val_labels.size() == f.val_logits.size(),
                 origin, ": inconsistent fold file (array sizes differ)");
  return f;
}

void write_fold_json(const fs::path& file, const FoldPredictions& f) { write_file_atomic(file, fold_to_json(f)); }

FoldPredictions read_fold_json(const fs::path& file) { return fold_from_json(read_file(file), file.string()); }

void write_classify_val_metrics(const fs::path& run, const ClassifyValReport& r) {
  json metrics = json::object();
  for (const auto& [key, b] : r.metrics) metrics[key] = {{"value", b.estimate}, {"ci_low", b.lower}, {"ci_high", b.upper}};
  json root = {{"model", r.model},
               {"trained_run", r.trained_run},
               {"weights", r.weights},
               {"which", r.which},
               {"data", r.data},
               {"split", r.split},
               {"n_images", r.n_images},
               {"n_positive", r.n_positive},
               {"calibration", calibrator_json(r.calibration)},
               {"threshold", r.threshold},
               {"threshold_on", "calibrated probability"},
               {"ci", "stratified bootstrap, 2000 resamples, percentile, seed " + std::to_string(r.ci_seed)},
               {"metrics", metrics}};
  write_file_atomic(run / "metrics.json", root.dump(2) + "\n");
}

std::string format_classify_val_table(const ClassifyValReport& r) {
  std::string table = "| metric | value | 95% CI |\n|---|---|---|\n";
  for (const auto& [key, b] : r.metrics) {
    char line[160];
    std::snprintf(line, sizeof line, "| %s | %.3f | %.3f - %.3f |\n", key.c_str(), b.estimate, b.lower, b.upper);
    table += line;
  }
  return table;
}

void write_val_predictions(const fs::path& run, const std::vector<ScoredImage>& rows) {
  std::string o = csv::line({"image", "label", "logit", "probability", "calibrated_probability"});
  for (const auto& r : rows)
    o += csv::line({r.image, std::to_string(r.label), num(r.logit), num(r.probability), num(r.calibrated)});
  write_file_atomic(run / "predictions.csv", o);
}

void write_predictions(const fs::path& run, const std::vector<ScoredImage>& rows, double threshold) {
  std::ostringstream thr;
  thr << threshold;  // as given on the command line (ostream default, as before)
  std::string o = csv::line({"image", "logit", "probability", "calibrated_probability", "threshold", "prediction"});
  for (const auto& r : rows)
    o += csv::line({r.image, num(r.logit), num(r.probability), num(r.calibrated), thr.str(),
                    r.calibrated >= threshold ? "fractured" : "not_fractured"});
  write_file_atomic(run / "predictions.csv", o);
}

}  // namespace fracture::report
