#include "collective.h"

#include <sstream>
#include <utility>

#include <ATen/ATen.h>

#include "diagnosis.h"
#include "shardsim/core/digest.h"
#include "world_core.h"

namespace shardsim {
namespace sim {
namespace detail {

namespace {
// Member lists longer than this are abbreviated in group names.
constexpr size_t kMaxNamedMembers = 16;
}  // namespace

std::string group_name(const std::vector<int64_t>& members, int64_t world_size) {
  bool is_world = static_cast<int64_t>(members.size()) == world_size;
  for (size_t i = 0; is_world && i < members.size(); ++i) is_world = members[i] == int64_t(i);
  if (is_world) return "world";
  std::ostringstream os;
  os << "[";
  if (members.size() <= kMaxNamedMembers) {
    for (size_t i = 0; i < members.size(); ++i) os << (i ? "," : "") << members[i];
    os << "]";
  } else {
    for (size_t i = 0; i < 8; ++i) os << members[i] << ",";
    os << "...," << members.back() << "](" << members.size() << " ranks)";
  }
  return os.str();
}

uint64_t fingerprint_hash(const Fingerprint& fp) {
  Digest d;
  d.update_u64(static_cast<uint64_t>(fp.kind));
  d.update_i64(fp.dtype ? static_cast<int64_t>(*fp.dtype) : -1);
  d.update_i64(fp.root);
  d.update_u64(fp.sizes.size());
  for (int64_t s : fp.sizes) d.update_i64(s);
  return d.value();
}

bool Op::piece_needed(int64_t i) const {
  switch (fp.kind) {
    case CollectiveKind::kBroadcast:
      return left_count < size;
    case CollectiveKind::kScatter:
      return !left[i];
    default:
      return false;
  }
}

at::Tensor view_on_device(const at::Tensor& t, c10::Device device) {
  if (t.numel() == 0) return at::empty(t.sizes(), t.options().device(device));
  at::Tensor keep = t;
  return at::for_blob(t.data_ptr(), t.sizes())
      .strides(t.strides())
      .deleter([keep](void*) {})
      .options(t.options().device(device))
      .target_device(device)
      .make_tensor();
}

const at::Tensor& Op::gathered_on(int64_t src, c10::Device device) {
  auto it = views.begin();
  while (it != views.end() && it->first != device) ++it;
  if (it == views.end()) {
    // One list per device, made in one go: the views sit together in memory,
    // which keeps reading thousands of small pieces cache-friendly.
    const at::Tensor base =
        gathered.device() == device ? gathered : view_on_device(gathered, device);
    std::vector<at::Tensor> list(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) {
      list[i] = base.narrow(0, offsets[i], fp.sizes[i]);
    }
    views.emplace_back(device, std::move(list));
    it = views.end() - 1;
  }
  return it->second[src];
}

namespace {

size_t piece_count(CollectiveKind kind, int64_t n) {
  switch (kind) {
    case CollectiveKind::kScatter:
    case CollectiveKind::kAllReduce:
      return static_cast<size_t>(n);
    case CollectiveKind::kBroadcast:
      return 1;
    default:
      return 0;
  }
}

std::string time_prefix(const WorldCore& core) {
  return "t=" + std::to_string(core.now_ms()) + " ";
}

}  // namespace

CollectiveCall::CollectiveCall(WorldCore& core, GroupState& group, int64_t group_rank,
                               Fingerprint fp)
    : core_(core), group_(group), group_rank_(group_rank), world_rank_(group.members[group_rank]) {
  core_.check_may_suspend(world_rank_, collective_kind_name(fp.kind));
  core_.check_running();
  const int64_t n = static_cast<int64_t>(group_.members.size());
  seq_ = ++group_.last_seq[group_rank_];
  fp.sequence = seq_;
  RankState& st = core_.rank_state(world_rank_);
  auto it = group_.ops.find(seq_);
  if (it == group_.ops.end()) {
    auto op = std::make_unique<Op>();
    op->group = &group_;
    op->size = n;
    op->fp_hash = fingerprint_hash(fp);
    op->joined.assign(n, 0);
    op->left.assign(n, 0);
    op->pieces.resize(piece_count(fp.kind, n));
    op->snapshot.assign(op->pieces.size(), 0);
    op->fp = std::move(fp);
    op_ = op.get();
    group_.ops.emplace(seq_, std::move(op));
  } else {
    op_ = it->second.get();
    if (op_->fp != fp) {
      st.disagreeing = fp.str();
      st.report.status = RankReport::Status::kBlocked;
      st.report.pending = fp.str();
      core_.stop(WorldResult::Status::kMismatch, mismatch_report(core_, *op_, world_rank_, fp));
      throw WorldStopped{};
    }
  }
  core_.trace().record(EventKind::kArrive, world_rank_, group_.id, static_cast<uint64_t>(seq_),
                       op_->fp_hash);
  if (core_.trace().keeps_lines()) {
    core_.trace().add_line(time_prefix(core_) + "rank " + std::to_string(world_rank_) + " arrive " +
                           op_->fp.str());
  }
  op_->joined[group_rank_] = 1;
  ++op_->joined_count;
  outer_op_ = st.op;
  st.op = op_;
}

void CollectiveCall::wait(const std::function<void(Op&)>& on_complete) {
  Op& op = *op_;
  if (op.joined_count == op.size) {
    if (on_complete) on_complete(op);
    op.complete = true;
    for (int64_t g = 0; g < op.size; ++g) {
      const int64_t r = group_.members[g];
      const RankState& other = core_.rank_state(r);
      if (g != group_rank_ && other.blocked && other.op == op_) core_.wake(r);
    }
    return;
  }
  RankState& st = core_.rank_state(world_rank_);
  st.wait = RankState::Wait::kCollective;
  core_.begin_collective_wait(world_rank_);
  while (!op.complete) core_.block(world_rank_);
  core_.end_collective_wait(world_rank_);
  st.wait = RankState::Wait::kNone;
}

CollectiveCall::~CollectiveCall() {
  RankState& st = core_.rank_state(world_rank_);
  st.op = outer_op_;
  if (core_.stopping()) return;  // the ops of a stopped world are abandoned
  Op& op = *op_;
  if (!op.complete) {
    // Left through an exception before the op completed: withdraw, so the
    // others wait for this rank (and the world reports its error).
    op.joined[group_rank_] = 0;
    --op.joined_count;
    if (op.joined_count == 0 && op.left_count == 0) group_.ops.erase(seq_);
    return;
  }
  op.left[group_rank_] = 1;
  ++op.left_count;
  // Only a root owns pieces (broadcast, scatter): O(pieces) once per op.
  if (op.fp.root == group_rank_) {
    for (size_t i = 0; i < op.pieces.size(); ++i) {
      if (op.snapshot[i] || !op.pieces[i].defined() || !op.piece_needed(int64_t(i))) continue;
      op.pieces[i] = op.pieces[i].clone();
      op.snapshot[i] = 1;
    }
  }
  core_.trace().record(EventKind::kLeave, world_rank_, group_.id, static_cast<uint64_t>(seq_));
  if (core_.trace().keeps_lines()) {
    core_.trace().add_line(time_prefix(core_) + "rank " + std::to_string(world_rank_) + " leave " +
                           collective_kind_name(op.fp.kind) + "(group=" + group_.name +
                           ", seq=" + std::to_string(seq_) + ")");
  }
  if (op.left_count == op.size) group_.ops.erase(seq_);
}

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
