#include "c10d_backend_faults.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "shardsim/core/error.h"

namespace shardsim::runner::real {

namespace {

int64_t parse_number(const std::string& text, const std::string& field, const std::string& value,
                     int64_t lo) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SHARDSIM_CHECK_ARG(used == value.size() && !value.empty() && v >= lo, kTestKillVariable, "='",
                     text, "': ", field, "=", value, " is not an integer >= ", lo);
  return v;
}

// Kills this process just before its k-th collective (counted over every
// group of the rank).
class KillingComm : public Comm {
 public:
  KillingComm(std::shared_ptr<Comm> inner, std::shared_ptr<int64_t> count, int64_t at)
      : inner_(std::move(inner)), count_(std::move(count)), at_(at) {}

  int64_t rank() const override { return inner_->rank(); }
  int64_t size() const override { return inner_->size(); }
  const std::vector<int64_t>& members() const override { return inner_->members(); }
  const std::string& name() const override { return inner_->name(); }
  c10::Device device() const override { return inner_->device(); }
  std::string backend() const override { return inner_->backend(); }

  void all_gather(const at::Tensor& input, const Counts& counts, const PieceSink& sink) override {
    tick();
    inner_->all_gather(input, counts, sink);
  }
  at::Tensor all_gather_flat(const at::Tensor& input, const Counts& counts) override {
    tick();
    return inner_->all_gather_flat(input, counts);
  }
  void broadcast(at::Tensor& tensor, int64_t root) override {
    tick();
    inner_->broadcast(tensor, root);
  }
  void broadcast_bytes(std::string& bytes, int64_t root) override {
    tick();
    inner_->broadcast_bytes(bytes, root);
  }
  void scatter(at::Tensor& output, const std::vector<at::Tensor>& inputs, const Counts& counts,
               int64_t root) override {
    tick();
    inner_->scatter(output, inputs, counts, root);
  }
  void all_reduce_sum(at::Tensor& tensor) override {
    tick();
    inner_->all_reduce_sum(tensor);
  }
  void barrier() override {
    tick();
    inner_->barrier();
  }

 protected:
  std::shared_ptr<Comm> create_subgroup(const std::vector<int64_t>& members) override {
    return std::make_shared<KillingComm>(inner_->subgroup(members), count_, at_);
  }

 private:
  void tick() {
    if (++*count_ != at_) return;
    std::cout.flush();
    std::cerr.flush();
    ::kill(::getpid(), SIGKILL);
  }

  std::shared_ptr<Comm> inner_;
  std::shared_ptr<int64_t> count_;
  int64_t at_;
};

}  // namespace

TestKill parse_test_kill(const std::string& text) {
  TestKill kill;
  bool have_rank = false;
  std::string rest = text;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    SHARDSIM_CHECK_ARG(eq != std::string::npos, kTestKillVariable, "='", text, "': '", item,
                       "' is not field=value (expected rank=R[,collective=K][,spec=I])");
    const std::string field = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    if (field == "rank") {
      kill.rank = parse_number(text, field, value, 0);
      have_rank = true;
    } else if (field == "collective") {
      kill.collective = parse_number(text, field, value, 1);
    } else if (field == "spec") {
      kill.spec = static_cast<size_t>(parse_number(text, field, value, 0));
    } else {
      throw InvalidArgument(std::string(kTestKillVariable) + "='" + text + "': unknown field '" +
                            field + "' (expected rank=R[,collective=K][,spec=I])");
    }
  }
  SHARDSIM_CHECK_ARG(have_rank, kTestKillVariable, "='", text, "' names no rank");
  return kill;
}

std::optional<TestKill> test_kill_from_env() {
  const char* text = std::getenv(kTestKillVariable);
  if (text == nullptr || *text == '\0') return std::nullopt;
  return parse_test_kill(text);
}

FaultyRank apply_faults(const std::shared_ptr<Comm>& world, const std::shared_ptr<HostMemory>& host,
                        const RunSpec& spec, size_t spec_index, int64_t rank) {
  FaultyRank out{world, host, nullptr};
  // run_spec has added buggify's faults to the spec already.
  out.plan = std::make_shared<FaultPlan>(spec.faults, spec.seed);
  if (!out.plan->empty()) {
    auto mine = std::make_shared<RankFaults>(out.plan, rank, real_sleep_ms);
    out.comm = make_faulty_comm(out.comm, mine);
    out.host = make_faulty_host_memory(out.host, mine);
  }
  const std::optional<TestKill> kill = test_kill_from_env();
  if (kill && kill->rank == rank && (!kill->spec || *kill->spec == spec_index)) {
    out.comm =
        std::make_shared<KillingComm>(out.comm, std::make_shared<int64_t>(0), kill->collective);
  }
  return out;
}

}  // namespace shardsim::runner::real
