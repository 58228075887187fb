#include "shardsim/core/local_comm.h"

#include <ATen/ATen.h>

#include "shardsim/core/error.h"
#include "shardsim/core/shape.h"

namespace shardsim {

namespace {

class LocalComm : public Comm {
 public:
  LocalComm(c10::Device device, int64_t world_rank)
      : device_(device), members_{world_rank}, name_(world_rank == 0 ? "world" : "[0]") {}

  int64_t rank() const override { return 0; }
  int64_t size() const override { return 1; }
  const std::vector<int64_t>& members() const override { return members_; }
  const std::string& name() const override { return name_; }
  c10::Device device() const override { return device_; }
  std::string backend() const override { return "local"; }

  void all_gather(const at::Tensor& input, const Counts& counts,
                  const PieceSink& sink) override {
    check_counts(counts, input.numel(), "all_gather");
    if (sink) sink(0, input.reshape({-1}));
  }
  void broadcast(at::Tensor& tensor, int64_t root) override { check_root(root, "broadcast"); }
  void broadcast_bytes(std::string& bytes, int64_t root) override { check_root(root, "broadcast_bytes"); }
  void scatter(at::Tensor& output, const std::vector<at::Tensor>& inputs,
               const Counts& counts, int64_t root) override {
    check_root(root, "scatter");
    check_counts(counts, output.numel(), "scatter");
    SHARDSIM_CHECK(inputs.size() == 1, "scatter: ", inputs.size(), " inputs for a group of 1");
    output.copy_(inputs[0].reshape(output.sizes()));
  }
  void all_reduce_sum(at::Tensor& tensor) override {}
  void barrier() override {}

 protected:
  std::shared_ptr<Comm> create_subgroup(const std::vector<int64_t>& members) override {
    SHARDSIM_CHECK(members.size() == 1 && members[0] == members_[0], "a world of one rank has no sub-group ",
                   shape_str(members));
    return std::make_shared<LocalComm>(device_, members_[0]);
  }

 private:
  static void check_root(int64_t root, const char* op) {
    SHARDSIM_CHECK(root == 0, op, ": root ", root, " in a group of 1");
  }
  static void check_counts(const Counts& counts, int64_t numel, const char* op) {
    SHARDSIM_CHECK(counts.size() == 1 && counts[0] == numel, op, ": counts ", counts.str(),
                   " for an input of ", numel, " elements in a group of 1");
  }

  c10::Device device_;
  std::vector<int64_t> members_;
  std::string name_;
};

}  // namespace

std::shared_ptr<Comm> make_local_comm(c10::Device device) {
  return std::make_shared<LocalComm>(device, 0);
}

}  // namespace shardsim
