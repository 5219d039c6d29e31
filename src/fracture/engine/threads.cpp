#include "fracture/engine/threads.h"

#include <ATen/Parallel.h>
#include <sched.h>

#include <thread>

#include "fracture/core/error.h"

namespace fracture {

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? int(hc) : 1;
}

int apply_compute_threads(const Config& cfg, Logger& log) {
  int n = usable_cores();
  if (!cfg.is_null("threads")) {
    const long long t = cfg.integer("threads");
    FRACTURE_CHECK(t >= 1 && t <= 1024, "config key 'threads' must be a positive number of CPU threads (or null for ",
                   "every usable core), got ", t);
    n = int(t);
  }
  at::set_num_threads(n);
  log.debug("compute threads: {} (usable cores {})", n, usable_cores());
  return n;
}

}  // namespace fracture
