// Steering a world from outside its collectives: abort, renew and notes, all
// through the store, so that they work when the groups are broken.
//
// Store keys (in the world's own namespace; renew() moves a world to
// "shardsim/epoch/<n>/" of the root store): shardsim/aborted, set by the
// first rank to abort; shardsim/note/<key> for post() and fetch(). In the
// root namespace: shardsim/dead, set from outside (announce_death), which
// every epoch sees: a dead member ends the world for good.
#include <algorithm>
#include <chrono>
#include <thread>

#include "group_state.h"
#include "shardsim/c10d/c10d_comm.h"
#include "shardsim/core/error.h"

namespace shardsim::c10d {
namespace detail {

std::string abort_key() { return "shardsim/aborted"; }

std::string death_key() { return "shardsim/dead"; }

std::string published_abort(Session& session) {
  for (const auto& [store, key] : {std::make_pair(session.store, abort_key()),
                                   std::make_pair(session.root_store, death_key())}) {
    if (!store->check({key})) continue;
    const std::vector<uint8_t> text = store->get(key);
    return std::string(text.begin(), text.end());
  }
  return "";
}

}  // namespace detail

namespace {

using ::shardsim::detail::concat;

std::string note_key(const std::string& key) { return "shardsim/note/" + key; }

[[noreturn]] void lost_store(const detail::Session& s, const char* op, const std::exception& e) {
  throw CommError(concat("c10d ", op, ": world rank ", s.info.rank,
                         " lost the rendezvous store at ", detail::store_address(s.info),
                         " (world rank 0 serves it): ", compat::error_text(e)));
}

}  // namespace

void C10dComm::abort(const std::string& reason) {
  detail::Session& s = *state_->session;
  const std::string text = concat("world rank ", s.info.rank, " aborted: ", reason);
  if (s.aborted.empty()) s.aborted = text;
  try {
    // The first abort stays: it is the root cause the others report.
    if (!s.store->check({detail::abort_key()})) {
      s.store->set(detail::abort_key(), std::vector<uint8_t>(text.begin(), text.end()));
    }
  } catch (const std::exception&) {
    // The store is gone: the others fail on their own, naming world rank 0.
  }
}

std::shared_ptr<C10dComm> C10dComm::renew() {
  detail::GroupState& g = *state_;
  SHARDSIM_CHECK(g.name == "world", "c10d renew: called on group ", g.name,
                 " (only the world group renews)");
  detail::Session& old = *g.session;
  if (old.aborted.empty()) old.aborted = "the world was renewed";
  auto s = std::make_shared<detail::Session>();
  s->info = old.info;
  s->options = old.options;
  s->kind = old.kind;
  s->device = old.device;
  s->gloo_device = old.gloo_device;
  s->root_store = old.root_store;
  s->epoch = old.epoch + 1;
  s->store = compat::make_prefix_store(concat("shardsim/epoch/", s->epoch, "/"), s->root_store);
  try {
    detail::join_world(*s);
  } catch (const CommError&) {
    throw;
  } catch (const std::exception& e) {
    lost_store(*s, "renew", e);
  }
  std::vector<int64_t> world(static_cast<size_t>(s->info.world_size));
  for (int64_t r = 0; r < s->info.world_size; ++r) world[r] = r;
  return std::make_shared<C10dComm>(detail::build_group(s, world, "world"));
}

void C10dComm::post(const std::string& key, const std::string& value) {
  const detail::Session& s = *state_->session;
  try {
    s.store->set(note_key(key), std::vector<uint8_t>(value.begin(), value.end()));
  } catch (const std::exception& e) {
    lost_store(s, "post", e);
  }
}

std::optional<std::string> C10dComm::fetch(const std::string& key,
                                           std::chrono::milliseconds timeout) {
  const detail::Session& s = *state_->session;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  try {
    while (true) {
      if (s.store->check({note_key(key)})) {
        const std::vector<uint8_t> value = s.store->get(note_key(key));
        return std::string(value.begin(), value.end());
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
  } catch (const std::exception& e) {
    lost_store(s, "fetch", e);
  }
}

bool announce_death(const std::string& master_addr, int master_port, const std::string& reason,
                    std::chrono::milliseconds timeout) {
  try {
    compat::StorePtr store = compat::make_tcp_store(master_addr, master_port, false, 1, timeout);
    store->set(detail::death_key(), std::vector<uint8_t>(reason.begin(), reason.end()));
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace shardsim::c10d
