// Joining a world (TCPStore, join, world group) and building groups.
//
// Store keys (all under "shardsim/"): join/<rank> and the counter joined,
// join_failed and join_failed_seen when someone is missing;
// group/<prefix>/... for each group's own process group; failed/<prefix>, set
// by the first member to see that group fail, and census/<prefix>/<rank> and
// census/<prefix>/count and census/<prefix>/done after it; finish/<rank> and
// the counter finished when the world ends.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <thread>

#include "arrivals.h"
#include "group_state.h"
#include "shardsim/c10d/c10d_comm.h"
#include "shardsim/core/error.h"

namespace shardsim::c10d {
namespace detail {

std::string members_str(const std::vector<int64_t>& members) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < members.size(); ++i) os << (i ? "," : "") << members[i];
  os << "]";
  return os.str();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string seconds_str(std::chrono::milliseconds ms) {
  std::ostringstream os;
  os << ms.count() / 1000.0 << " s";
  return os.str();
}

namespace {

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr == "::1" || addr.rfind("127.", 0) == 0;
}

BackendKind parse_backend(const std::string& backend) {
  SHARDSIM_CHECK_ARG(backend == "gloo" || backend == "nccl", "c10d: unknown backend '", backend,
                     "' (expected gloo or nccl)");
  SHARDSIM_CHECK_ARG(backend_available(backend), "c10d: backend ", backend,
                     " is not built into this shardsim (libtorch ", compat::torch_version(), ")");
  return backend == "gloo" ? BackendKind::kGloo : BackendKind::kNccl;
}

}  // namespace

std::string store_address(const RendezvousInfo& info) {
  return ::shardsim::detail::concat(info.master_addr, ":", info.master_port);
}

// Every rank announces itself and waits for the others. When the timeout
// passes, world rank 0 publishes who is missing, so every present rank fails
// with the same list, and keeps the store up until they have read it.
void join_world(Session& session) {
  const RendezvousInfo& info = session.info;
  ::c10d::Store& store = *session.store;
  const std::chrono::milliseconds timeout = session.options.timeout;
  const auto start = std::chrono::steady_clock::now();
  const std::string failed_key = "shardsim/join_failed";
  announce_arrival(store, "shardsim/join/", "shardsim/joined", info.rank);
  const auto published = [&] { return info.rank != 0 && store.check({failed_key}); };
  if (wait_for_count(store, "shardsim/joined", info.world_size, start + timeout, published) >=
      info.world_size) {
    return;
  }
  std::string message;
  if (store.check({failed_key})) {
    const std::vector<uint8_t> text = store.get(failed_key);
    message.assign(text.begin(), text.end());
    store.add("shardsim/join_failed_seen", 1);
  } else {
    const std::vector<int64_t> absent = absent_members(store, "shardsim/join/", info.world_size);
    message = ::shardsim::detail::concat("c10d connect: world ranks ", members_str(absent), " of ",
                                         info.world_size, " did not join the world at ",
                                         store_address(info), " within ", seconds_str(timeout));
    if (info.rank == 0) {
      store.set(failed_key, std::vector<uint8_t>(message.begin(), message.end()));
      const int64_t present = info.world_size - static_cast<int64_t>(absent.size());
      wait_for_count(
          store, "shardsim/join_failed_seen", present - 1,
          std::chrono::steady_clock::now() + std::min(session.options.census_timeout, timeout),
          nullptr);
    }
  }
  throw CommError(::shardsim::detail::concat(message, " (seen from world rank ", info.rank,
                                             " after ", seconds_since(start), " s)"));
}

namespace {

// Every member announces itself before Gloo's own rendezvous, which blocks in
// the store and cannot see an abort: a member that aborted the world instead
// of coming releases the others at once, and an absent one is named.
void meet_members(Session& session, const std::string& prefix, const std::vector<int64_t>& members,
                  int64_t rank, const std::string& name) {
  ::c10d::Store& store = *session.store;
  const std::string base = "shardsim/group/" + prefix + "/arrived/";
  const auto size = static_cast<int64_t>(members.size());
  const auto start = std::chrono::steady_clock::now();
  announce_arrival(store, base, base + "count", rank);
  std::string aborted;
  const auto stop = [&] {
    aborted = published_abort(session);
    return !aborted.empty();
  };
  if (wait_for_count(store, base + "count", size, start + session.options.timeout, stop) >= size) {
    return;
  }
  const std::string what = ::shardsim::detail::concat(session.options.backend, ": building group ",
                                                      name, " on world rank ", session.info.rank,
                                                      " (group rank ", rank, " of ", size, ")");
  if (!aborted.empty()) {
    throw AbandonedError(::shardsim::detail::concat(what, " was abandoned after ",
                                                    seconds_since(start), " s because ", aborted));
  }
  std::vector<int64_t> absent_ranks;
  for (int64_t i : absent_members(store, base, size)) absent_ranks.push_back(members[i]);
  throw CommError(::shardsim::detail::concat(what, " failed: world ranks ",
                                             members_str(absent_ranks), " did not come within ",
                                             seconds_str(session.options.timeout)));
}

}  // namespace

std::shared_ptr<GroupState> build_group(const std::shared_ptr<Session>& session,
                                        const std::vector<int64_t>& members,
                                        const std::string& name) {
  auto state = std::make_shared<GroupState>();
  state->session = session;
  state->members = members;
  state->name = name;
  const auto me = std::find(members.begin(), members.end(), session->info.rank);
  SHARDSIM_CHECK(me != members.end(), "c10d: world rank ", session->info.rank, " builds group ",
                 members_str(members), " it is not a member of");
  state->rank = me - members.begin();
  const int64_t nth = session->built[members]++;
  state->prefix =
      ::shardsim::detail::concat(name == "world" ? name : members_str(members), "#", nth);
  const auto size = static_cast<int64_t>(members.size());
  const auto start = std::chrono::steady_clock::now();
  if (size > 1) meet_members(*session, state->prefix, members, state->rank, name);
  try {
    compat::StorePtr store =
        compat::make_prefix_store("shardsim/group/" + state->prefix + "/", session->store);
    if (session->kind == BackendKind::kGloo) {
      state->group =
          compat::make_gloo_group(store, state->rank, size, session->gloo_device,
                                  session->options.timeout, session->options.gloo_threads);
    } else {
      state->group = compat::make_nccl_group(store, state->rank, size, session->options.timeout);
    }
  } catch (const std::exception& e) {
    std::string message = ::shardsim::detail::concat(
        session->options.backend, ": building group ", name, " on world rank ", session->info.rank,
        " (group rank ", state->rank, " of ", size, ") failed after ", seconds_since(start),
        " s: ", compat::error_text(e), ".");
    message += census(*session, state->prefix, members, state->rank);
    throw CommError(message);
  }
  return state;
}

}  // namespace detail

bool backend_available(const std::string& backend) {
#ifdef SHARDSIM_WITH_GLOO
  if (backend == "gloo") return true;
#endif
  return backend == "nccl" && compat::nccl_built();
}

std::shared_ptr<C10dComm> connect(const RendezvousInfo& info, const ConnectOptions& options) {
  validate(info);
  SHARDSIM_CHECK_ARG(options.timeout.count() > 0, "c10d: the timeout must be positive, got ",
                     options.timeout.count(), " ms");
  SHARDSIM_CHECK_ARG(options.census_timeout.count() >= 0,
                     "c10d: the census timeout must not be negative, got ",
                     options.census_timeout.count(), " ms");
  SHARDSIM_CHECK_ARG(options.gloo_threads >= 1, "c10d: gloo_threads must be at least 1, got ",
                     options.gloo_threads);
  auto session = std::make_shared<detail::Session>();
  session->info = info;
  session->options = options;
  session->kind = detail::parse_backend(options.backend);

  const std::string addr = detail::store_address(info);
  try {
    session->store = compat::make_tcp_store(info.master_addr, info.master_port, info.rank == 0,
                                            info.world_size, options.timeout);
    session->root_store = session->store;
  } catch (const std::exception& e) {
    if (info.rank == 0) {
      throw CommError(::shardsim::detail::concat(
          "c10d connect: world rank 0 could not serve the rendezvous store on ", addr,
          " (is the port busy?): ", compat::error_text(e)));
    }
    throw CommError(::shardsim::detail::concat(
        "c10d connect: world rank ", info.rank, " could not reach the rendezvous store at ", addr,
        " within ", detail::seconds_str(options.timeout),
        " (is world rank 0 running there?): ", compat::error_text(e)));
  }

  try {
    detail::join_world(*session);
  } catch (const CommError&) {
    throw;
  } catch (const std::exception& e) {
    throw CommError(::shardsim::detail::concat(
        "c10d connect: world rank ", info.rank, " lost the rendezvous store at ", addr,
        " while joining (world rank 0 serves it): ", compat::error_text(e)));
  }

  if (session->kind == BackendKind::kGloo) {
    std::string interface = options.gloo_interface;
    if (interface.empty()) {
      if (const char* env = std::getenv("GLOO_SOCKET_IFNAME")) {
        interface = std::string(env).substr(0, std::string(env).find(','));
      }
    }
    try {
      session->gloo_device = compat::make_gloo_device(
          interface, interface.empty() && detail::is_loopback(info.master_addr) ? "127.0.0.1" : "");
    } catch (const std::exception& e) {
      throw CommError(::shardsim::detail::concat(
          "c10d connect: world rank ", info.rank, " could not open a Gloo transport",
          interface.empty() ? "" : " on interface " + interface, ": ", compat::error_text(e)));
    }
  } else {
    session->device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(info.local_rank));
    compat::set_cuda_device(info.local_rank);
  }

  std::vector<int64_t> world(static_cast<size_t>(info.world_size));
  for (int64_t r = 0; r < info.world_size; ++r) world[r] = r;
  return std::make_shared<C10dComm>(detail::build_group(session, world, "world"));
}

}  // namespace shardsim::c10d
