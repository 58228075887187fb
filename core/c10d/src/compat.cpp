#include "compat.h"

#include <csignal>
#include <cstdlib>

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#ifdef SHARDSIM_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef SHARDSIM_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "shardsim/core/error.h"

namespace shardsim::c10d::compat {

const char* torch_version() { return TORCH_VERSION; }

namespace {

// Gloo's TCP pairs and the store write to sockets without MSG_NOSIGNAL, so a
// write to a peer that just died raises SIGPIPE, whose default action kills
// this rank silently instead of letting it report the dead peer (seen as
// "signal 13" on a survivor when the store's server exits). A process that
// installed its own SIGPIPE handler keeps it; one with the default ignores
// the signal, and the write fails with EPIPE, which c10d turns into an error.
void ignore_sigpipe_unless_handled() {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    std::signal(SIGPIPE, SIG_IGN);
  }
}

}  // namespace

StorePtr make_tcp_store(const std::string& host, int port, bool is_server, int64_t world_size,
                        std::chrono::milliseconds timeout) {
  ignore_sigpipe_unless_handled();
  ::c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(port);
  opts.isServer = is_server;
  opts.numWorkers = static_cast<std::size_t>(world_size);
  // Joining is shardsim's own step (connect.cpp), which names missing ranks.
  opts.waitWorkers = false;
  opts.timeout = timeout;
  return c10::make_intrusive<::c10d::TCPStore>(host, opts);
}

StorePtr make_prefix_store(const std::string& prefix, const StorePtr& store) {
  return c10::make_intrusive<::c10d::PrefixStore>(prefix, store);
}

std::shared_ptr<void> make_gloo_device(const std::string& interface, const std::string& hostname) {
#ifdef SHARDSIM_WITH_GLOO
  using PG = ::c10d::ProcessGroupGloo;
  if (!interface.empty()) return PG::createDeviceForInterface(interface);
  if (!hostname.empty()) return PG::createDeviceForHostname(hostname);
  return PG::createDefaultDevice();
#else
  (void)interface;
  (void)hostname;
  throw Error("this build of shardsim has no Gloo backend (SHARDSIM_WITH_GLOO=OFF)");
#endif
}

GroupPtr make_gloo_group(const StorePtr& store, int64_t rank, int64_t size,
                         const std::shared_ptr<void>& device, std::chrono::milliseconds timeout,
                         int threads) {
#ifdef SHARDSIM_WITH_GLOO
  ignore_sigpipe_unless_handled();
  using PG = ::c10d::ProcessGroupGloo;
  auto opts = PG::Options::create(timeout);
  opts->devices.push_back(std::static_pointer_cast<::gloo::transport::Device>(device));
  opts->threads = threads;
  return c10::make_intrusive<PG>(store, static_cast<int>(rank), static_cast<int>(size), opts);
#else
  (void)store, (void)rank, (void)size, (void)device, (void)timeout, (void)threads;
  throw Error("this build of shardsim has no Gloo backend (SHARDSIM_WITH_GLOO=OFF)");
#endif
}

bool nccl_built() {
#ifdef SHARDSIM_WITH_NCCL
  return true;
#else
  return false;
#endif
}

GroupPtr make_nccl_group(const StorePtr& store, int64_t rank, int64_t size,
                         std::chrono::milliseconds timeout) {
#ifdef SHARDSIM_WITH_NCCL
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)
  const char* blocking_wait = "TORCH_NCCL_BLOCKING_WAIT";
#else
  const char* blocking_wait = "NCCL_BLOCKING_WAIT";
#endif
  // Read when the group is constructed; overwrite=0 keeps a user's choice.
  setenv(blocking_wait, "1", 0);
  auto opts = ::c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  return c10::make_intrusive<::c10d::ProcessGroupNCCL>(store, static_cast<int>(rank),
                                                       static_cast<int>(size), opts);
#else
  (void)store, (void)rank, (void)size, (void)timeout;
  throw Error(
      "this build of shardsim has no NCCL backend (libtorch without CUDA, or "
      "SHARDSIM_WITH_NCCL=OFF)");
#endif
}

void set_cuda_device(int64_t device_index) {
#ifdef SHARDSIM_WITH_NCCL
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index));
#else
  (void)device_index;
#endif
}

std::string error_text(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

}  // namespace shardsim::c10d::compat
