// Everything that differs between the libtorch versions shardsim builds
// against (1.13 on Debian, 2.x from a Python installation of PyTorch) lives
// here and in compat.cpp, behind one small API of its own:
//
// - 1.13: ProcessGroupGloo and ProcessGroupNCCL derive from c10d::ProcessGroup;
//   2.x: from c10d::Backend (ProcessGroup became a per-device dispatcher).
//   Both bases carry the same collective signatures, so GroupHandle is
//   whichever base the backends derive from.
// - NCCL's blocking-wait switch is NCCL_BLOCKING_WAIT in 1.13 and
//   TORCH_NCCL_BLOCKING_WAIT from 2.2 on.
// - c10d headers end in .hpp in both; some 2.x releases add .h twins.
//
// Only compat.cpp and the files that run collectives include this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>

#include <torch/version.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

namespace shardsim::c10d::compat {

#if TORCH_VERSION_MAJOR >= 2
using GroupHandle = ::c10d::Backend;
#else
using GroupHandle = ::c10d::ProcessGroup;
#endif
using GroupPtr = c10::intrusive_ptr<GroupHandle>;
using StorePtr = c10::intrusive_ptr<::c10d::Store>;

// "1.13.0", "2.11.0": the libtorch this was compiled against.
const char* torch_version();

// A TCPStore client of host:port; with `is_server`, this process also serves
// the store on `port` (all interfaces). Connecting retries until `timeout`;
// every later get/wait is bounded by it too. Throws what libtorch throws.
StorePtr make_tcp_store(const std::string& host, int port, bool is_server, int64_t world_size,
                        std::chrono::milliseconds timeout);

// `store` with every key prefixed by `prefix`.
StorePtr make_prefix_store(const std::string& prefix, const StorePtr& store);

// Gloo's transport endpoint, shared by every Gloo group of a process: bound to
// `interface` when non-empty, else to `hostname` when non-empty, else to the
// address of this host's name (libtorch's default). Opaque outside compat.cpp.
std::shared_ptr<void> make_gloo_device(const std::string& interface, const std::string& hostname);

// A Gloo process group of `size` ranks over `store` (rendezvous happens here:
// it blocks until every rank has constructed its group, at most `timeout`,
// which also bounds each later collective inside Gloo).
GroupPtr make_gloo_group(const StorePtr& store, int64_t rank, int64_t size,
                         const std::shared_ptr<void>& device, std::chrono::milliseconds timeout,
                         int threads);

// True when this build has NCCL (SHARDSIM_WITH_NCCL).
bool nccl_built();

// A NCCL process group (communicators are created on the first collective).
// Turns on NCCL's blocking wait first (unless the user set the variable), so
// that a timed-out collective throws in wait() instead of tearing the process
// down from the watchdog. Throws Error in a build without NCCL.
GroupPtr make_nccl_group(const StorePtr& store, int64_t rank, int64_t size,
                         std::chrono::milliseconds timeout);

// Makes `device_index` the current CUDA device (NCCL builds; no-op otherwise).
void set_cuda_device(int64_t device_index);

// The message of `e` without libtorch's C++ backtrace.
std::string error_text(const std::exception& e);

}  // namespace shardsim::c10d::compat
