// fracture: command-line entry point. Parses `fracture TASK [MODE] key=value ...` and dispatches.
// Exit status: 0 success, 1 a fracture::Error (bad input, failed check), 2 usage error or a
// command that is not available yet, 3 an unexpected internal error.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "fracture/core/heap.h"
#include "fracture/engine/distributed.h"
#include "fracture/engine/threads.h"
#include "fracture/cli/commands.h"
#include "fracture/core/config.h"
#include "fracture/core/error.h"
#include "fracture/models/kernels/cpu_isa.h"
#include "fracture/core/log.h"

namespace {

using fracture::cli::Command;

void print_help(const fracture::Config& cfg) {
  std::printf(
      "fracture %s: fracture classification and detection on radiographs\n\n"
      "usage: fracture TASK [MODE] key=value ...\n"
      "       fracture help | version\n\ncommands:\n",
      FRACTURE_VERSION);
  for (const auto& c : fracture::cli::commands()) {
    std::string name = c.task + (c.mode.empty() ? "" : " " + c.mode);
    std::printf("  %-18s %s%s\n", name.c_str(), c.help.c_str(), c.run ? "" : "  [not available yet]");
  }
  std::printf("\nkeys (key=value; defaults from configs/default.yaml):\n");
  for (const auto& k : cfg.keys())
    std::printf("  %-18s (%s, default %s) %s\n", k.name.c_str(), k.type.c_str(), k.default_value.c_str(),
                k.help.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  // Over a file-size limit (ulimit -f) a write fails with EFBIG and is reported like a full disk,
  // instead of SIGXFSZ ending the process without a word.
  ::signal(SIGXFSZ, SIG_IGN);
  std::vector<std::string> words, pairs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") a = "help";
    if (a == "-V" || a == "--version") a = "version";
    (a.find('=') == std::string::npos ? words : pairs).push_back(a);
  }
  try {
    fracture::Config cfg = fracture::Config::defaults();
    if (words.empty() || words[0] == "help") {
      print_help(cfg);
      return words.empty() ? 2 : 0;
    }
    if (words[0] == "version") {
      std::printf("fracture %s\ncpu: %s\n", FRACTURE_VERSION, fracture::models::cpu_isa().summary().c_str());
      return 0;
    }
    // cfg= first, then the other pairs, so the command line wins over the file.
    for (const auto& p : pairs)
      if (p.rfind("cfg=", 0) == 0) cfg.merge_file(p.substr(4));
    for (const auto& p : pairs) {
      size_t eq = p.find('=');
      FRACTURE_CHECK(eq > 0, "command line: expected key=value, got '", p, "'");
      cfg.set(p.substr(0, eq), p.substr(eq + 1), "command line");
    }
    const std::string task = words[0];
    const std::string mode = words.size() > 1 ? words[1] : "";
    FRACTURE_CHECK(words.size() <= 2, "command line: unexpected word '", words.size() > 2 ? words[2] : "",
                   "'; options are key=value");
    const Command* found = nullptr;
    std::vector<std::string> tasks, modes;
    for (const auto& c : fracture::cli::commands()) {
      tasks.push_back(c.task);
      if (c.task != task) continue;
      modes.push_back(c.mode);
      if (c.mode == mode) found = &c;
    }
    if (!found) {
      if (modes.empty()) {
        std::string s = fracture::did_you_mean(task, tasks);
        std::fprintf(stderr, "error: unknown task '%s'%s; run `fracture help`\n", task.c_str(),
                     s.empty() ? "" : (" (did you mean '" + s + "'?)").c_str());
      } else {
        std::string all;
        for (const auto& m : modes) all += (all.empty() ? "" : ", ") + m;
        std::fprintf(stderr, "error: task '%s' needs a mode, one of: %s (got '%s')\n", task.c_str(), all.c_str(),
                     mode.c_str());
      }
      return 2;
    }
    auto log = fracture::make_logger(cfg.boolean("verbose"));
    if (!cfg.is_null("nproc") && !std::getenv("WORLD_SIZE")) {  // the built-in launcher: this command nproc times
      std::vector<std::string> args = words;
      for (const auto& p : pairs)
        if (p.rfind("nproc=", 0) != 0) args.push_back(p);
      return fracture::engine::launch_local(int(cfg.integer("nproc")), args, *log);
    }
    const std::string heap = fracture::tune_heap_for_tensors();
    if (!heap.empty()) log->debug("{}", heap);
    fracture::apply_compute_threads(cfg, *log);
    fracture::engine::DistributedCommand dist(cfg, *log, task + (mode.empty() ? "" : " " + mode));
    return found->run(cfg, *log);
  } catch (const fracture::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 3;
  }
}
