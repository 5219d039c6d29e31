// engine/distributed.h in a build without FRACTURE_WITH_DISTRIBUTED: no group can be made.
#include "fracture/core/error.h"
#include "fracture/engine/distributed.h"

namespace fracture::engine {

struct DistGroup::Impl {};
DistGroup::DistGroup() = default;
DistGroup::~DistGroup() = default;

std::unique_ptr<DistGroup> DistGroup::connect(const DistEnv& env, std::chrono::milliseconds) {
  FRACTURE_FAIL("distributed: WORLD_SIZE=", env.world_size, " asks for ", env.world_size, " processes, but this fracture ",
                "was built without FRACTURE_WITH_DISTRIBUTED (libgloo-dev); rebuild with it or run one process");
}
int DistGroup::rank() const { return 0; }
int DistGroup::world_size() const { return 1; }
void DistGroup::allreduce_mean(std::vector<torch::Tensor>&) {}
void DistGroup::allreduce_sum(std::vector<torch::Tensor>&) {}
void DistGroup::broadcast(std::vector<torch::Tensor>&, int) {}
void DistGroup::broadcast_bytes(std::string&, int) {}
void DistGroup::barrier() {}
void DistGroup::check_same(const std::string&, const std::string&) {}

}  // namespace fracture::engine
