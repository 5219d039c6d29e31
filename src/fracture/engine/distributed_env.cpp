// The parts of engine/distributed.h every build has: torchrun's environment and the default group.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <functional>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/engine/distributed.h"

namespace fracture::engine {

namespace {

// An integer environment variable, or `dflt` when unset; throws naming it otherwise.
int env_int(const char* name, int dflt, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return dflt;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  FRACTURE_CHECK(end && *end == '\0' && x >= lo && x <= hi, "environment ", name, "='", v,
                 "': expected an integer from ", lo, " to ", hi);
  return int(x);
}

std::unique_ptr<DistGroup>& default_slot() {
  static std::unique_ptr<DistGroup> g;
  return g;
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  const bool has_world = std::getenv("WORLD_SIZE") && *std::getenv("WORLD_SIZE");
  const bool has_rank = std::getenv("RANK") && *std::getenv("RANK");
  FRACTURE_CHECK(has_world == has_rank, "environment: RANK and WORLD_SIZE must be set together (torchrun sets both)");
  if (!has_world) return e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_world_size = env_int("LOCAL_WORLD_SIZE", e.world_size, 1, e.world_size);
  e.local_rank = env_int("LOCAL_RANK", e.rank % e.local_world_size, 0, e.local_world_size - 1);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  return e;
}

DistributedCommand::DistributedCommand(Config& cfg, Logger& log, const std::string& command) {
  const DistEnv env = dist_env_from_environment();
  if (env.world_size <= 1) return;
  FRACTURE_CHECK(command == "classify train" || command == "classify cv" || command == "detect train", "WORLD_SIZE=",
                 env.world_size, ": `fracture ", command, "` does not run data-parallel (classify train, classify cv and ",
                 "detect train do)");
  FRACTURE_CHECK(cfg.is_null("shard"), "WORLD_SIZE=", env.world_size, ": shard= and data-parallel ranks do not mix yet; ",
                 "run each shard as one process");
  const std::string backend = cfg.str("backend");
  FRACTURE_CHECK(backend == "auto" || backend == "gloo" || backend == "nccl", "key 'backend': expected auto, gloo or ",
                 "nccl, got '", backend, "'");
  FRACTURE_CHECK(backend != "nccl", "backend=nccl: this fracture is built on a CPU libtorch (Debian's libtorch-dev has no ",
                 "CUDA and no NCCL); use backend=gloo (auto picks it)");
  const auto timeout = std::chrono::milliseconds(int64_t(cfg.real("dist_timeout") * 1000.0));
  log.info("distributed: rank {} of {}, rendezvous at {}:{}", env.rank, env.world_size, env.master_addr, env.master_port);
  std::unique_ptr<DistGroup> g = DistGroup::connect(env, timeout);
  std::string keys;  // the resolved keys that shape the result (not where files go or how many threads)
  for (const auto& k : cfg.keys())
    if (k.name != "project" && k.name != "workers" && k.name != "threads" && k.name != "verbose")
      keys += k.name + "=" + (cfg.is_null(k.name) ? "null" : cfg.str(k.name)) + "\n";
  g->check_same("fracture version", FRACTURE_VERSION);
  g->check_same("resolved keys", keys);
  set_default_group(std::move(g));
  if (env.rank > 0) {
    log.set_level(spdlog::level::warn);
    std::string tmpl = (std::filesystem::temp_directory_path() / "fracture-rank-XXXXXX").string();  // TMPDIR
    FRACTURE_CHECK(::mkdtemp(tmpl.data()), "distributed: cannot make a scratch folder like ", tmpl);
    scratch_ = tmpl;
    cfg.set("project", scratch_.string(), "distributed");
  }
}

DistributedCommand::~DistributedCommand() {
  set_default_group(nullptr);
  std::error_code ec;
  if (!scratch_.empty()) std::filesystem::remove_all(scratch_, ec);
}

int launch_local(int nproc, const std::vector<std::string>& args, Logger& log) {
  FRACTURE_CHECK(nproc >= 1 && nproc <= 256, "key 'nproc': expected 1 to 256 processes, got ", nproc);
  // a free loopback port for the rendezvous (released just before rank 0 binds it)
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  FRACTURE_CHECK(s >= 0 && ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "nproc: no free loopback port");
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(s);
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  FRACTURE_CHECK(n > 0, "nproc: cannot find this program (/proc/self/exe)");
  self[n] = '\0';
  std::vector<pid_t> pids;
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    FRACTURE_CHECK(pid >= 0, "nproc: fork failed for rank ", r);
    if (pid == 0) {
      const std::string vars[][2] = {{"RANK", std::to_string(r)},          {"WORLD_SIZE", std::to_string(nproc)},
                                     {"LOCAL_RANK", std::to_string(r)},    {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
                                     {"MASTER_ADDR", "127.0.0.1"},         {"MASTER_PORT", std::to_string(port)}};
      for (const auto& v : vars) ::setenv(v[0].c_str(), v[1].c_str(), 1);
      if (r > 0 && !std::freopen("/dev/null", "w", stdout)) ::_exit(127);
      std::vector<char*> argv{self};
      for (const auto& x : args) argv.push_back(const_cast<char*>(x.c_str()));
      argv.push_back(nullptr);
      ::execv(self, argv.data());
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  log.info("nproc: {} processes on 127.0.0.1:{}", nproc, port);
  int status_out = 0, left = nproc;
  bool stopping = false;
  while (left > 0) {
    int st = 0;
    const pid_t done = ::waitpid(-1, &st, 0);
    if (done < 0) break;
    --left;
    int rank = 0;
    while (rank < nproc && pids[size_t(rank)] != done) ++rank;
    if (rank == nproc) continue;
    pids[size_t(rank)] = -1;
    const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (code != 0 && !stopping) {
      std::fprintf(stderr, "error: nproc: rank %d of %d %s %d; stopping the others\n", rank, nproc,
                   WIFSIGNALED(st) ? "was killed by signal" : "exited with status",
                   WIFSIGNALED(st) ? WTERMSIG(st) : code);
      status_out = code;
      stopping = true;
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGTERM);
    }
  }
  return status_out;
}

void broadcast_module(DistGroup& group, torch::nn::Module& net, int root) {
  std::vector<torch::Tensor> state = net.parameters(true);
  for (auto& b : net.buffers(true))
    if (b.is_floating_point()) state.push_back(b);
  group.broadcast(state, root);
}

void average_gradients(DistGroup& group, torch::nn::Module& net) {
  std::vector<torch::Tensor> grads;
  for (auto& p : net.parameters(true))
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  group.allreduce_mean(grads);
}

std::filesystem::path mirror_dir(DistGroup& group, const std::filesystem::path& dir, const std::filesystem::path& scratch,
                                 const std::function<bool(const std::filesystem::path& rel)>& include) {
  namespace fs = std::filesystem;
  const bool root = group.rank() == 0;
  std::string list;  // relative paths, one a line
  if (root)
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      const fs::path rel = fs::relative(e.path(), dir);
      if (e.is_regular_file() && include(rel)) list += rel.string() + "\n";
    }
  group.broadcast_bytes(list, 0);
  size_t at = 0;
  for (size_t nl; (nl = list.find('\n', at)) != std::string::npos; at = nl + 1) {
    const std::string rel = list.substr(at, nl - at);
    std::string bytes = root ? read_file(dir / rel) : std::string();
    group.broadcast_bytes(bytes, 0);
    if (!root) {
      fs::create_directories((scratch / rel).parent_path());
      write_file_atomic(scratch / rel, bytes);
    }
  }
  return root ? dir : scratch;
}

DistGroup* default_group() { return default_slot().get(); }
void set_default_group(std::unique_ptr<DistGroup> group) { default_slot() = std::move(group); }

}  // namespace fracture::engine
