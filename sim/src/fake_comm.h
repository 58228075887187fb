// The fiber backend of the Comm seam: one object per rank and group; every
// collective is a rendezvous of fibers (collective.h) that moves data with
// plain tensor copies, O(W) fiber switches and O(bytes) copies per collective.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shardsim/core/comm.h"

namespace shardsim {
namespace sim {
namespace detail {

class WorldCore;
struct GroupState;

class FakeComm : public Comm {
 public:
  FakeComm(WorldCore& core, GroupState& group, int64_t group_rank);

  int64_t rank() const override { return group_rank_; }
  int64_t size() const override;
  const std::vector<int64_t>& members() const override;
  const std::string& name() const override;
  c10::Device device() const override { return device_; }
  std::string backend() const override { return "fiber"; }

  void all_gather(const at::Tensor& input, const Counts& counts,
                  const PieceSink& sink) override;
  at::Tensor all_gather_flat(const at::Tensor& input, const Counts& counts) override;
  at::Tensor all_gather_flat_on(const at::Tensor& input, const Counts& counts,
                                c10::Device device) override;
  void broadcast(at::Tensor& tensor, int64_t root) override;
  void broadcast_bytes(std::string& bytes, int64_t root) override;
  void scatter(at::Tensor& output, const std::vector<at::Tensor>& inputs,
               const Counts& counts, int64_t root) override;
  void all_reduce_sum(at::Tensor& tensor) override;
  void barrier() override;

 protected:
  std::shared_ptr<Comm> create_subgroup(const std::vector<int64_t>& members) override;

 private:
  int64_t world_rank() const;
  void check_gather_input(const at::Tensor& input, const Counts& counts) const;
  // "rank 3: all_gather on group world: " for error messages.
  std::string where(CollectiveKind kind) const;
  Fingerprint fingerprint(CollectiveKind kind, c10::optional<c10::ScalarType> dtype, int64_t root,
                          Counts sizes) const;
  void check_root(CollectiveKind kind, int64_t root) const;
  void check_counts(CollectiveKind kind, const Counts& counts) const;

  WorldCore& core_;
  GroupState& group_;
  int64_t group_rank_;
  c10::Device device_;
};

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
