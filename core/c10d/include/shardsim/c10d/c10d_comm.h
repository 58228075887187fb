// The Comm seam over a real c10d process group: Gloo across processes on CPU,
// NCCL on GPUs (when libtorch has CUDA). One process per rank; ranks meet
// through a TCPStore served by rank 0 (see rendezvous.h).
//
// Every collective follows comm.h's contracts, with these backend facts:
// - Uneven counts travel padded to the largest count (at least one element:
//   Gloo in libtorch 1.13 dies with SIGFPE on empty tensors) and are trimmed.
// - A dtype the backend cannot carry travels as its raw bytes, so every dtype
//   arrives bit for bit.
// - all_reduce_sum gathers every member's tensor and adds them in group-rank
//   order, acc = x0; acc += x1; ...: bit-identical to the fiber backend,
//   whatever the backend's own reduction order.
// - Every blocking wait is bounded by ConnectOptions::timeout. A member whose
//   collective fails (a peer's connection closed, or the timeout passed)
//   publishes the failure in the store; members waiting in the same group see
//   it within a tenth of a second (Gloo) and fail too, instead of waiting out
//   the timeout. Every one of them then takes a census through the store and
//   throws CommError naming the operation, the group, its own rank and the
//   members that did not answer (dead or stuck). A failed group refuses later
//   collectives.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardsim/c10d/rendezvous.h"
#include "shardsim/core/comm.h"
#include "shardsim/core/error.h"

namespace shardsim::c10d {

struct ConnectOptions {
  // "gloo" or "nccl" (nccl only in a build with SHARDSIM_WITH_NCCL).
  std::string backend = "gloo";
  // Bound on every blocking wait: store connect, joining the world, building
  // a group, each collective, and the census after a failure.
  std::chrono::milliseconds timeout = std::chrono::seconds(300);
  // How long the members that saw a failure wait for each other in the census
  // that names the absent ones (capped by `timeout`). A live member that stays
  // away from its collectives longer than this is named as well.
  std::chrono::milliseconds census_timeout = std::chrono::seconds(5);
  // Network interface Gloo binds to; empty: GLOO_SOCKET_IFNAME if set, else
  // 127.0.0.1 when master_addr is a loopback address, else the address of
  // this host's name (libtorch's default device).
  std::string gloo_interface;
  // Gloo worker threads per process group.
  int gloo_threads = 2;
};

// True when this build can run `backend` ("gloo", "nccl").
bool backend_available(const std::string& backend);

// A collective (or a group construction) given up because another rank
// aborted the world (C10dComm::abort): an echo of that rank's failure, which
// the message names, not a failure of its own.
class AbandonedError : public CommError {
 public:
  using CommError::CommError;
};

namespace detail {
struct GroupState;
}

class C10dComm : public Comm {
 public:
  // Use connect(); groups are built by connect() and create_subgroup().
  explicit C10dComm(std::shared_ptr<detail::GroupState> state);
  ~C10dComm() override;

  int64_t rank() const override;
  int64_t size() const override;
  const std::vector<int64_t>& members() const override;
  const std::string& name() const override;
  c10::Device device() const override;
  std::string backend() const override;

  void all_gather(const at::Tensor& input, const Counts& counts, const PieceSink& sink) override;
  void broadcast(at::Tensor& tensor, int64_t root) override;
  void broadcast_bytes(std::string& bytes, int64_t root) override;
  void scatter(at::Tensor& output, const std::vector<at::Tensor>& inputs, const Counts& counts,
               int64_t root) override;
  void all_reduce_sum(at::Tensor& tensor) override;
  void barrier() override;

  // The rendezvous this world was connected with.
  const RendezvousInfo& rendezvous() const;
  // The options this world was connected with.
  const ConnectOptions& options() const;

  // Leaves the world in order: every rank marks itself done in the store and
  // rank 0, whose process serves the store, waits (at most the timeout) until
  // every rank has, so the server outlives its clients. Call on the world
  // group, by every rank, before the process exits; later collectives fail.
  void finish();

  // Tells the whole world that this rank gives up on the work in progress
  // (e.g. its scenario failed) because of `reason`: collectives and group
  // constructions other ranks wait in, on any group of this world, throw
  // AbandonedError naming this rank and the first abort's reason within a
  // tenth of a second (Gloo; NCCL waits are not interrupted), without a
  // census. Later collectives of this world fail at once on this rank. Any
  // group of the world may be used to call it; not a collective.
  void abort(const std::string& reason);

  // A fresh world over the same store and transport, to go on after a failure
  // or an abort left this world's groups in disagreeing states. Every rank
  // calls it on its world group, once per failure; it waits (at most the
  // timeout) until all have (CommError naming the absent ranks). Keep this
  // world alive as long as the process runs (or leave with _exit): its
  // groups may hold a pending operation, and a broken Gloo group's
  // destructor can block.
  std::shared_ptr<C10dComm> renew();

  // Out-of-band notes through the world's store, usable when the groups are
  // broken: `post` publishes `value` under `key` (world-wide; the last post
  // wins), `fetch` waits at most `timeout` for it (nullopt when it is not
  // there by then). Keys are private to this world (renew() starts afresh).
  // Throw CommError naming the store when it is unreachable (world rank 0,
  // which serves it, is gone).
  void post(const std::string& key, const std::string& value);
  std::optional<std::string> fetch(const std::string& key, std::chrono::milliseconds timeout);

 protected:
  std::shared_ptr<Comm> create_subgroup(const std::vector<int64_t>& members) override;

 private:
  std::shared_ptr<detail::GroupState> state_;
};

// Tells the world whose store is served at master_addr:master_port, from
// outside it (a launcher that saw a worker die), that it lost a member:
// every rank's collectives and group constructions then end with
// AbandonedError naming `reason` within a tenth of a second (Gloo), in this
// world and any renewed one. Best effort: false when the store could not be
// reached within `timeout`. Connecting to a store whose server dies at that
// moment can end the calling process in libtorch 1.13: call it from a
// process of its own.
bool announce_death(const std::string& master_addr, int master_port, const std::string& reason,
                    std::chrono::milliseconds timeout);

// Connects this process to its world: rank 0 serves a TCPStore on
// master_port, every rank joins it (all must within the timeout), and the
// world process group is built. Throws CommError naming addr:port when the
// server cannot bind (a busy port) or the master cannot be reached, and naming
// the ranks that did not join; InvalidArgument on a bad `info` or backend.
std::shared_ptr<C10dComm> connect(const RendezvousInfo& info, const ConnectOptions& options);

}  // namespace shardsim::c10d
