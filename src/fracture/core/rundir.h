// Run directories in the Ultralytics layout: <project>/<task>/<name>/, numbered so an earlier
// run is never overwritten (train, train2, train3, ...).
//
//   fs::path run = fracture::make_run_dir("runs", "detect", "train");   // runs/detect/train2 if train exists
//   fracture::write_file_atomic(run / "args.yaml", cfg.to_yaml());
#pragma once
#include <filesystem>
#include <string>

namespace fracture {

/// Creates and returns a new, empty run directory. The first free of name, name2, name3, ...
/// Creation is atomic (mkdir fails when the folder exists), so two runs never share a folder.
std::filesystem::path make_run_dir(const std::filesystem::path& project, const std::string& task,
                                   const std::string& name);

}  // namespace fracture
