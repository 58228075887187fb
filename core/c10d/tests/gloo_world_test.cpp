// Real Gloo worlds of 2-4 processes (copies of this binary, see
// world_launcher.h): the collective battery, dead and stalled peers, and
// rendezvous failures. Each world costs ~0.4 s and ~160 MB per process.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "shardsim/c10d/c10d_comm.h"
#include "shardsim/c10d/free_port.h"
#include "shardsim/core/error.h"
#include "world_launcher.h"

namespace shardsim::c10d::testing {
namespace {

constexpr int64_t kTimeoutMs = 3000;
constexpr int64_t kCensusMs = 1000;

class GlooBattery : public ::testing::TestWithParam<int64_t> {};

TEST_P(GlooBattery, EveryCollectiveEveryDtypeBitExact) {
  WorldSpec spec;
  spec.program = "battery";
  spec.world_size = GetParam();
  spec.deadline = std::chrono::seconds(120);
  const std::vector<WorkerOutcome> outcomes = run_world(spec);
  for (const WorkerOutcome& o : outcomes) {
    EXPECT_TRUE(o.ok()) << describe(outcomes);
    EXPECT_NE(o.output.find(" 0 failed"), std::string::npos) << describe(o);
  }
}

INSTANTIATE_TEST_SUITE_P(Worlds, GlooBattery, ::testing::Values(1, 2, 3, 4),
                         [](const auto& info) { return "world" + std::to_string(info.param); });

struct FaultCase {
  std::string name;
  int64_t world_size;
  int64_t victim;
  std::string fault;  // "exit" or "stall"
  std::string when;   // "collective", "subgroup" or "connect"
  std::string named;  // what every survivor's error must contain
  int64_t bound_ms;   // every survivor reports within this
};

std::ostream& operator<<(std::ostream& os, const FaultCase& f) { return os << f.name; }

class GlooFault : public ::testing::TestWithParam<FaultCase> {};

// The victim misbehaves; every other rank must end with a CommError that
// names what happened, within the bound, and the world must not hang.
TEST_P(GlooFault, SurvivorsFailInBoundedTime) {
  const FaultCase& f = GetParam();
  WorldSpec spec;
  spec.program = "fault";
  spec.world_size = f.world_size;
  spec.env = {{"SHARDSIM_C10D_FAULT", f.fault},
              {"SHARDSIM_C10D_VICTIM", std::to_string(f.victim)},
              {"SHARDSIM_C10D_WHEN", f.when},
              {"SHARDSIM_C10D_TIMEOUT_MS", std::to_string(kTimeoutMs)},
              {"SHARDSIM_C10D_CENSUS_MS", std::to_string(kCensusMs)}};
  spec.deadline = std::chrono::seconds(30);
  if (f.fault == "stall") spec.may_outlive = {f.victim};
  const auto start = std::chrono::steady_clock::now();
  const std::vector<WorkerOutcome> outcomes = run_world(spec);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::regex elapsed("SURVIVOR elapsed_ms=([0-9]+)");
  for (const WorkerOutcome& o : outcomes) {
    if (o.rank == f.victim) {
      if (f.fault == "stall") {
        EXPECT_TRUE(o.killed) << describe(o);
      }
      continue;
    }
    ASSERT_TRUE(o.ok()) << describe(outcomes);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(o.output, m, elapsed)) << describe(o);
    const int64_t ms = std::stoll(m[1]);
    EXPECT_LE(ms, f.bound_ms) << describe(o);
    EXPECT_NE(o.output.find(f.named), std::string::npos) << describe(o);
    std::cout << "[ measured ] " << f.name << ": rank " << o.rank << " reported after " << ms
              << " ms\n";
  }
  // A stalled victim is still running when the survivors are done; the
  // launcher kills it then (no process is left behind).
  EXPECT_LT(seconds, 20.0) << describe(outcomes);
}

// Bounds: a closed connection is seen at once and published to the others, so
// only the census (kCensusMs) stands between the death and the report; a
// stalled peer costs the timeout first.
INSTANTIATE_TEST_SUITE_P(Faults, GlooFault,
                         ::testing::Values(FaultCase{"PeerExitsBeforeCollective", 3, 2, "exit",
                                                     "collective", "World ranks [2]", kTimeoutMs},
                                           FaultCase{"PeerExitsInSubgroup", 4, 1, "exit",
                                                     "subgroup", "World ranks [1]", kTimeoutMs},
                                           FaultCase{"StoreServerExits", 3, 0, "exit", "collective",
                                                     "world rank 0", kTimeoutMs + kCensusMs + 1500},
                                           FaultCase{"PeerStalls", 3, 1, "stall", "collective",
                                                     "World ranks [1]",
                                                     kTimeoutMs + kCensusMs + 1500},
                                           FaultCase{"PeerNeverConnects", 3, 1, "exit", "connect",
                                                     "world ranks [1] of 3", kTimeoutMs + 1500}),
                         [](const auto& info) { return info.param.name; });

// The process's own connect, in this test process: a world of 2 whose rank 0
// cannot bind its port.
TEST(GlooRendezvous, BusyPortIsAClearErrorNotAHang) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  RendezvousInfo info;
  info.rank = 0;
  info.world_size = 2;
  info.master_port = port;
  ConnectOptions options;
  options.timeout = std::chrono::milliseconds(kTimeoutMs);
  const auto start = std::chrono::steady_clock::now();
  try {
    connect(info, options);
    ADD_FAILURE() << "connect on a busy port succeeded";
  } catch (const CommError& e) {
    const std::string text = e.what();
    EXPECT_NE(text.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << text;
    EXPECT_NE(text.find("busy"), std::string::npos) << text;
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
  ::close(fd);
}

TEST(GlooRendezvous, UnreachableMasterIsAClearErrorWithinTheTimeout) {
  RendezvousInfo info;
  info.rank = 1;
  info.world_size = 2;
  info.master_port = pick_free_port();  // nobody listens there
  ConnectOptions options;
  options.timeout = std::chrono::milliseconds(1000);
  const auto start = std::chrono::steady_clock::now();
  try {
    connect(info, options);
    ADD_FAILURE() << "connect to a master that is not there succeeded";
  } catch (const CommError& e) {
    const std::string text = e.what();
    EXPECT_NE(text.find("127.0.0.1:" + std::to_string(info.master_port)), std::string::npos)
        << text;
    EXPECT_NE(text.find("world rank 1"), std::string::npos) << text;
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 3.0);
}

TEST(GlooRendezvous, BadArgumentsAreInvalidArgument) {
  RendezvousInfo info;
  info.rank = 2;
  info.world_size = 2;
  EXPECT_THROW(connect(info, ConnectOptions()), InvalidArgument);
  info.rank = 0;
  ConnectOptions options;
  options.backend = "mpi";
  EXPECT_THROW(connect(info, options), InvalidArgument);
  options.backend = "nccl";
  EXPECT_EQ(backend_available("nccl"), false);
  EXPECT_THROW(connect(info, options), InvalidArgument);
  EXPECT_TRUE(backend_available("gloo"));
}

}  // namespace
}  // namespace shardsim::c10d::testing
