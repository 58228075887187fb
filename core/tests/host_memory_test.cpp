// Tests of the host memory seam: kinds, poison, sharing across processes,
// page locks (VmLck), the exactly-once release when the last view dies, the
// error of a failing lock, and no leaked descriptors or mappings.
#include "shardsim/core/host_memory.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace shardsim {
namespace {

const HostAllocKind kAllKinds[] = {HostAllocKind::kPlain, HostAllocKind::kShared,
                                   HostAllocKind::kPinned, HostAllocKind::kSharedPinned};

bool kind_shared(HostAllocKind k) {
  return k == HostAllocKind::kShared || k == HostAllocKind::kSharedPinned;
}
bool kind_pinned(HostAllocKind k) {
  return k == HostAllocKind::kPinned || k == HostAllocKind::kSharedPinned;
}

// Whether this process may page-lock `bytes` more (mlock build: a probe lock).
bool can_lock(size_t bytes, std::string* why) {
  if (std::string(page_lock_mechanism()) != "mlock") return true;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  const bool ok = syscall(SYS_mlock, p, bytes) == 0;  // libc's mlock is a no-op under ASan
  if (!ok) {
    rlimit rl{};
    getrlimit(RLIMIT_MEMLOCK, &rl);
    *why = "mlock of " + std::to_string(bytes) + " bytes not permitted here (RLIMIT_MEMLOCK soft " +
           std::to_string(rl.rlim_cur) + "): " + std::strerror(errno);
  }
  syscall(SYS_munlock, p, bytes);
  munmap(p, bytes);
  return ok;
}

#define SKIP_UNLESS_LOCKABLE(bytes)                      \
  do {                                                   \
    std::string why_;                                    \
    if (!can_lock((bytes), &why_)) GTEST_SKIP() << why_; \
  } while (false)

int count_open_fds() {
  int n = 0;
  DIR* dir = opendir("/proc/self/fd");
  while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
  closedir(dir);
  return n - 1;  // the directory's own descriptor
}

int count_maps_containing(const std::string& needle) {
  std::ifstream in("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
  return n;
}

// Mappings of exactly `bytes` in this process (a leaked block shows as one more).
int count_maps_of_size(uint64_t bytes) {
  std::ifstream in("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    uint64_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2) n += hi - lo == bytes;
  }
  return n;
}

template <typename Bits>
Bits bits_at(const at::Tensor& t, int64_t element, int64_t part = 0) {
  Bits b;
  std::memcpy(
      &b, static_cast<const char*>(t.data_ptr()) + element * t.element_size() + part * sizeof(Bits),
      sizeof(Bits));
  return b;
}

TEST(HostMemoryTest, KindNamesAndFlags) {
  EXPECT_STREQ(host_alloc_kind_name(HostAllocKind::kSharedPinned), "shared+pinned");
  EXPECT_EQ(host_alloc_kind(false, false), HostAllocKind::kPlain);
  EXPECT_EQ(host_alloc_kind(true, false), HostAllocKind::kPinned);
  EXPECT_EQ(host_alloc_kind(false, true), HostAllocKind::kShared);
  EXPECT_EQ(host_alloc_kind(true, true), HostAllocKind::kSharedPinned);
  EXPECT_EQ(&default_host_memory(), &default_host_memory());
}

TEST(HostMemoryTest, EachKindAllocatesShapeAndDtypeOnCpu) {
  SKIP_UNLESS_LOCKABLE(1 << 20);
  auto memory = make_host_memory();
  const c10::ScalarType dtypes[] = {at::kFloat, at::kDouble,      at::kHalf, at::kBFloat16,
                                    at::kInt,   at::kLong,        at::kByte, at::kChar,
                                    at::kBool,  at::kComplexFloat};
  for (HostAllocKind kind : kAllKinds) {
    for (c10::ScalarType dtype : dtypes) {
      SCOPED_TRACE(::testing::Message() << kind << " " << dtype);
      at::Tensor t = memory->allocate({3, 5}, dtype, kind);
      ASSERT_TRUE(t.defined());
      EXPECT_TRUE(t.device().is_cpu());
      EXPECT_EQ(t.sizes(), at::IntArrayRef({3, 5}));
      EXPECT_EQ(t.scalar_type(), dtype);
      EXPECT_TRUE(t.is_contiguous());
      EXPECT_EQ(is_shared(t), kind_shared(kind));
      EXPECT_EQ(is_page_locked(t), kind_pinned(kind));
      EXPECT_EQ(shared_segment(t).has_value(), kind_shared(kind));

      // An ordinary tensor for ATen: copy_, views, clone.
      at::Tensor src = at::arange(15, at::kDouble).reshape({3, 5}).to(dtype);
      t.copy_(src);
      EXPECT_TRUE(at::equal(t, src));
      EXPECT_TRUE(at::equal(t.narrow(1, 1, 2), src.narrow(1, 1, 2)));
      at::Tensor c = t.clone();
      EXPECT_NE(c.data_ptr(), t.data_ptr());
      EXPECT_FALSE(is_shared(c));
      EXPECT_FALSE(is_page_locked(c));
      EXPECT_EQ(is_shared(t.view({15})), kind_shared(kind));
    }
  }
  EXPECT_FALSE(is_shared(at::ones({2})));
  EXPECT_FALSE(is_page_locked(at::ones({2})));
  EXPECT_FALSE(is_shared(at::Tensor()));
  EXPECT_EQ(memory->stats().live_registrations, 0);
  EXPECT_EQ(memory->stats().live_shared_segments, 0);
  EXPECT_EQ(memory->stats().double_releases, 0);
}

TEST(HostMemoryTest, PoisonPatternIsTheDocumentedBits) {
  SKIP_UNLESS_LOCKABLE(1 << 20);
  auto memory = make_host_memory();
  for (HostAllocKind kind : kAllKinds) {
    SCOPED_TRACE(::testing::Message() << kind);
    at::Tensor f = memory->allocate({7}, at::kFloat, kind);
    at::Tensor d = memory->allocate({7}, at::kDouble, kind);
    at::Tensor h = memory->allocate({7}, at::kHalf, kind);
    at::Tensor bf = memory->allocate({7}, at::kBFloat16, kind);
    at::Tensor cf = memory->allocate({7}, at::kComplexFloat, kind);
    at::Tensor i32 = memory->allocate({7}, at::kInt, kind);
    at::Tensor i64 = memory->allocate({7}, at::kLong, kind);
    at::Tensor u8 = memory->allocate({7}, at::kByte, kind);
    at::Tensor b = memory->allocate({7}, at::kBool, kind);
    for (int64_t i = 0; i < 7; ++i) {
      EXPECT_EQ(bits_at<uint32_t>(f, i), 0x7FE5A5A5u);
      EXPECT_EQ(bits_at<uint64_t>(d, i), 0x7FFCA5A5A5A5A5A5ull);
      EXPECT_EQ(bits_at<uint16_t>(h, i), 0x7EA5u);
      EXPECT_EQ(bits_at<uint16_t>(bf, i), 0x7FE5u);
      EXPECT_EQ(bits_at<uint32_t>(cf, i, 0), 0x7FE5A5A5u);
      EXPECT_EQ(bits_at<uint32_t>(cf, i, 1), 0x7FE5A5A5u);
      EXPECT_EQ(bits_at<int32_t>(i32, i), -1515870811);
      EXPECT_EQ(bits_at<uint64_t>(i64, i), 0xA5A5A5A5A5A5A5A5ull);
      EXPECT_EQ(bits_at<uint8_t>(u8, i), 0xA5);
      EXPECT_EQ(bits_at<uint8_t>(b, i), 1);
    }
    // Poisoned floats are NaN: never equal, nor close, to data.
    EXPECT_TRUE(at::isnan(f).all().item<bool>());
    EXPECT_FALSE(at::allclose(f, at::zeros_like(f)));
    EXPECT_TRUE(is_poisoned(f));
    EXPECT_TRUE(is_poisoned(i64));
    f[3] = 0.0f;
    EXPECT_FALSE(is_poisoned(f));
  }
}

TEST(HostMemoryTest, PoisonOffGivesZeroedMappings) {
  SKIP_UNLESS_LOCKABLE(1 << 20);
  HostMemoryOptions options;
  options.poison = false;
  auto memory = make_host_memory(options);
  // Fresh mappings are zero-filled by the kernel; plain memory is unspecified.
  for (HostAllocKind kind :
       {HostAllocKind::kShared, HostAllocKind::kPinned, HostAllocKind::kSharedPinned}) {
    at::Tensor t = memory->allocate({1000}, at::kInt, kind);
    EXPECT_TRUE(at::equal(t, at::zeros({1000}, at::kInt))) << kind;
  }
}

TEST(HostMemoryTest, FillPoisonWorksOnStridedViews) {
  at::Tensor t = at::zeros({4, 6}, at::kFloat);
  at::Tensor column = t.select(1, 2);
  fill_poison(column);
  EXPECT_TRUE(is_poisoned(column));
  EXPECT_TRUE(at::equal(t.select(1, 1), at::zeros({4})));
  EXPECT_FALSE(is_poisoned(t));
}

TEST(HostMemoryTest, ZeroElementTensorsAreZerosSharedWhenAsked) {
  auto memory = make_host_memory();
  for (HostAllocKind kind : kAllKinds) {
    SCOPED_TRACE(::testing::Message() << kind);
    {
      at::Tensor t = memory->allocate({0, 3}, at::kFloat, kind);
      EXPECT_EQ(t.sizes(), at::IntArrayRef({0, 3}));
      EXPECT_EQ(t.scalar_type(), at::kFloat);
      EXPECT_EQ(t.numel(), 0);
      EXPECT_EQ(is_shared(t), kind_shared(kind));
      EXPECT_FALSE(is_page_locked(t));  // nothing to lock
      if (kind_shared(kind)) {
        ASSERT_TRUE(shared_segment(t).has_value());
        EXPECT_EQ(shared_segment(t)->mapped_bytes, 0);
        EXPECT_EQ(memory->stats().live_shared_segments, 1);
      }
      EXPECT_EQ(t.clone().numel(), 0);
      EXPECT_EQ(at::cat({t, at::zeros({2, 3})}).size(0), 2);
    }
    EXPECT_EQ(memory->stats().live_shared_segments, 0);
  }
  EXPECT_EQ(memory->stats().total_registered, 0);
}

TEST(HostMemoryTest, ZeroDimTensorsHoldOneElementOfEachKind) {
  SKIP_UNLESS_LOCKABLE(1 << 20);
  auto memory = make_host_memory();
  for (HostAllocKind kind : kAllKinds) {
    at::Tensor t = memory->allocate({}, at::kDouble, kind);
    EXPECT_EQ(t.dim(), 0) << kind;
    EXPECT_EQ(t.numel(), 1) << kind;
    EXPECT_EQ(bits_at<uint64_t>(t, 0), 0x7FFCA5A5A5A5A5A5ull) << kind;
    EXPECT_EQ(is_page_locked(t), kind_pinned(kind)) << kind;
    t.fill_(2.5);
    EXPECT_EQ(t.item<double>(), 2.5);
  }
}

TEST(HostMemoryTest, NegativeSizeIsInvalidArgument) {
  auto memory = make_host_memory();
  for (HostAllocKind kind : kAllKinds) {
    EXPECT_THROW(memory->allocate({2, -1}, at::kFloat, kind), InvalidArgument) << kind;
  }
}

TEST(HostMemoryTest, ResizeBeyondTheBlockThrowsAndKeepsIt) {
  SKIP_UNLESS_LOCKABLE(1 << 20);
  auto memory = make_host_memory();
  at::Tensor t = memory->allocate({16}, at::kFloat, HostAllocKind::kSharedPinned);
  void* data = t.data_ptr();
  EXPECT_ANY_THROW(t.resize_({1 << 20}));
  EXPECT_EQ(t.data_ptr(), data);
  t.resize_({4});
  EXPECT_EQ(t.data_ptr(), data);
  EXPECT_TRUE(is_page_locked(t));
  EXPECT_EQ(memory->stats().live_registrations, 1);
}

// Runs `child` in a forked process; returns its exit status (or -1 if it did
// not exit normally). The child must end with _exit.
template <typename F>
int run_in_child(F child) {
  std::cout.flush();
  const pid_t pid = fork();
  if (pid == 0) {
    _exit(child());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct SharingCase {
  HostAllocKind kind;
  SharedBacking backing;
};

class SharedMemoryTest : public ::testing::TestWithParam<SharingCase> {};

TEST_P(SharedMemoryTest, AnotherProcessMapsTheSameBytes) {
  SKIP_UNLESS_LOCKABLE(1 << 20);
  HostMemoryOptions options;
  options.shared_backing = GetParam().backing;
  auto memory = make_host_memory(options);
  constexpr int64_t n = 3000;  // more than one page
  at::Tensor t = memory->allocate({n}, at::kInt, GetParam().kind);
  t.copy_(at::arange(n, at::kInt));
  const std::optional<SharedSegment> segment = shared_segment(t);
  ASSERT_TRUE(segment.has_value());
  EXPECT_GE(segment->mapped_bytes, n * 4);
  EXPECT_EQ(segment->mapped_bytes % sysconf(_SC_PAGESIZE), 0);

  // The child opens the segment by path (a fresh open, not the inherited
  // mapping), checks the parent's bytes and writes its own.
  const std::string path = segment->path;
  const int64_t bytes = segment->mapped_bytes;
  const int status = run_in_child([&] {
    const int fd = open(path.c_str(), O_RDWR);
    if (fd < 0) return 10;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return 11;
    auto* v = static_cast<int32_t*>(p);
    for (int64_t i = 0; i < n; ++i) {
      if (v[i] != i) return 12;
    }
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<int32_t>(7 * i + 1);
    munmap(p, bytes);
    close(fd);
    return 0;
  });
  ASSERT_EQ(status, 0) << "child on " << path;
  EXPECT_TRUE(at::equal(t, at::arange(n, at::kInt) * 7 + 1));

  // The inherited descriptor maps the same bytes too.
  const int fd = segment->fd;
  const int status_fd = run_in_child([&] {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return 11;
    static_cast<int32_t*>(p)[5] = -42;
    return 0;
  });
  ASSERT_EQ(status_fd, 0);
  EXPECT_EQ(t[5].item<int32_t>(), -42);

  t.reset();
  EXPECT_EQ(memory->stats().live_shared_segments, 0);
  if (GetParam().backing == SharedBacking::kPosixShm) {
    EXPECT_NE(access(path.c_str(), F_OK), 0) << path << " still linked";
  }
}

INSTANTIATE_TEST_SUITE_P(
    KindsAndBackings, SharedMemoryTest,
    ::testing::Values(SharingCase{HostAllocKind::kShared, SharedBacking::kMemfd},
                      SharingCase{HostAllocKind::kSharedPinned, SharedBacking::kMemfd},
                      SharingCase{HostAllocKind::kShared, SharedBacking::kPosixShm},
                      SharingCase{HostAllocKind::kSharedPinned, SharedBacking::kPosixShm}),
    [](const auto& info) {
      return std::string(info.param.kind == HostAllocKind::kShared ? "Shared" : "SharedPinned") +
             (info.param.backing == SharedBacking::kMemfd ? "Memfd" : "PosixShm");
    });

TEST(HostMemoryTest, NoDescriptorOrMappingOutlivesItsTensors) {
  SKIP_UNLESS_LOCKABLE(1 << 20);
  auto memory = make_host_memory();
  const int fds = count_open_fds();
  const int maps = count_maps_containing("shardsim-host");
  {
    std::vector<at::Tensor> tensors;
    for (int i = 0; i < 40; ++i) {
      tensors.push_back(memory->allocate({100 + i}, at::kFloat, kAllKinds[i % 4]));
    }
    tensors.push_back(memory->allocate({0}, at::kFloat, HostAllocKind::kShared));
    EXPECT_EQ(count_open_fds(), fds + 21);  // 20 shared blocks + 1 zero-byte segment
    EXPECT_EQ(count_maps_containing("shardsim-host"), maps + 20);
    EXPECT_EQ(memory->stats().live_shared_segments, 21);
    EXPECT_EQ(memory->stats().live_registrations, 20);
  }
  EXPECT_EQ(count_open_fds(), fds);
  EXPECT_EQ(count_maps_containing("shardsim-host"), maps);
  const HostMemoryStats s = memory->stats();
  EXPECT_EQ(s.live_shared_segments, 0);
  EXPECT_EQ(s.total_shared_segments, 21);
  EXPECT_EQ(s.live_registrations, 0);
  EXPECT_EQ(s.total_registered, 20);
  EXPECT_EQ(s.total_released, 20);
  EXPECT_EQ(s.locked_bytes, 0);
  EXPECT_EQ(s.double_releases, 0);
  EXPECT_EQ(s.failed_releases, 0);
}

class PinnedTest : public ::testing::TestWithParam<HostAllocKind> {};

TEST_P(PinnedTest, VmLckGrowsByTheBytesAndReturnsToBaseline) {
  if (std::string(page_lock_mechanism()) != "mlock") GTEST_SKIP() << "VmLck shows mlock only";
  constexpr int64_t kBytes = 8 << 20;
  SKIP_UNLESS_LOCKABLE(kBytes);
  auto memory = make_host_memory();
  const int64_t baseline = process_locked_bytes();
  ASSERT_GE(baseline, 0) << "VmLck unreadable";
  {
    at::Tensor t = memory->allocate({kBytes / 4}, at::kFloat, GetParam());
    EXPECT_GE(process_locked_bytes(), baseline + kBytes);
    EXPECT_EQ(memory->stats().locked_bytes, kBytes);
  }
  EXPECT_EQ(process_locked_bytes(), baseline);
  EXPECT_EQ(memory->stats().locked_bytes, 0);
}

// The lifetime law: views keep the registration; the last one to die releases
// it exactly once, and the storage's weak reference has expired at that moment.
TEST_P(PinnedTest, ReleasedExactlyOnceWhenTheLastViewDies) {
  SKIP_UNLESS_LOCKABLE(1 << 20);
  struct Seen {
    int releases = 0;
    bool expired_at_release = false;
    int64_t locked_at_release = -1;  // VmLck when the registry hears of it
    c10::weak_intrusive_ptr<c10::StorageImpl>* weak = nullptr;
  } seen;
  HostMemoryOptions options;
  options.on_release = [&seen](const PinRelease&) {
    seen.releases += 1;
    seen.expired_at_release = seen.weak != nullptr && seen.weak->expired();
    seen.locked_at_release = process_locked_bytes();
  };
  auto memory = make_host_memory(options);
  const int64_t baseline_lck = process_locked_bytes();

  at::Tensor t = memory->allocate({16, 1024}, at::kFloat, GetParam());
  auto weak = t.storage().getWeakStorageImpl();
  seen.weak = &weak;
  EXPECT_EQ(memory->stats().live_registrations, 1);

  at::Tensor narrowed = t.narrow(0, 2, 4);
  at::Tensor flat = t.view({-1});
  at::Tensor reshaped = t.reshape({1024, 16});
  at::Tensor copy = t.clone();  // its own storage: must not hold the block
  t.reset();
  for (at::Tensor* last : {&narrowed, &flat}) {
    EXPECT_FALSE(weak.expired());
    EXPECT_EQ(seen.releases, 0);
    EXPECT_EQ(memory->stats().live_registrations, 1);
    EXPECT_TRUE(is_page_locked(reshaped));
    last->reset();
  }
  EXPECT_EQ(seen.releases, 0);
  EXPECT_FALSE(weak.expired());
  reshaped.reset();

  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(seen.releases, 1);
  EXPECT_TRUE(seen.expired_at_release);
  const HostMemoryStats s = memory->stats();
  EXPECT_EQ(s.live_registrations, 0);
  EXPECT_EQ(s.total_registered, 1);
  EXPECT_EQ(s.total_released, 1);
  EXPECT_EQ(s.double_releases, 0);
  EXPECT_EQ(s.failed_releases, 0);
  EXPECT_EQ(s.locked_bytes, 0);
  EXPECT_EQ(s.live_shared_segments, 0);
  if (std::string(page_lock_mechanism()) == "mlock") {
    // The lock itself ended by then (not merely with the mapping, later).
    EXPECT_EQ(seen.locked_at_release, baseline_lck);
    EXPECT_EQ(process_locked_bytes(), baseline_lck);
  }
  copy.reset();
  EXPECT_EQ(seen.releases, 1);
}

TEST_P(PinnedTest, TensorsOutliveTheirHostMemory) {
  SKIP_UNLESS_LOCKABLE(1 << 20);
  int releases = 0;
  HostMemoryOptions options;
  options.on_release = [&releases](const PinRelease& r) { releases += r.unlocked ? 1 : 100; };
  auto memory = make_host_memory(options);
  at::Tensor t = memory->allocate({1000}, at::kLong, GetParam());
  memory.reset();
  t.fill_(3);
  EXPECT_EQ(t.sum().item<int64_t>(), 3000);
  EXPECT_TRUE(is_page_locked(t));
  t.reset();
  EXPECT_EQ(releases, 1);
}

INSTANTIATE_TEST_SUITE_P(Kinds, PinnedTest,
                         ::testing::Values(HostAllocKind::kPinned, HostAllocKind::kSharedPinned),
                         [](const auto& info) {
                           return std::string(
                               info.param == HostAllocKind::kPinned ? "Pinned" : "SharedPinned");
                         });

TEST(PinRegistryTest, CountsDoubleReleasesAndNeverUnderflows) {
  std::vector<int64_t> released;
  PinRegistry registry([&released](const PinRelease& r) { released.push_back(r.id); });
  int x = 0;
  const int64_t a = registry.add(&x, 4096);
  const int64_t b = registry.add(&x, 8192);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  EXPECT_EQ(registry.stats().locked_bytes, 12288);
  EXPECT_TRUE(registry.release(a));
  EXPECT_FALSE(registry.is_live(a));
  EXPECT_TRUE(registry.is_live(b));
  EXPECT_FALSE(registry.release(a));
  EXPECT_FALSE(registry.release(99));
  EXPECT_TRUE(registry.release(b, /*unlocked=*/false));
  HostMemoryStats expected;
  expected.total_registered = 2;
  expected.total_released = 2;
  expected.double_releases = 2;
  expected.failed_releases = 1;
  EXPECT_EQ(registry.stats(), expected);
  EXPECT_EQ(released, (std::vector<int64_t>{1, 2}));
  std::ostringstream os;
  os << registry.stats();
  EXPECT_NE(os.str().find("double_releases=2"), std::string::npos) << os.str();
}

TEST(HostMemoryTest, ProcessLockedBytesReadsVmLck) {
  std::ifstream in("/proc/self/status");
  std::string line;
  int64_t kib = -1;
  while (std::getline(in, line)) {
    if (line.rfind("VmLck:", 0) == 0) kib = std::stoll(line.substr(6));
  }
  ASSERT_GE(kib, 0);
  EXPECT_EQ(process_locked_bytes(), kib * 1024);
}

// Drops CAP_IPC_LOCK from this process, so RLIMIT_MEMLOCK applies even to root.
bool drop_ipc_lock_capability() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  const uint32_t bit = 1u << (CAP_IPC_LOCK % 32);
  data[CAP_IPC_LOCK / 32].effective &= ~bit;
  data[CAP_IPC_LOCK / 32].permitted &= ~bit;
  data[CAP_IPC_LOCK / 32].inheritable &= ~bit;
  return syscall(SYS_capset, &header, data) == 0;
}

class LockFailureTest : public ::testing::TestWithParam<HostAllocKind> {};

TEST_P(LockFailureTest, ErrorNamesTheLimitItsValueAndTheBytes) {
  if (std::string(page_lock_mechanism()) != "mlock") GTEST_SKIP() << "RLIMIT_MEMLOCK is mlock's";
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const HostAllocKind kind = GetParam();
  // In a child: no CAP_IPC_LOCK, a 64 KiB limit, then ask for 1 MiB.
  const int status = run_in_child([&] {
    close(pipe_fds[0]);
    auto report = [&](const std::string& text, int code) {
      (void)!write(pipe_fds[1], text.data(), text.size());
      return code;
    };
    if (!drop_ipc_lock_capability()) return report("capset failed", 20);
    rlimit rl{65536, 65536};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return report("setrlimit failed", 21);
    auto memory = make_host_memory();
    const int fds = count_open_fds();
    const int maps = count_maps_of_size(1 << 20);
    try {
      memory->allocate({1 << 18}, at::kFloat, kind);
    } catch (const PageLockError& e) {
      const HostMemoryStats s = memory->stats();
      if (s.live_registrations != 0 || s.total_registered != 0 || s.live_shared_segments != 0 ||
          count_open_fds() != fds || count_maps_of_size(1 << 20) != maps) {
        return report("leaked after failure: " + std::string(e.what()), 23);
      }
      return report(e.what(), 0);
    } catch (const std::exception& e) {
      return report(std::string("wrong error type: ") + e.what(), 24);
    }
    return report("no error", 22);
  });
  close(pipe_fds[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof(buf))) > 0;) message.append(buf, n);
  close(pipe_fds[0]);
  ASSERT_EQ(status, 0) << message;
  std::cout << "  lock failure (" << kind << "): " << message << "\n";
  EXPECT_NE(message.find("RLIMIT_MEMLOCK"), std::string::npos) << message;
  EXPECT_NE(message.find("soft 65536 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("1048576 bytes requested"), std::string::npos) << message;
  EXPECT_NE(message.find("mlock"), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(Kinds, LockFailureTest,
                         ::testing::Values(HostAllocKind::kPinned, HostAllocKind::kSharedPinned),
                         [](const auto& info) {
                           return std::string(
                               info.param == HostAllocKind::kPinned ? "Pinned" : "SharedPinned");
                         });

// Figures only (no timing asserts): allocate cost per kind, 1 MiB and 64 MiB,
// with and without poison. Mapped kinds touch every page (poison, or the
// lock's fault-in); plain without poison touches nothing.
TEST(HostMemoryBenchmark, AllocateCostPerKind) {
  using Clock = std::chrono::steady_clock;
  std::string why;
  const bool lockable = can_lock(64 << 20, &why);
  for (bool poison : {true, false}) {
    HostMemoryOptions options;
    options.poison = poison;
    auto memory = make_host_memory(options);
    for (int64_t mib : {1, 64}) {
      const int reps = mib == 1 ? 50 : 5;
      for (HostAllocKind kind : kAllKinds) {
        if (kind_pinned(kind) && !lockable) {
          std::cout << "  allocate " << kind << " " << mib << " MiB: skipped (cannot lock)\n";
          continue;
        }
        double alloc_ms = 0, free_ms = 0;
        for (int r = 0; r < reps; ++r) {
          const auto t0 = Clock::now();
          at::Tensor t = memory->allocate({mib << 18}, at::kFloat, kind);
          const auto t1 = Clock::now();
          t.reset();
          const auto t2 = Clock::now();
          alloc_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
          free_ms += std::chrono::duration<double, std::milli>(t2 - t1).count();
        }
        std::cout << "  allocate " << kind << " " << mib << " MiB poison=" << poison << ": "
                  << alloc_ms / reps << " ms, release " << free_ms / reps << " ms\n";
      }
    }
    EXPECT_EQ(memory->stats().live_registrations, 0);
  }
}

}  // namespace
}  // namespace shardsim
