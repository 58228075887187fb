// Fault specs, the fault-injecting Comm and HostMemory over a local world
// (no fibers: these are the faults that work on any backend), buggify plans,
// and what an allocation fault leaves behind.
#include <dirent.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shardsim/core/faults.h"
#include "shardsim/core/host_memory.h"
#include "shardsim/core/local_comm.h"
#include "shardsim/core/state_dict_utils.h"

namespace shardsim {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string parse_error(const std::string& text) {
  try {
    parse_fault(text);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(FaultSpec, EveryKindParsesAndPrintsCanonically) {
  const std::vector<std::string> texts = {"crash:rank=1,collective=2",
                                          "exit:rank=0,collective=1",
                                          "skip:rank=2,collective=1",
                                          "mismatch:rank=1,collective=3,field=kind",
                                          "mismatch:rank=1,collective=3,field=shape",
                                          "mismatch:rank=1,collective=3,field=dtype",
                                          "mismatch:rank=1,collective=3,field=root",
                                          "delay:rank=3,collective=2,ms=5000",
                                          "jitter:p=25,max_ms=10",
                                          "jitter:p=100,max_ms=1,rank=4",
                                          "alloc:kind=plain,nth=1",
                                          "alloc:kind=shared,nth=2,rank=1",
                                          "alloc:kind=pinned,nth=3",
                                          "alloc:kind=any,nth=4",
                                          "diverge:rank=1",
                                          "diverge:rank=0,key=even"};
  for (const std::string& t : texts) {
    const FaultSpec f = parse_fault(t);
    EXPECT_EQ(f.str(), t);
    EXPECT_EQ(parse_fault(f.str()), f);
  }
  const FaultSpec m = parse_fault("mismatch:collective=3,rank=1");
  EXPECT_EQ(m.kind, FaultKind::kMismatch);
  EXPECT_EQ(m.rank, 1);
  EXPECT_EQ(m.collective, 3);
  EXPECT_EQ(m.field, MismatchField::kShape) << "shape is the default field";
  const FaultSpec d = parse_fault("delay:rank=3,collective=2,ms=5000");
  EXPECT_EQ(d.ms, 5000);
  EXPECT_TRUE(d.targets(3));
  EXPECT_FALSE(d.targets(2));
  EXPECT_TRUE(parse_fault("alloc:kind=plain,nth=1").targets(7)) << "no rank: every rank";
}

TEST(FaultSpec, BadSpecsNameTheSpecAndTheBadPart) {
  struct Case {
    std::string text;
    std::string part;
  };
  const std::vector<Case> cases = {
      {"boom:rank=1", "unknown kind 'boom'"},
      {"crash", "missing key"},
      {"crash:", "'' is not key=value"},
      {"crash:rank=1", "missing key 'collective'"},
      {"crash:rank=1,collective=0", "collective=0 is not an integer in [1, "},
      {"crash:rank=x,collective=1", "rank=x is not an integer"},
      {"crash:rank=-1,collective=1", "rank=-1 is not an integer"},
      {"crash:rank=1,collective=2,ms=3", "unknown key 'ms' for crash"},
      {"crash:rank=1,rank=2,collective=1", "key 'rank' given twice"},
      {"crash:rank=1,,collective=1", "'' is not key=value"},
      {"crash:rank=1,collective=99999999999999999999", "is not an integer"},
      {"crash:rank 1,collective=1", "'rank 1' is not key=value"},
      {"mismatch:rank=1,collective=1,field=size",
       "field=size is not one of kind, shape, dtype, root"},
      {"delay:rank=1,collective=1", "missing key 'ms'"},
      {"delay:rank=1,collective=1,ms=86400001", "ms=86400001 is not an integer"},
      {"jitter:p=0,max_ms=1", "p=0 is not an integer in [1, 100]"},
      {"alloc:kind=gpu,nth=1", "kind=gpu is not one of plain, shared, pinned, any"},
      {"alloc:kind=plain", "missing key 'nth'"},
      {"diverge:key=x", "missing key 'rank'"},
      {"diverge:rank=1,key=", "key= is empty"},
      {"=1", "unknown kind '=1'"},
  };
  for (const Case& c : cases) {
    const std::string msg = parse_error(c.text);
    EXPECT_TRUE(contains(msg, "fault '" + c.text + "'")) << c.text << " -> " << msg;
    EXPECT_TRUE(contains(msg, c.part)) << c.text << " -> " << msg;
  }
  // Every message shows the expected form of the kind it names.
  EXPECT_TRUE(contains(parse_error("crash:rank=1"), "(expected crash:rank=R,collective=K)"));
}

// A world of one through the fault wrapper.
struct FaultyWorld {
  std::shared_ptr<FaultPlan> plan;
  std::shared_ptr<RankFaults> faults;
  std::shared_ptr<Comm> comm;
  std::vector<int64_t> slept;

  explicit FaultyWorld(const std::vector<std::string>& texts, uint64_t seed = 1)
      : plan(std::make_shared<FaultPlan>(parse_faults(texts), seed)) {
    faults = std::make_shared<RankFaults>(plan, 0, [this](int64_t ms) { slept.push_back(ms); });
    comm = make_faulty_comm(make_local_comm(), faults);
  }
};

FaultKind injected_kind(const std::function<void()>& f) {
  try {
    f();
  } catch (const InjectedFault& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no InjectedFault";
  return FaultKind::kJitter;
}

TEST(FaultyComm, CrashAndExitFireAtTheKthCollectiveCountedOverEveryGroup) {
  FaultyWorld w({"crash:rank=0,collective=3"});
  at::Tensor t = at::ones({4});
  // In a world of one the sub-group {0} has the world's member list, so it
  // shares its sequence numbers (as on every backend).
  w.comm->barrier();                         // 1 on world
  w.comm->subgroup({0})->all_reduce_sum(t);  // 2 through a sub-group object
  try {
    w.comm->broadcast(t, 0);  // 3
    FAIL() << "the third collective must crash";
  } catch (const InjectedFault& e) {
    EXPECT_EQ(e.kind(), FaultKind::kCrash);
    EXPECT_TRUE(contains(e.what(), "crash:rank=0,collective=3")) << e.what();
    EXPECT_TRUE(contains(e.what(), "broadcast seq 3 on group world")) << e.what();
  }
  const std::vector<std::string> report = w.plan->report();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0], "crash:rank=0,collective=3 (fired at broadcast seq 3 on group world)");

  FaultyWorld x({"exit:rank=0,collective=1"});
  EXPECT_EQ(injected_kind([&] { x.comm->barrier(); }), FaultKind::kExit);
}

TEST(FaultyComm, FaultsForOtherRanksOrLaterCollectivesDoNotFire) {
  FaultyWorld w({"crash:rank=1,collective=1", "crash:rank=0,collective=9"});
  w.comm->barrier();
  EXPECT_EQ(w.plan->report()[0], "crash:rank=1,collective=1 (did not fire)");
  EXPECT_EQ(w.plan->report()[1], "crash:rank=0,collective=9 (did not fire)");
  EXPECT_TRUE(w.plan->fired().empty());
}

TEST(FaultyComm, SkipLeavesTheOutputUntouchedAndCarriesOn) {
  FaultyWorld w({"skip:rank=0,collective=1"});
  at::Tensor t = at::full({3}, 2.0);
  w.comm->all_reduce_sum(t);  // skipped
  EXPECT_TRUE(t.equal(at::full({3}, 2.0)));
  int calls = 0;
  w.comm->all_gather(t, std::vector<int64_t>{3}, [&](int64_t, const at::Tensor&) { ++calls; });
  EXPECT_EQ(calls, 1) << "the second collective runs";
  EXPECT_EQ(w.plan->fired().size(), 1u);
}

TEST(FaultyComm, DelaySleepsBeforeTheCollectiveAndJitterIsSeeded) {
  FaultyWorld w({"delay:rank=0,collective=2,ms=700"});
  w.comm->barrier();
  EXPECT_TRUE(w.slept.empty());
  w.comm->barrier();
  EXPECT_EQ(w.slept, (std::vector<int64_t>{700}));
  EXPECT_EQ(
      w.plan->report()[0],
      "delay:rank=0,collective=2,ms=700 (fired at barrier seq 2 on group world, 700 ms late)");

  auto draws = [](uint64_t seed) {
    FaultyWorld j({"jitter:p=50,max_ms=9"}, seed);
    for (int i = 0; i < 64; ++i) j.comm->barrier();
    return j.slept;
  };
  const std::vector<int64_t> a = draws(5);
  EXPECT_EQ(a, draws(5)) << "same seed, same jitter";
  EXPECT_NE(a, draws(6));
  EXPECT_GT(a.size(), 16u);
  EXPECT_LT(a.size(), 48u);
  for (int64_t ms : a) {
    EXPECT_GE(ms, 1);
    EXPECT_LE(ms, 9);
  }
}

TEST(FaultyComm, RealSleepIsTheDefaultClock) {
  auto plan = std::make_shared<FaultPlan>(parse_faults({"delay:rank=0,collective=1,ms=60"}));
  auto comm = make_faulty_comm(make_local_comm(), std::make_shared<RankFaults>(plan, 0));
  const auto start = std::chrono::steady_clock::now();
  comm->barrier();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(ms, 55.0);
}

TEST(FaultyComm, AMismatchThatReturnsFailsTheRankAndOneWithoutItsFieldDoesNotApply) {
  // In a group of one nobody can disagree: the altered call returns, and the
  // rank must not carry on with meaningless results.
  FaultyWorld w({"mismatch:rank=0,collective=1,field=dtype"});
  at::Tensor t = at::ones({2});
  EXPECT_EQ(injected_kind([&] { w.comm->all_reduce_sum(t); }), FaultKind::kMismatch);
  EXPECT_TRUE(t.equal(at::ones({2}))) << "the caller's tensor is not written";

  FaultyWorld r({"mismatch:rank=0,collective=1,field=root"});
  r.comm->all_reduce_sum(t);  // no root: runs normally
  EXPECT_TRUE(r.plan->fired().empty());
  EXPECT_EQ(r.plan->report()[0],
            "mismatch:rank=0,collective=1,field=root (not applied at all_reduce seq 1 on group "
            "world: all_reduce has no root)");
}

TEST(FaultyComm, ForwardsEverythingElse) {
  FaultyWorld w({"crash:rank=0,collective=100"});
  EXPECT_EQ(w.comm->rank(), 0);
  EXPECT_EQ(w.comm->size(), 1);
  EXPECT_EQ(w.comm->name(), "world");
  EXPECT_EQ(w.comm->backend(), make_local_comm()->backend());
  EXPECT_NE(faults_of(*w.comm), nullptr);
  EXPECT_NE(faults_of(*w.comm->subgroup({0})), nullptr);
  EXPECT_EQ(faults_of(*make_local_comm()), nullptr);
  at::Tensor flat = w.comm->all_gather_flat(at::arange(3), std::vector<int64_t>{3});
  EXPECT_TRUE(flat.equal(at::arange(3)));
}

TEST(FaultyHostMemory, TheNthAllocationOfTheKindFails) {
  auto plan = std::make_shared<FaultPlan>(parse_faults({"alloc:kind=pinned,nth=2"}));
  auto host = make_faulty_host_memory(make_host_memory(), std::make_shared<RankFaults>(plan, 0));
  host->allocate({4}, at::kFloat, HostAllocKind::kPlain);   // not pinned
  host->allocate({4}, at::kFloat, HostAllocKind::kShared);  // not pinned
  host->allocate({4}, at::kFloat, HostAllocKind::kPinned);  // pinned 1
  try {
    host->allocate({2, 3}, at::kFloat, HostAllocKind::kSharedPinned);  // pinned 2
    FAIL() << "the second pinned allocation must fail";
  } catch (const InjectedFault& e) {
    EXPECT_EQ(e.kind(), FaultKind::kAlloc);
    EXPECT_TRUE(contains(e.what(), "host allocation 2 of kind pinned (shared+pinned Float[2, 3])"))
        << e.what();
  }
  host->allocate({4}, at::kFloat, HostAllocKind::kPinned);  // pinned 3: fine
  EXPECT_EQ(host->stats().live_registrations, 0) << "every block above is already gone";
}

TEST(AllocFilter, KindsMatchAsDocumented) {
  EXPECT_TRUE(alloc_filter_matches(AllocFilter::kShared, HostAllocKind::kSharedPinned));
  EXPECT_TRUE(alloc_filter_matches(AllocFilter::kPinned, HostAllocKind::kSharedPinned));
  EXPECT_FALSE(alloc_filter_matches(AllocFilter::kPlain, HostAllocKind::kPinned));
  EXPECT_FALSE(alloc_filter_matches(AllocFilter::kShared, HostAllocKind::kPinned));
  for (HostAllocKind k : {HostAllocKind::kPlain, HostAllocKind::kShared, HostAllocKind::kPinned,
                          HostAllocKind::kSharedPinned}) {
    EXPECT_TRUE(alloc_filter_matches(AllocFilter::kAny, k));
  }
}

int64_t open_fds() {
  int64_t n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (::readdir(dir) != nullptr) ++n;
  ::closedir(dir);
  return n;
}

Value six_tensor_dict() {
  List list;
  for (int i = 0; i < 4; ++i) list.items.push_back(at::full({64, 64}, float(i)));
  return Mapping{{"a", at::ones({128, 128})}, {"list", list}, {"b", at::zeros({1000})}};
}

TEST(FaultyHostMemory, AnAllocationFaultMidCreateCpuStateDictLeavesNothingBehind) {
  // Shared+pinned: each fresh tensor holds a memfd, a mapping and a page lock;
  // the fourth of six allocations fails, and the three made before it must
  // be released when the half-built structure unwinds.
  for (bool share : {false, true}) {
    for (bool pin : {false, true}) {
      SCOPED_TRACE(std::string("share=") + (share ? "1" : "0") + " pin=" + (pin ? "1" : "0"));
      auto inner = make_host_memory();
      auto plan = std::make_shared<FaultPlan>(parse_faults({"alloc:kind=any,nth=4"}));
      auto host = make_faulty_host_memory(inner, std::make_shared<RankFaults>(plan, 0));
      const int64_t fds = open_fds();
      const int64_t locked = process_locked_bytes();
      CreateCpuOptions o;
      o.pin_memory = pin;
      o.share_memory = share;
      EXPECT_THROW(create_cpu_state_dict(six_tensor_dict(), *host, o), InjectedFault);
      const HostMemoryStats s = inner->stats();
      EXPECT_EQ(s.live_registrations, 0) << s;
      EXPECT_EQ(s.locked_bytes, 0) << s;
      EXPECT_EQ(s.live_shared_segments, 0) << s;
      EXPECT_EQ(s.double_releases, 0) << s;
      EXPECT_EQ(s.total_registered, pin ? 3 : 0) << s;
      EXPECT_EQ(s.total_shared_segments, share ? 3 : 0) << s;
      EXPECT_EQ(open_fds(), fds);
      EXPECT_EQ(process_locked_bytes(), locked);
    }
  }
}

TEST(FaultyHostMemory, CopyIntoAHalfBuiltDestinationIsImpossibleAndAMismatchWritesNothing) {
  // create_cpu_state_dict either returns a whole structure or throws, so
  // copy_state_dict never sees a half-built one; and a destination that does
  // not fit is rejected before any byte is written.
  const Value src = six_tensor_dict();
  auto host = make_host_memory();
  Value dst = create_cpu_state_dict(src, *host);
  Mapping broken = dst.mapping();
  List shorter = broken.at("list").list();
  shorter.items.pop_back();
  broken.set("list", shorter);
  EXPECT_THROW(copy_state_dict(src, Value(broken)), MismatchError);
  // "a" comes before the mismatching "list": still the poison, not src's ones.
  EXPECT_TRUE(is_poisoned(dst.mapping().at("a").tensor())) << "nothing was copied";
  EXPECT_TRUE(is_poisoned(dst.mapping().at("b").tensor()));
}

TEST(Buggify, ThePlanIsFixedBySeedAndCoversEveryKindAcrossSeeds) {
  EXPECT_EQ(buggify_plan(42, 8, 120000), buggify_plan(42, 8, 120000));
  std::set<std::string> plans;
  std::set<FaultKind> kinds;
  int64_t empty = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    const std::vector<FaultSpec> plan = buggify_plan(seed, 4, 1000);
    std::string text;
    for (const FaultSpec& f : plan) {
      text += f.str() + ";";
      kinds.insert(f.kind);
      EXPECT_EQ(parse_fault(f.str()), f);
      EXPECT_LT(f.rank, 4);
      if (f.kind == FaultKind::kDelay) {
        EXPECT_LE(f.ms, 2000);
      }
    }
    empty += plan.empty();
    plans.insert(text);
  }
  EXPECT_EQ(kinds.size(), 8u) << "every kind is drawn by some seed";
  EXPECT_GT(plans.size(), 100u);
  EXPECT_GT(empty, 10) << "some runs have no fault at all";
}

}  // namespace
}  // namespace shardsim
