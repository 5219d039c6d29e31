#include "fracture/core/rundir.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"

namespace fracture {

std::filesystem::path make_run_dir(const std::filesystem::path& project, const std::string& task,
                                   const std::string& name) {
  FRACTURE_CHECK(!name.empty() && name.find('/') == std::string::npos, "key 'name': expected a folder name, got '",
                 name, "'");
  std::filesystem::path parent = project / task;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  FRACTURE_CHECK(!ec, parent.string(), ": cannot create run folder: ", ec.message());
  for (int i = 1; i < 100000; ++i) {
    std::filesystem::path p = parent / (i == 1 ? name : name + std::to_string(i));
    if (::mkdir(p.c_str(), 0755) == 0) return p;
    FRACTURE_CHECK(errno == EEXIST, p.string(), ": cannot create run folder: ", std::strerror(errno));
  }
  FRACTURE_FAIL(parent.string(), ": too many runs named '", name, "'");
}

void write_run_args(const std::filesystem::path& run, const Config& cfg) {
  write_file_atomic(run / "args.yaml", cfg.to_yaml());
}

std::filesystem::path shared_run_dir(const Config& cfg, const std::string& task) {
  return std::filesystem::path(cfg.str("project")) / task / cfg.str("name");
}

std::filesystem::path make_shared_run_dir(const Config& cfg, const std::string& task) {
  const std::filesystem::path run = shared_run_dir(cfg, task);
  std::filesystem::create_directories(run);
  Config saved = cfg;
  saved.set("shard", "null", "shard");
  write_run_args(run, saved);
  return run;
}

void remove_killed_writes(const std::filesystem::path& run, Logger& log) {
  const int stale = remove_stale_temp_files(run);
  if (stale > 0) log.info("resume: removed {} temp file(s) of writes a kill interrupted", stale);
}

bool stopped_at_birth(const std::filesystem::path& run, const std::vector<std::string>& first_writes) {
  std::vector<std::string> names = first_writes;
  names.push_back("args.yaml");
  return std::filesystem::is_regular_file(run / "args.yaml") && only_entries(run, names);
}

}  // namespace fracture
