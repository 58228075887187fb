#include "fake_comm.h"

#include <algorithm>
#include <utility>

#include <ATen/ATen.h>

#include "collective.h"
#include "shardsim/core/error.h"
#include "world_core.h"

namespace shardsim {
namespace sim {
namespace detail {

namespace {

// Data moves outside autograd, as on a real backend. (Each guard lives in a
// scope without a suspension point: grad mode is shared by the thread's fibers.)

// Copies `src` into `dst`, which has the same element count (any shape).
void copy_elements(at::Tensor& dst, const at::Tensor& src) {
  if (dst.numel() == 0) return;
  at::NoGradGuard no_grad;
  if (dst.sizes() == src.sizes()) {
    dst.copy_(src);
  } else {
    dst.copy_(src.reshape(dst.sizes()));
  }
}

}  // namespace

FakeComm::FakeComm(WorldCore& core, GroupState& group, int64_t group_rank)
    : core_(core),
      group_(group),
      group_rank_(group_rank),
      device_(core.device_of(group.members[group_rank])) {}

int64_t FakeComm::size() const { return static_cast<int64_t>(group_.members.size()); }

const std::vector<int64_t>& FakeComm::members() const { return group_.members; }

const std::string& FakeComm::name() const { return group_.name; }

int64_t FakeComm::world_rank() const { return group_.members[group_rank_]; }

std::string FakeComm::where(CollectiveKind kind) const {
  return "rank " + std::to_string(world_rank()) + ": " + collective_kind_name(kind) + " on group " +
         group_.name + ": ";
}

Fingerprint FakeComm::fingerprint(CollectiveKind kind, c10::optional<c10::ScalarType> dtype,
                                  int64_t root, Counts sizes) const {
  Fingerprint fp;
  fp.kind = kind;
  fp.group = group_.name;
  fp.dtype = dtype;
  fp.root = root;
  fp.sizes = std::move(sizes);
  return fp;
}

void FakeComm::check_root(CollectiveKind kind, int64_t root) const {
  SHARDSIM_CHECK_ARG(root >= 0 && root < size(), where(kind), "root ", root,
                     " is not a group rank (group of ", size(), ")");
}

void FakeComm::check_counts(CollectiveKind kind, const Counts& counts) const {
  SHARDSIM_CHECK_ARG(counts.size() == size(), where(kind), counts.size(),
                     " counts for a group of ", size());
  // Compact counts are never negative; only explicit lists need a look.
  if (counts.is_explicit()) {
    for (int64_t i = 0; i < counts.size(); ++i) {
      SHARDSIM_CHECK_ARG(counts[i] >= 0, where(kind), "counts[", i, "] = ", counts[i]);
    }
  }
}

// Arrival half of an all-gather: checks, then this member's elements go into
// the operation's shared buffer (a snapshot: the input may change once this
// member returns).
static void contribute(Op& op, int64_t group_rank, const at::Tensor& input,
                       const Counts& counts) {
  if (!op.gathered.defined()) {
    op.offsets.resize(static_cast<size_t>(counts.size()));
    int64_t total = 0;
    for (int64_t i = 0; i < counts.size(); ++i) {
      op.offsets[static_cast<size_t>(i)] = total;
      total += counts[i];
    }
    op.gathered = at::empty({total}, input.options());
  }
  if (input.numel() > 0) {
    at::NoGradGuard no_grad;
    op.gathered.narrow(0, op.offsets[group_rank], input.numel()).copy_(input.reshape({-1}));
  }
}

void FakeComm::check_gather_input(const at::Tensor& input, const Counts& counts) const {
  const CollectiveKind kind = CollectiveKind::kAllGather;
  check_counts(kind, counts);
  SHARDSIM_CHECK_ARG(input.numel() == counts[group_rank_], where(kind), "input has ", input.numel(),
                     " elements but counts[", group_rank_, "] = ", counts[group_rank_]);
}

void FakeComm::all_gather(const at::Tensor& input, const Counts& counts,
                          const PieceSink& sink) {
  check_gather_input(input, counts);
  CollectiveCall call(core_, group_, group_rank_,
                      fingerprint(CollectiveKind::kAllGather, input.scalar_type(), -1, counts));
  Op& op = call.op();
  contribute(op, group_rank_, input, counts);
  call.wait();
  // Pieces reach the sink on this member's input device, as a real backend
  // receives into its own device.
  const c10::Device device = input.device();
  if (!sink) return;  // contributes only
  for (int64_t src = 0; src < size(); ++src) sink(src, op.gathered_on(src, device));
}

at::Tensor FakeComm::all_gather_flat(const at::Tensor& input, const Counts& counts) {
  return all_gather_flat_on(input, counts, input.device());
}

at::Tensor FakeComm::all_gather_flat_on(const at::Tensor& input, const Counts& counts,
                                        c10::Device device) {
  check_gather_input(input, counts);
  CollectiveCall call(core_, group_, group_rank_,
                      fingerprint(CollectiveKind::kAllGather, input.scalar_type(), -1, counts));
  Op& op = call.op();
  contribute(op, group_rank_, input, counts);
  call.wait();
  // The shared buffer already holds the concatenation: one copy, made when
  // this member resumes, into `device` (every fiber device and the CPU are
  // host memory, so it is read in place).
  at::NoGradGuard no_grad;
  const at::Tensor base =
      op.gathered.device() == device ? op.gathered : view_on_device(op.gathered, device);
  return base.clone();
}

void FakeComm::broadcast(at::Tensor& tensor, int64_t root) {
  const CollectiveKind kind = CollectiveKind::kBroadcast;
  check_root(kind, root);
  CollectiveCall call(core_, group_, group_rank_,
                      fingerprint(kind, tensor.scalar_type(), root, {tensor.numel()}));
  Op& op = call.op();
  if (group_rank_ == root) op.pieces[0] = tensor.detach();
  call.wait();
  if (group_rank_ != root) copy_elements(tensor, op.pieces[0]);
}

void FakeComm::broadcast_bytes(std::string& bytes, int64_t root) {
  const CollectiveKind kind = CollectiveKind::kBroadcastBytes;
  check_root(kind, root);
  CollectiveCall call(core_, group_, group_rank_, fingerprint(kind, c10::nullopt, root, {}));
  Op& op = call.op();
  if (group_rank_ == root) op.bytes = bytes;
  call.wait();
  if (group_rank_ != root) bytes = op.bytes;
}

void FakeComm::scatter(at::Tensor& output, const std::vector<at::Tensor>& inputs,
                       const Counts& counts, int64_t root) {
  const CollectiveKind kind = CollectiveKind::kScatter;
  check_root(kind, root);
  check_counts(kind, counts);
  SHARDSIM_CHECK_ARG(output.numel() == counts[group_rank_], where(kind), "output has ",
                     output.numel(), " elements but counts[", group_rank_,
                     "] = ", counts[group_rank_]);
  if (group_rank_ == root) {
    SHARDSIM_CHECK_ARG(static_cast<int64_t>(inputs.size()) == size(), where(kind), "the root gave ",
                       inputs.size(), " inputs for a group of ", size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      SHARDSIM_CHECK_ARG(inputs[i].numel() == counts[i], where(kind), "inputs[", i, "] has ",
                         inputs[i].numel(), " elements but counts[", i, "] = ", counts[i]);
      SHARDSIM_CHECK_ARG(inputs[i].scalar_type() == output.scalar_type(), where(kind), "inputs[", i,
                         "] is ", c10::toString(inputs[i].scalar_type()), " but the output is ",
                         c10::toString(output.scalar_type()));
    }
  }
  CollectiveCall call(core_, group_, group_rank_,
                      fingerprint(kind, output.scalar_type(), root, counts));
  Op& op = call.op();
  if (group_rank_ == root) {
    for (size_t i = 0; i < inputs.size(); ++i) op.pieces[i] = inputs[i].detach();
  }
  call.wait();
  copy_elements(output, op.pieces[group_rank_]);
}

void FakeComm::all_reduce_sum(at::Tensor& tensor) {
  const CollectiveKind kind = CollectiveKind::kAllReduce;
  CollectiveCall call(core_, group_, group_rank_,
                      fingerprint(kind, tensor.scalar_type(), -1, {tensor.numel()}));
  Op& op = call.op();
  op.pieces[group_rank_] = tensor.detach();
  // The last member to arrive sums every member's tensor once, in group-rank
  // order; each member then copies the sum.
  call.wait([](Op& o) {
    at::NoGradGuard no_grad;
    at::Tensor sum = o.pieces[0].reshape({-1}).clone(at::MemoryFormat::Contiguous);
    for (size_t i = 1; i < o.pieces.size(); ++i) {
      sum.add_(o.pieces[i].reshape({-1}).to(sum.device()));
    }
    o.result = std::move(sum);
    o.pieces.assign(o.pieces.size(), at::Tensor());
  });
  copy_elements(tensor, op.result);
}

void FakeComm::barrier() {
  CollectiveCall call(core_, group_, group_rank_,
                      fingerprint(CollectiveKind::kBarrier, c10::nullopt, -1, {}));
  call.wait();
}

std::shared_ptr<Comm> FakeComm::create_subgroup(const std::vector<int64_t>& members) {
  GroupState& group = core_.group(members);
  const auto it = std::find(group.members.begin(), group.members.end(), world_rank());
  SHARDSIM_CHECK_ARG(it != group.members.end(), "rank ", world_rank(), " is not a member of ",
                     group.name);
  return std::make_shared<FakeComm>(core_, group, it - group.members.begin());
}

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
