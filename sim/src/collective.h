// The rendezvous behind every fiber collective.
//
// Vocabulary: a *group* is a member list (world ranks in group-rank order)
// shared by every rank's Comm of that list; an *op* is one collective of a
// group, identified by its sequence number. A member *joins* an op (its
// fingerprint is checked against the op's, which is the first joiner's),
// attaches its payload, *waits* until every member has joined (the last
// joiner completes the op and wakes the others), reads what it needs when it
// resumes, and *leaves*; the op is freed when every member has left.
//
// Inputs read as they were at the collective even if their owner modifies
// them as soon as its call returns:
// - all_gather copies each input into one op-owned buffer as it joins (one
//   output's worth of memory; every receiver reads views of it);
// - broadcast and scatter keep the root's tensors by reference and the root,
//   when it leaves while members that read them have not, replaces them by a
//   private *snapshot*;
// - all_reduce sums once, while every member still waits, into a private
//   result.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "shardsim/core/comm.h"

namespace shardsim {
namespace sim {
namespace detail {

class WorldCore;
struct Op;

struct GroupState {
  std::vector<int64_t> members;   // world ranks, in group-rank order
  std::string name;               // "world" or "[0,2,4]"
  uint64_t id = 0;                // digest of the member list (for the trace)
  std::vector<int64_t> last_seq;  // per group rank: sequence number of its last collective
  std::map<int64_t, std::unique_ptr<Op>> ops;  // live ops by sequence number
};

// The display name of a group: "world" for every rank in order, else the
// member list ("[0,2,4]"; long lists are abbreviated).
std::string group_name(const std::vector<int64_t>& members, int64_t world_size);

struct Op {
  GroupState* group = nullptr;
  Fingerprint fp;  // the first joiner's; every later joiner matched it
  uint64_t fp_hash = 0;
  int64_t size = 0;
  std::vector<char> joined;  // per group rank
  int64_t joined_count = 0;
  bool complete = false;
  std::vector<char> left;  // per group rank
  int64_t left_count = 0;
  // Payload. broadcast: pieces[0] is the root's tensor; scatter: pieces[r] is
  // the root's input for r; all_reduce: pieces[r] is member r's tensor until
  // `result` holds the sum.
  std::vector<at::Tensor> pieces;
  std::vector<char> snapshot;  // pieces[r] is a private copy
  at::Tensor result;
  std::string bytes;  // broadcast_bytes: the root's bytes
  // all_gather: every member's elements, packed in group-rank order at
  // `offsets`, on the first joiner's device; and per device, views of each
  // member's part (made once per device, for every receiver on it).
  at::Tensor gathered;
  std::vector<int64_t> offsets;
  std::vector<std::pair<c10::Device, std::vector<at::Tensor>>> views;

  // all_gather: member `src`'s elements as a 1-D tensor on `device` (a view
  // of `gathered`; every fiber device is host memory, so no copy).
  const at::Tensor& gathered_on(int64_t src, c10::Device device);

  // broadcast, scatter: whether a member that has not left yet still reads
  // pieces[i] (which the root owns).
  bool piece_needed(int64_t i) const;
};

// A tensor on `device` reading `t`'s memory (which it keeps alive): every
// fiber device is host memory, so a piece needs no copy to be seen from
// another device.
at::Tensor view_on_device(const at::Tensor& t, c10::Device device);

// Fingerprint hash used in the trace: kind, dtype, root and sizes.
uint64_t fingerprint_hash(const Fingerprint& fp);

// One member's part in one collective, from joining to leaving (RAII).
class CollectiveCall {
 public:
  // Joins the group's next collective as group rank `group_rank`; `fp`'s
  // sequence number is assigned here. A fingerprint that disagrees with the
  // op's stops the world with a mismatch and throws WorldStopped.
  CollectiveCall(WorldCore& core, GroupState& group, int64_t group_rank, Fingerprint fp);
  // Leaves: snapshots pieces this member owns that others still need, and
  // frees the op when every member has left.
  ~CollectiveCall();
  CollectiveCall(const CollectiveCall&) = delete;
  CollectiveCall& operator=(const CollectiveCall&) = delete;

  Op& op() { return *op_; }
  // Returns once every member has joined. The last joiner runs `on_complete`
  // (with every member's pieces attached) and wakes the others.
  void wait(const std::function<void(Op&)>& on_complete = {});

 private:
  WorldCore& core_;
  GroupState& group_;
  int64_t group_rank_;
  int64_t world_rank_;
  int64_t seq_;
  Op* op_ = nullptr;
  Op* outer_op_ = nullptr;  // the op this rank was in before (a collective inside a sink)
};

}  // namespace detail
}  // namespace sim
}  // namespace shardsim
