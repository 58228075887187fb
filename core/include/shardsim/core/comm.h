// The communicator seam: everything shardsim's core needs from a process
// group. Implemented by the fiber world (sim), and by c10d Gloo and NCCL
// adapters (core/c10d). Core code talks to nothing else.
//
// Contracts common to every collective:
// - Every member of the group calls it, in the same program order.
// - What must agree across members (the *agreed* part: kind, dtype, root,
//   element counts) is described by a Fingerprint; the fiber backend checks it
//   and reports a collective mismatch naming every member's fingerprint.
// - Tensors may live on any device the backend supports (the rank's device(),
//   or CPU); pieces handed to a sink live on the input's device.
// - Reductions sum in group-rank order, ((x0 + x1) + x2) + ..., on every
//   backend, so results do not depend on the backend's reduction order.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "shardsim/core/counts.h"

namespace shardsim {

class DeviceMesh;

enum class CollectiveKind {
  kAllGather,
  kBroadcast,
  kBroadcastBytes,
  kScatter,
  kAllReduce,
  kBarrier,
};
const char* collective_kind_name(CollectiveKind kind);  // "all_gather", ...

// What must agree across the members of one collective.
struct Fingerprint {
  CollectiveKind kind = CollectiveKind::kBarrier;
  std::string group;      // the group's name, e.g. "world" or "[0,2,4]"
  int64_t sequence = 0;   // per-group sequence number of this collective, from 1
  c10::optional<c10::ScalarType> dtype;  // none for barrier and byte broadcasts
  int64_t root = -1;                     // group rank of the root; -1 if none
  Counts sizes;                          // the agreed element counts

  std::string str() const;
  friend bool operator==(const Fingerprint& a, const Fingerprint& b);
  friend bool operator!=(const Fingerprint& a, const Fingerprint& b) { return !(a == b); }
};
std::ostream& operator<<(std::ostream& os, const Fingerprint& fp);

// Receives one member's piece of an all-gather: `src` is the member's group
// rank, `piece` a 1-D tensor of its elements, valid only during the call.
using PieceSink = std::function<void(int64_t src, const at::Tensor& piece)>;

class Comm {
 public:
  virtual ~Comm() = default;

  // This process's (or fiber's) rank within the group, and the group's size.
  virtual int64_t rank() const = 0;
  virtual int64_t size() const = 0;
  // The group's members as ranks of the world, in group-rank order.
  virtual const std::vector<int64_t>& members() const = 0;
  // The group's name in fingerprints and messages ("world", "[0,2,4]").
  virtual const std::string& name() const = 0;
  // The device tensors of this rank live on: cuda:LOCAL_RANK on NCCL, CPU on
  // Gloo, the simulated accelerator on fibers.
  virtual c10::Device device() const = 0;
  // Which backend this is: "fiber", "gloo", "nccl".
  virtual std::string backend() const = 0;

  // All-gather of pieces whose element counts may differ. `counts[r]` is
  // member r's element count, identical on every member (the agreed part);
  // REQUIRES input.numel() == counts[rank()]. Calls `sink` once per member, in
  // group-rank order, after every member has arrived. An empty sink receives
  // nothing: the member only contributes its input. No output is allocated
  // by the backend beyond what the sink keeps (so a rank's result can be
  // materialised when it resumes and dropped before the next one does).
  virtual void all_gather(const at::Tensor& input, const Counts& counts,
                          const PieceSink& sink) = 0;

  // The same all-gather, concatenated: a fresh 1-D tensor on input's device
  // holding every member's elements in group-rank order, allocated after the
  // rendezvous. The default goes through all_gather's sink; backends that
  // can copy straight into the result override it.
  virtual at::Tensor all_gather_flat(const at::Tensor& input, const Counts& counts);
  // The same, with the result on `device` (e.g. CPU for a gather that is
  // offloaded). The default gathers on the input's device and copies; a
  // backend that can receive straight into `device` overrides it.
  virtual at::Tensor all_gather_flat_on(const at::Tensor& input, const Counts& counts,
                                        c10::Device device);

  // Broadcast in place: the root's `tensor` is copied into every other
  // member's `tensor`, which must have the same dtype and element count.
  virtual void broadcast(at::Tensor& tensor, int64_t root) = 0;

  // Broadcast of a byte string whose length only the root knows.
  virtual void broadcast_bytes(std::string& bytes, int64_t root) = 0;

  // Scatter: member r receives `inputs[r]` (given on the root only; ignored
  // elsewhere) into its `output`. `counts[r]` is member r's element count,
  // identical on every member; REQUIRES output.numel() == counts[rank()].
  virtual void scatter(at::Tensor& output, const std::vector<at::Tensor>& inputs,
                       const Counts& counts, int64_t root) = 0;

  // In-place sum across members, in group-rank order.
  virtual void all_reduce_sum(at::Tensor& tensor) = 0;

  virtual void barrier() = 0;

  // The sub-group of `members` (world ranks, in the order that defines the
  // new group ranks). Called by the members only, each with the same list,
  // in the same order relative to their other collectives. REQUIRES: this
  // rank is in `members`.
  std::shared_ptr<Comm> subgroup(const std::vector<int64_t>& members);

  // The group of this rank along `dim` of `mesh` (cached). A 1-D mesh over
  // the whole world (ranks 0..n-1) is the world group itself: the result then
  // does not own this Comm and must not outlive it.
  std::shared_ptr<Comm> mesh_group(const DeviceMesh& mesh, int64_t dim);

 protected:
  // Creates the sub-group; called once per distinct member list.
  virtual std::shared_ptr<Comm> create_subgroup(const std::vector<int64_t>& members) = 0;

 private:
  // Sub-groups by a digest of their member list (each group keeps its list
  // once; a hit is confirmed against it).
  std::multimap<uint64_t, std::shared_ptr<Comm>> subgroups_;
};

// Convenience over all_gather: gathers every member's tensor `local` (all of
// the same dtype; their shapes agree except along `dim`, where member r has
// `sizes_along_dim[r]`) and concatenates them along `dim` into one tensor on
// `local`'s device. The result is allocated after the rendezvous.
// `device` (default: local's device) is where the result is allocated.
at::Tensor all_gather_cat(Comm& comm, const at::Tensor& local, int64_t dim,
                          const Counts& sizes_along_dim,
                          c10::optional<c10::Device> device = c10::nullopt);

}  // namespace shardsim
