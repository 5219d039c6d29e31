// Run directories in the Ultralytics layout: <project>/<task>/<name>/, numbered so an earlier
// run is never overwritten (train, train2, train3, ...).
//
//   fs::path run = fracture::make_run_dir("runs", "detect", "train");   // runs/detect/train2 if train exists
//   fracture::write_run_args(run, cfg);                                  // run/args.yaml
//   fs::path shared = fracture::make_shared_run_dir(cfg, "classify");    // shard=i/n: project/classify/<name>
//   fracture::remove_killed_writes(run, *log);                           // on resume: temp files of killed writes
//   bool born = fracture::stopped_at_birth(run, {"weights"});            // args.yaml and at most weights/
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/core/config.h"
#include "fracture/core/log.h"

namespace fracture {

/// Creates and returns a new, empty run directory. The first free of name, name2, name3, ...
/// Creation is atomic (mkdir fails when the folder exists), so two runs never share a folder.
std::filesystem::path make_run_dir(const std::filesystem::path& project, const std::string& task,
                                   const std::string& name);

/// args.yaml: the run's resolved config (Config::to_yaml), written atomically; a resumed run reads
/// it back with Config::merge_file.
void write_run_args(const std::filesystem::path& run, const Config& cfg);

/// shard=i/n: the one run directory every shard shares, <project>/<task>/<name> (not numbered).
std::filesystem::path shared_run_dir(const Config& cfg, const std::string& task);
/// Creates shared_run_dir (or finds it) and writes its args.yaml without the `shard` key, so shards
/// that start together write the same bytes and later ones are checked against it as on resume.
std::filesystem::path make_shared_run_dir(const Config& cfg, const std::string& task);

/// On resume of a run no other process writes to (not a shard of a shared run): removes the temp
/// files of writes a kill interrupted (core/fs.h remove_stale_temp_files) and logs how many.
void remove_killed_writes(const std::filesystem::path& run, Logger& log);

/// True when `run` holds its args.yaml and nothing else but `first_writes` (temp files of killed
/// writes aside): a run killed right after it was made, before the file that marks it (run.json,
/// study.json, a first checkpoint), which a resume runs from the start in place. A dataset folder or
/// another run that has an args.yaml holds more.
bool stopped_at_birth(const std::filesystem::path& run, const std::vector<std::string>& first_writes = {});

}  // namespace fracture
