// The collectives of C10dComm. Each one validates its arguments locally (a
// shardsim::Error, the group stays usable), lays its tensors out on the wire
// (wire.h), issues one or two c10d operations and waits for them; a failure
// there breaks the group and becomes a CommError with a census (connect.cpp).
#include "shardsim/c10d/c10d_comm.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include <ATen/ATen.h>

#include "arrivals.h"
#include "group_state.h"
#include "shardsim/core/error.h"

namespace shardsim::c10d {
namespace {

using detail::GroupState;
using ::shardsim::detail::concat;
using WorkPtr = c10::intrusive_ptr<::c10d::Work>;

// Gloo's own timeout (the same value) fires first and says more; this margin
// only catches a backend that never returns.
constexpr std::chrono::milliseconds kWaitMargin{1000};
// How often a member waiting in a Gloo collective looks for a failure that
// another member published.
constexpr std::chrono::milliseconds kFailurePoll{100};

// One user-level collective on a group: refuses to start on a broken or
// finished group, counts the sequence, and runs its backend operations.
class Collective {
 public:
  Collective(GroupState& group, const char* op)
      : group_(group),
        op_(op),
        sequence_(group.sequence + 1),
        start_(std::chrono::steady_clock::now()) {
    if (group_.finished) {
      throw CommError(concat(describe(), ": the world has finished"));
    }
    if (!group_.failure.empty()) {
      throw CommError(concat(describe(), ": the group failed earlier: ", group_.failure));
    }
    if (!group_.session->aborted.empty()) {
      throw CommError(
          concat(describe(), ": this rank aborted the world: ", group_.session->aborted));
    }
    group_.sequence = sequence_;
  }

  // Issues one backend operation and waits for it (bounded by the timeout).
  void run(const std::function<WorkPtr()>& issue) {
    Reported reported;  // a failure or an abort another member published
    try {
      WorkPtr work = issue();
      reported = wait(*work);
    } catch (const std::exception& e) {
      fail(concat(describe(), " failed on ", where(), ": ", compat::error_text(e), "."), true);
    }
    if (reported.aborted) {
      // The aborting rank takes no census: name it and go.
      group_.failure =
          concat(describe(), " was abandoned on ", where(), " because ", reported.text);
      throw AbandonedError(group_.failure);
    }
    if (!reported.text.empty()) {
      fail(concat(describe(), " was abandoned on ", where(), " because ", reported.text), false);
    }
  }

 private:
  struct Reported {
    std::string text;      // what the member that published it said
    bool aborted = false;  // a world abort (else a failure of this group)
  };

  // Waits for `work`. Gloo: in slices, between which it looks for a failure
  // of this group or an abort of the world published by another member and
  // returns its text. NCCL: in one piece (its blocking wait aborts the
  // communicator when a wait times out).
  Reported wait(::c10d::Work& work) {
    detail::Session& s = *group_.session;
    const auto deadline = start_ + s.options.timeout + kWaitMargin;
    if (s.kind != BackendKind::kGloo) {
      work.wait(s.options.timeout + kWaitMargin);
      return {};
    }
    const std::string key = detail::failure_key(group_.prefix);
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      try {
        work.wait(std::max(std::chrono::milliseconds(1), std::min(left, kFailurePoll)));
        return {};
      } catch (const std::exception&) {
        // Completed: a real failure. Not completed: the slice ended.
        if (work.isCompleted()) throw;
        if (left <= kFailurePoll) {
          throw std::runtime_error(
              concat("no result within the timeout of ", s.options.timeout.count(), " ms"));
        }
      }
      if (s.store->check({key})) {
        const std::vector<uint8_t> text = s.store->get(key);
        return {std::string(text.begin(), text.end()), false};
      }
      std::string aborted = detail::published_abort(s);
      if (!aborted.empty()) return {std::move(aborted), true};
    }
  }

  std::string where() const {
    return concat("world rank ", group_.session->info.rank, " (group rank ", group_.rank, " of ",
                  group_.members.size(), ") after ", detail::seconds_since(start_), " s");
  }

  // Marks the group broken, publishes the failure (when this member saw it
  // first), takes the census and throws.
  [[noreturn]] void fail(std::string message, bool publish) {
    detail::Session& s = *group_.session;
    if (publish) {
      try {
        const std::string text = concat("world rank ", s.info.rank, " reported: ", message);
        s.store->set(detail::failure_key(group_.prefix),
                     std::vector<uint8_t>(text.begin(), text.end()));
      } catch (const std::exception&) {
        // The store is gone too; the census says so.
      }
    }
    message += detail::census(s, group_.prefix, group_.members, group_.rank);
    group_.failure = message;
    throw CommError(message);
  }

  std::string describe() const {
    return concat(group_.session->options.backend, " ", op_, " #", sequence_, " on group ",
                  group_.name);
  }

  GroupState& group_;
  const char* op_;
  int64_t sequence_;  // this collective's number on its group, from 1
  std::chrono::steady_clock::time_point start_;
};

void check_root(const GroupState& g, const char* op, int64_t root) {
  SHARDSIM_CHECK(root >= 0 && root < static_cast<int64_t>(g.members.size()), "c10d ", op,
                 " on group ", g.name, ": root ", root, " is not a group rank (size ",
                 g.members.size(), ")");
}

void check_counts(const GroupState& g, const char* op, const std::vector<int64_t>& counts,
                  int64_t own) {
  SHARDSIM_CHECK(counts.size() == g.members.size(), "c10d ", op, " on group ", g.name, ": ",
                 counts.size(), " counts for a group of ", g.members.size());
  for (int64_t c : counts) {
    SHARDSIM_CHECK(c >= 0, "c10d ", op, " on group ", g.name, ": negative count ", c);
  }
  SHARDSIM_CHECK(own == counts[g.rank], "c10d ", op, " on group ", g.name, ": world rank ",
                 g.members[g.rank], " holds ", own, " elements but the agreed count is ",
                 counts[g.rank]);
}

int64_t max_count(const std::vector<int64_t>& counts) {
  return counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
}

// The all-gather behind all_gather, all_reduce_sum and NCCL's barrier: every
// member's piece padded to the largest count, gathered into a list, trimmed.
void gather_pieces(GroupState& g, const char* op, const at::Tensor& input,
                   const std::vector<int64_t>& counts, const PieceSink& sink) {
  check_counts(g, op, counts, input.numel());
  const detail::Session& s = *g.session;
  const WireFormat format = wire_format(s.kind, input.scalar_type());
  const int64_t widest = max_count(counts);
  at::Tensor send = wire_buffer(format, widest, s.device);
  if (input.numel() > 0) {
    send.narrow(0, 0, input.numel() * format.factor).copy_(to_wire(input, format, s.device));
  }
  std::vector<std::vector<at::Tensor>> received(1);
  for (size_t r = 0; r < counts.size(); ++r) {
    received[0].push_back(at::empty_like(send));
  }
  Collective collective(g, op);
  collective.run([&] {
    std::vector<at::Tensor> inputs{send};
    return g.group->allgather(received, inputs, ::c10d::AllgatherOptions());
  });
  if (!sink) return;  // an empty sink: this member only contributes
  for (size_t r = 0; r < counts.size(); ++r) {
    at::Tensor piece = from_wire(received[0][r], format, input.scalar_type(), counts[r]);
    sink(static_cast<int64_t>(r),
         piece.device() == input.device() ? piece : piece.to(input.device()));
  }
}

}  // namespace

C10dComm::C10dComm(std::shared_ptr<detail::GroupState> state) : state_(std::move(state)) {}
C10dComm::~C10dComm() = default;

int64_t C10dComm::rank() const { return state_->rank; }
int64_t C10dComm::size() const { return static_cast<int64_t>(state_->members.size()); }
const std::vector<int64_t>& C10dComm::members() const { return state_->members; }
const std::string& C10dComm::name() const { return state_->name; }
c10::Device C10dComm::device() const { return state_->session->device; }
std::string C10dComm::backend() const { return state_->session->options.backend; }
const RendezvousInfo& C10dComm::rendezvous() const { return state_->session->info; }
const ConnectOptions& C10dComm::options() const { return state_->session->options; }

void C10dComm::all_gather(const at::Tensor& input, const Counts& counts,
                          const PieceSink& sink) {
  gather_pieces(*state_, "all_gather", input, counts, sink);
}

void C10dComm::broadcast(at::Tensor& tensor, int64_t root) {
  GroupState& g = *state_;
  check_root(g, "broadcast", root);
  const detail::Session& s = *g.session;
  const WireFormat format = wire_format(s.kind, tensor.scalar_type());
  at::Tensor wire =
      tensor.numel() > 0 ? to_wire(tensor, format, s.device) : wire_buffer(format, 0, s.device);
  // A contiguous tensor on the collective's device travels in place.
  const bool in_place = tensor.numel() > 0 && tensor.is_contiguous() && tensor.device() == s.device;
  Collective collective(g, "broadcast");
  collective.run([&] {
    std::vector<at::Tensor> tensors{wire};
    ::c10d::BroadcastOptions opts;
    opts.rootRank = root;
    return g.group->broadcast(tensors, opts);
  });
  if (g.rank != root && tensor.numel() > 0 && !in_place) {
    tensor.copy_(
        from_wire(wire, format, tensor.scalar_type(), tensor.numel()).view(tensor.sizes()));
  }
}

void C10dComm::broadcast_bytes(std::string& bytes, int64_t root) {
  GroupState& g = *state_;
  check_root(g, "broadcast_bytes", root);
  const c10::Device device = g.session->device;
  const bool is_root = g.rank == root;
  const auto on_device = at::TensorOptions().device(device);
  at::Tensor length =
      at::full({1}, is_root ? static_cast<int64_t>(bytes.size()) : 0, on_device.dtype(at::kLong));
  auto broadcast_one = [&](at::Tensor t) {
    std::vector<at::Tensor> tensors{std::move(t)};
    ::c10d::BroadcastOptions opts;
    opts.rootRank = root;
    return g.group->broadcast(tensors, opts);
  };
  Collective collective(g, "broadcast_bytes");
  collective.run([&] { return broadcast_one(length); });
  const int64_t n = length.to(at::kCPU).item<int64_t>();
  if (n == 0) {
    bytes.clear();
    return;
  }
  at::Tensor payload = is_root ? at::from_blob(&bytes[0], {n}, at::kByte)
                                     .to(device, /*non_blocking=*/false,
                                         /*copy=*/true)
                               : at::empty({n}, on_device.dtype(at::kByte));
  collective.run([&] { return broadcast_one(payload); });
  if (!is_root) {
    const at::Tensor host = payload.to(at::kCPU);
    bytes.assign(reinterpret_cast<const char*>(host.data_ptr<uint8_t>()), static_cast<size_t>(n));
  }
}

void C10dComm::scatter(at::Tensor& output, const std::vector<at::Tensor>& inputs,
                       const Counts& counts, int64_t root) {
  GroupState& g = *state_;
  check_root(g, "scatter", root);
  check_counts(g, "scatter", counts, output.numel());
  const bool is_root = g.rank == root;
  if (is_root) {
    SHARDSIM_CHECK(inputs.size() == counts.size(), "c10d scatter on group ", g.name, ": root has ",
                   inputs.size(), " inputs for a group of ", counts.size());
    for (size_t r = 0; r < inputs.size(); ++r) {
      SHARDSIM_CHECK(inputs[r].numel() == counts[r], "c10d scatter on group ", g.name, ": input ",
                     r, " has ", inputs[r].numel(), " elements but the agreed count is ",
                     counts[r]);
      SHARDSIM_CHECK(inputs[r].scalar_type() == output.scalar_type(), "c10d scatter on group ",
                     g.name, ": input ", r, " is ", c10::toString(inputs[r].scalar_type()),
                     " but the output is ", c10::toString(output.scalar_type()));
    }
  }
  const detail::Session& s = *g.session;
  const WireFormat format = wire_format(s.kind, output.scalar_type());
  const int64_t widest = max_count(counts);
  std::vector<at::Tensor> received{wire_buffer(format, widest, s.device)};
  std::vector<std::vector<at::Tensor>> sent;
  if (is_root) {
    sent.emplace_back();
    for (size_t r = 0; r < inputs.size(); ++r) {
      at::Tensor buffer = wire_buffer(format, widest, s.device);
      if (counts[r] > 0) {
        buffer.narrow(0, 0, counts[r] * format.factor).copy_(to_wire(inputs[r], format, s.device));
      }
      sent[0].push_back(buffer);
    }
  }
  Collective collective(g, "scatter");
  collective.run([&] {
    ::c10d::ScatterOptions opts;
    opts.rootRank = root;
    return g.group->scatter(received, sent, opts);
  });
  if (output.numel() > 0) {
    output.copy_(
        from_wire(received[0], format, output.scalar_type(), output.numel()).view(output.sizes()));
  }
}

void C10dComm::all_reduce_sum(at::Tensor& tensor) {
  // Gather, then add in group-rank order: the sum does not depend on the
  // backend's reduction order (comm.h).
  const std::vector<int64_t> counts(members().size(), tensor.numel());
  at::Tensor sum;
  gather_pieces(*state_, "all_reduce", tensor, counts, [&](int64_t src, const at::Tensor& piece) {
    if (src == 0) {
      sum = piece.clone();
    } else {
      sum.add_(piece);
    }
  });
  if (tensor.numel() > 0) tensor.copy_(sum.view(tensor.sizes()));
}

void C10dComm::barrier() {
  GroupState& g = *state_;
  if (g.session->kind == BackendKind::kGloo) {
    Collective collective(g, "barrier");
    collective.run([&] { return g.group->barrier(::c10d::BarrierOptions()); });
    return;
  }
  // NCCL's barrier guesses a device from the rank; an all-gather of nothing
  // (one padding byte) on our device is a barrier without guessing.
  const std::vector<int64_t> counts(g.members.size(), 0);
  gather_pieces(g, "barrier", at::empty({0}, at::TensorOptions().dtype(at::kByte)), counts,
                [](int64_t, const at::Tensor&) {});
}

void C10dComm::finish() {
  GroupState& g = *state_;
  SHARDSIM_CHECK(g.name == "world", "c10d finish: called on group ", g.name,
                 " (only the world group finishes)");
  if (g.finished) return;
  g.finished = true;
  const detail::Session& s = *g.session;
  std::vector<int64_t> absent;
  try {
    if (s.info.rank == 0) {
      absent = detail::gather_arrivals(*s.store, "shardsim/finish/", "shardsim/finished", 0,
                                       s.info.world_size, s.options.timeout);
    } else {
      detail::announce_arrival(*s.store, "shardsim/finish/", "shardsim/finished", s.info.rank);
    }
  } catch (const std::exception& e) {
    throw CommError(concat("c10d finish: world rank ", s.info.rank,
                           " lost the rendezvous store at ", detail::store_address(s.info), ": ",
                           compat::error_text(e)));
  }
  SHARDSIM_CHECK_T(CommError, absent.empty(), "c10d finish: world ranks ",
                   detail::members_str(absent), " did not finish within ",
                   s.options.timeout.count(), " ms (seen from world rank 0)");
}

std::shared_ptr<Comm> C10dComm::create_subgroup(const std::vector<int64_t>& members) {
  const detail::Session& s = *state_->session;
  SHARDSIM_CHECK(!members.empty(), "c10d: a sub-group needs at least one member");
  std::vector<int64_t> sorted = members;
  std::sort(sorted.begin(), sorted.end());
  SHARDSIM_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(),
                 "c10d: sub-group ", detail::members_str(members), " repeats a rank");
  SHARDSIM_CHECK(sorted.front() >= 0 && sorted.back() < s.info.world_size, "c10d: sub-group ",
                 detail::members_str(members), " names a rank outside the world of ",
                 s.info.world_size);
  return std::make_shared<C10dComm>(
      detail::build_group(state_->session, members, detail::members_str(members)));
}

}  // namespace shardsim::c10d
