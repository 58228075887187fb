// The state behind a C10dComm: one process group and the session (store,
// options, transport) that a world shares with all of its sub-groups.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "compat.h"
#include "shardsim/c10d/c10d_comm.h"
#include "wire.h"

namespace shardsim::c10d::detail {

// Shared by a world and every group made from it.
struct Session {
  RendezvousInfo info;
  ConnectOptions options;
  BackendKind kind = BackendKind::kGloo;
  c10::Device device = c10::Device(c10::kCPU);  // where collectives run
  compat::StorePtr store;                       // this world's view of the store
  compat::StorePtr root_store;                  // the TCPStore client itself (rank 0: its server)
  int64_t epoch = 0;                            // renew() count: store keys live under it
  std::string aborted;                          // set when this rank aborted the world
  std::shared_ptr<void> gloo_device;            // Gloo's transport (Gloo only)
  // How many groups of each member list this process has built, so that the
  // same list built twice gets a fresh store prefix (every member builds its
  // groups in the same order, so the counts agree).
  std::map<std::vector<int64_t>, int64_t> built;
};

struct GroupState {
  std::shared_ptr<Session> session;
  compat::GroupPtr group;
  std::vector<int64_t> members;  // world ranks in group-rank order
  int64_t rank = 0;              // this process's group rank
  std::string name;              // "world" or "[0,2]"
  std::string prefix;            // this group's store prefix, unique per build
  int64_t sequence = 0;          // collectives issued on this group
  std::string failure;           // the first failure; non-empty: the group is broken
  bool finished = false;         // finish() was called (world group only)
};

// "[0,2,4]": a member list as group names spell it.
std::string members_str(const std::vector<int64_t>& members);

// Seconds since `start`, for messages.
double seconds_since(std::chrono::steady_clock::time_point start);

// "2.5 s"
std::string seconds_str(std::chrono::milliseconds ms);

// After a failure on the group `prefix` (members in group-rank order, this
// process at group rank `rank`): announces this member in the store and waits,
// at most the census timeout, for the others to do the same. Returns a
// sentence for the error message naming the world ranks that did not answer
// (dead or stuck), or saying that the store itself is unreachable (its server,
// world rank 0, is gone). World rank 0 returns only when every member that
// answered has its result, so that its store outlives their census.
std::string census(Session& session, const std::string& prefix, const std::vector<int64_t>& members,
                   int64_t rank);

// The store key where the first member to fail in group `prefix` says why.
std::string failure_key(const std::string& prefix);

// The store key where the first rank to abort the world says why.
std::string abort_key();

// The store key (root namespace) where announce_death() says who died.
std::string death_key();

// The abort published in the session's store, or else a death announced in
// the root store ("" when neither). Throws what the store throws.
std::string published_abort(Session& session);

// Every rank announces itself and waits for the others (connect and renew).
// Throws CommError naming the ranks that did not join within the timeout.
void join_world(Session& session);

// "127.0.0.1:29500"
std::string store_address(const RendezvousInfo& info);

// Builds the process group of `members` (world ranks) named `name`; called by
// every member. Throws CommError naming the group and the absent members.
std::shared_ptr<GroupState> build_group(const std::shared_ptr<Session>& session,
                                        const std::vector<int64_t>& members,
                                        const std::string& name);

}  // namespace shardsim::c10d::detail
