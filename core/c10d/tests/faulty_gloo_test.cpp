// The Comm-level faults of shardsim/core/faults.h over real Gloo worlds: the
// same wrapper the fiber backend uses, around a C10dComm, in worker processes
// (copies of this binary, see world_launcher.h). What a fault causes on Gloo
// is a process that dies or leaves, a late rank, or collectives that no
// longer pair up; the others must end with a CommError in bounded time, and
// nothing may hang or pass with wrong data.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/error.h"
#include "shardsim/core/faults.h"
#include "worker.h"
#include "worker_support.h"
#include "world_launcher.h"

namespace shardsim::c10d::testing {

namespace {

using Clock = std::chrono::steady_clock;

// Exit statuses of the faulty worker beyond worker.h's.
constexpr int kWorkerCrashed = 3;    // an injected crash ended it
constexpr int kWorkerLeft = 4;       // an injected exit: it left early
constexpr int kWorkerCommError = 5;  // a collective failed (what survivors report)
constexpr int kWorkerMismatch = 6;   // an altered collective returned

constexpr int64_t kTimeoutMs = 8000;  // also bounds joining: generous for a loaded machine
constexpr int64_t kCensusMs = 1000;

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, sep);) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Four collectives over two groups, each checked against known inputs:
// a barrier, an all-gather, a broadcast from rank 0 and an all-reduce on the
// group of every rank in reverse order.
int run_faulty() {
  const std::shared_ptr<C10dComm> real = connect_from_env();
  const int64_t rank = real->rank();
  const int64_t n = real->size();
  auto plan = std::make_shared<FaultPlan>(parse_faults(split(env_str("SHARDSIM_FAULTS", ""), ';')));
  const std::shared_ptr<Comm> comm =
      make_faulty_comm(std::shared_ptr<Comm>(real), std::make_shared<RankFaults>(plan, rank));
  auto report = [&] {
    for (const std::string& line : plan->report()) std::cerr << "INJECTED " << line << "\n";
  };
  Checks checks(rank);
  const auto start = Clock::now();
  try {
    comm->barrier();
    const at::Tensor mine = known_input(rank, at::kFloat, 100, 1);
    const at::Tensor all = comm->all_gather_flat(mine, std::vector<int64_t>(n, 100));
    std::vector<at::Tensor> expected;
    for (int64_t r = 0; r < n; ++r) expected.push_back(known_input(r, at::kFloat, 100, 1));
    checks.expect(bit_equal(all, at::cat(expected)), "all_gather");
    at::Tensor b = rank == 0 ? known_input(0, at::kDouble, 50, 2) : at::zeros({50}, at::kDouble);
    comm->broadcast(b, 0);
    checks.expect(bit_equal(b, known_input(0, at::kDouble, 50, 2)), "broadcast");
    std::vector<int64_t> reverse;
    for (int64_t r = n - 1; r >= 0; --r) reverse.push_back(r);
    at::Tensor s = at::full({8}, double(rank + 1), at::kDouble);
    comm->subgroup(reverse)->all_reduce_sum(s);
    checks.expect(bit_equal(s, at::full({8}, double(n * (n + 1) / 2), at::kDouble)), "all_reduce");
  } catch (const InjectedFault& e) {
    std::cerr << "INJECTED_FAULT " << fault_kind_name(e.kind()) << ": " << e.what() << std::endl;
    report();
    switch (e.kind()) {
      case FaultKind::kCrash:
        return kWorkerCrashed;
      case FaultKind::kExit:
        return kWorkerLeft;
      default:
        return kWorkerMismatch;
    }
  } catch (const CommError& e) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    std::cerr << "COMM_ERROR elapsed_ms=" << ms.count() << ": " << e.what() << std::endl;
    report();
    return kWorkerCommError;
  } catch (const std::exception& e) {
    // Seen: "Broken pipe" from a survivor whose peer left mid-broadcast.
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    std::cerr << "OTHER_ERROR elapsed_ms=" << ms.count() << ": " << e.what() << std::endl;
    report();
    return kWorkerError;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  std::cerr << "DONE elapsed_ms=" << ms.count() << " " << checks.count() << " checks, "
            << checks.failed() << " failed" << std::endl;
  report();
  return checks.failed() == 0 ? kWorkerOk : kWorkerCheckFailed;
}

std::vector<WorkerOutcome> run_faulty_world(int64_t world, const std::string& faults) {
  WorldSpec spec;
  spec.program = "faulty";
  spec.world_size = world;
  spec.env = {{"SHARDSIM_FAULTS", faults},
              {"SHARDSIM_C10D_TIMEOUT_MS", std::to_string(kTimeoutMs)},
              {"SHARDSIM_C10D_CENSUS_MS", std::to_string(kCensusMs)}};
  spec.deadline = std::chrono::seconds(60);
  return run_world(spec);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

int64_t elapsed_ms(const WorkerOutcome& o, const std::string& tag) {
  std::smatch m;
  const std::regex re(tag + " elapsed_ms=([0-9]+)");
  return std::regex_search(o.output, m, re) ? std::stoll(m[1]) : -1;
}

// Every survivor ends with an error of its collective within the timeout
// plus the census. (c10d promises a CommError; a survivor whose peer left
// mid-broadcast has been seen to get a plain "Broken pipe" instead, which is
// printed here as a note for the c10d adapter.)
void expect_survivors_fail_in_time(const std::vector<WorkerOutcome>& outcomes, int64_t victim) {
  for (const WorkerOutcome& o : outcomes) {
    if (o.rank == victim) continue;
    EXPECT_TRUE(o.exited && (o.code == kWorkerCommError || o.code == kWorkerError))
        << describe(outcomes);
    int64_t ms = elapsed_ms(o, "COMM_ERROR");
    if (ms < 0) {
      ms = elapsed_ms(o, "OTHER_ERROR");
      std::cout << "[ note     ] rank " << o.rank << " failed without a CommError:\n" << o.output;
    }
    EXPECT_GE(ms, 0) << describe(o);
    EXPECT_LE(ms, kTimeoutMs + kCensusMs + 1500) << describe(o);
    std::cout << "[ measured ] rank " << o.rank << " reported after " << ms << " ms\n";
  }
}

TEST(FaultyGloo, WithoutFaultsOrWithJitterEveryRankIsCorrect) {
  for (const std::string faults : {"", "jitter:p=100,max_ms=30"}) {
    const std::vector<WorkerOutcome> outcomes = run_faulty_world(3, faults);
    for (const WorkerOutcome& o : outcomes) {
      EXPECT_TRUE(o.ok()) << faults << "\n" << describe(outcomes);
      EXPECT_TRUE(contains(o.output, "3 checks, 0 failed")) << describe(o);
    }
  }
}

TEST(FaultyGloo, ACrashEndsTheRankAndItsPeersFailInBoundedTime) {
  const std::vector<WorkerOutcome> outcomes = run_faulty_world(3, "crash:rank=1,collective=2");
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(outcomes[1].code, kWorkerCrashed) << describe(outcomes);
  EXPECT_TRUE(contains(outcomes[1].output,
                       "INJECTED crash:rank=1,collective=2 (fired at all_gather seq 2 on group "
                       "world)"))
      << describe(outcomes[1]);
  expect_survivors_fail_in_time(outcomes, 1);
}

TEST(FaultyGloo, AnEarlyExitLeavesItsPeersFailingInBoundedTime) {
  const std::vector<WorkerOutcome> outcomes = run_faulty_world(3, "exit:rank=2,collective=3");
  EXPECT_EQ(outcomes[2].code, kWorkerLeft) << describe(outcomes);
  EXPECT_TRUE(contains(outcomes[2].output, "left before broadcast seq 3 on group world"))
      << describe(outcomes[2]);
  expect_survivors_fail_in_time(outcomes, 2);
}

TEST(FaultyGloo, ADelayWithinTheTimeoutOnlyDelaysAndOnePastItIsATimeout) {
  const std::vector<WorkerOutcome> in_time =
      run_faulty_world(3, "delay:rank=1,collective=2,ms=400");
  for (const WorkerOutcome& o : in_time) {
    EXPECT_TRUE(o.ok()) << describe(in_time);
    if (o.rank != 1) {
      EXPECT_GE(elapsed_ms(o, "DONE"), 380) << describe(o);
    }
  }
  const std::vector<WorkerOutcome> late =
      run_faulty_world(3, "delay:rank=1,collective=2,ms=" + std::to_string(kTimeoutMs + 2500));
  expect_survivors_fail_in_time(late, 1);
  EXPECT_NE(late[1].code, kWorkerOk) << "the late rank finds its group failed\n" << describe(late);
}

// A mismatch or a skipped collective makes calls pair up wrongly. Gloo does
// not check fingerprints: what matters is that no rank passes and nobody hangs.
TEST(FaultyGloo, MismatchesAndSkipsNeverPassAndNeverHang) {
  for (const std::string faults :
       {"mismatch:rank=1,collective=2,field=shape", "mismatch:rank=0,collective=3,field=kind",
        "mismatch:rank=2,collective=3,field=root", "skip:rank=0,collective=2"}) {
    const auto start = Clock::now();
    const std::vector<WorkerOutcome> outcomes = run_faulty_world(3, faults);
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    bool all_ok = true;
    for (const WorkerOutcome& o : outcomes) {
      EXPECT_FALSE(o.killed) << faults << ": killed at the deadline\n" << describe(outcomes);
      all_ok = all_ok && o.ok();
    }
    EXPECT_FALSE(all_ok) << faults << " passed unnoticed\n" << describe(outcomes);
    EXPECT_LT(s, 45.0) << faults;
    std::cout << "[ measured ] " << faults << ": world ended after " << s << " s\n";
  }
}

}  // namespace

int run_worker(const std::string& name) {
  if (name == "faulty") return run_faulty();
  std::cerr << "unknown worker program '" << name << "'\n";
  return kWorkerError;
}

}  // namespace shardsim::c10d::testing

// A worker when the launcher says so, else GoogleTest.
int main(int argc, char** argv) {
  if (const char* program = std::getenv(shardsim::c10d::testing::kWorkerVariable)) {
    int status = shardsim::c10d::testing::kWorkerError;
    try {
      status = shardsim::c10d::testing::run_worker(program);
    } catch (const std::exception& e) {
      std::cerr << "worker: unexpected exception: " << e.what() << "\n";
    }
    // Skip destructors: a process group whose peer died may wait out its
    // timeout in its destructor.
    std::fflush(nullptr);
    std::_Exit(status);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
