// The fault-injecting Comm: every collective first asks the rank's
// RankFaults what to do, then runs, is skipped, or runs altered.
//
// An altered (mismatching) collective is called on the real backend with the
// altered field so that the backend's own checks see it: the fiber world
// stops with a collective mismatch before the call returns. Should the call
// return (a group of one, or a backend that does not check), the rank fails
// with an InjectedFault: its results would be meaningless.
#include <ATen/ATen.h>

#include "shardsim/core/faults.h"

namespace shardsim {

namespace {

using Action = RankFaults::Action;

c10::ScalarType other_dtype(c10::ScalarType t) {
  return t == at::kDouble ? at::kFloat : at::kDouble;
}

// `t` flattened with one more (zero) element.
at::Tensor one_more(const at::Tensor& t) {
  at::NoGradGuard no_grad;
  return at::cat({t.detach().reshape({-1}), at::zeros({1}, t.options())});
}

std::vector<int64_t> one_more_for(const Counts& counts, int64_t rank) {
  std::vector<int64_t> c = counts.to_vector();
  c[static_cast<size_t>(rank)] += 1;
  return c;
}

class FaultyComm : public Comm {
 public:
  FaultyComm(Comm& inner, std::shared_ptr<Comm> keep, std::shared_ptr<RankFaults> faults)
      : inner_(inner),
        keep_(std::move(keep)),
        faults_(std::move(faults)),
        slot_(faults_->group_slot(inner_.members())) {}

  RankFaults& faults() { return *faults_; }

  int64_t rank() const override { return inner_.rank(); }
  int64_t size() const override { return inner_.size(); }
  const std::vector<int64_t>& members() const override { return inner_.members(); }
  const std::string& name() const override { return inner_.name(); }
  c10::Device device() const override { return inner_.device(); }
  std::string backend() const override { return inner_.backend(); }

  void all_gather(const at::Tensor& input, const Counts& counts, const PieceSink& sink) override {
    const Action a = before(CollectiveKind::kAllGather);
    if (a.kind == Action::Kind::kSkip) return;
    if (a.kind == Action::Kind::kRun) return inner_.all_gather(input, counts, sink);
    const PieceSink discard = [](int64_t, const at::Tensor&) {};
    switch (a.spec->field) {
      case MismatchField::kShape:
        inner_.all_gather(one_more(input), one_more_for(counts, rank()), discard);
        break;
      case MismatchField::kDtype:
        inner_.all_gather(input.to(other_dtype(input.scalar_type())), counts, discard);
        break;
      default:
        inner_.barrier();
    }
    returned(a);
  }

  at::Tensor all_gather_flat(const at::Tensor& input, const Counts& counts) override {
    const Action a = before(CollectiveKind::kAllGather);
    if (a.kind == Action::Kind::kSkip) return at::zeros({counts.total()}, input.options());
    if (a.kind == Action::Kind::kRun) return inner_.all_gather_flat(input, counts);
    switch (a.spec->field) {
      case MismatchField::kShape:
        inner_.all_gather_flat(one_more(input), one_more_for(counts, rank()));
        break;
      case MismatchField::kDtype:
        inner_.all_gather_flat(input.to(other_dtype(input.scalar_type())), counts);
        break;
      default:
        inner_.barrier();
    }
    returned(a);
  }

  void broadcast(at::Tensor& tensor, int64_t root) override {
    const Action a = before(CollectiveKind::kBroadcast);
    if (a.kind == Action::Kind::kSkip) return;
    if (a.kind == Action::Kind::kRun) return inner_.broadcast(tensor, root);
    switch (a.spec->field) {
      case MismatchField::kShape: {
        at::Tensor t = one_more(tensor);
        inner_.broadcast(t, root);
        break;
      }
      case MismatchField::kDtype: {
        at::Tensor t = tensor.to(other_dtype(tensor.scalar_type()));
        inner_.broadcast(t, root);
        break;
      }
      case MismatchField::kRoot: {
        at::Tensor t = tensor.clone();
        inner_.broadcast(t, (root + 1) % size());
        break;
      }
      default:
        inner_.barrier();
    }
    returned(a);
  }

  void broadcast_bytes(std::string& bytes, int64_t root) override {
    const Action a = before(CollectiveKind::kBroadcastBytes);
    if (a.kind == Action::Kind::kSkip) return;
    if (a.kind == Action::Kind::kRun) return inner_.broadcast_bytes(bytes, root);
    if (a.spec->field == MismatchField::kRoot) {
      std::string b = bytes;
      inner_.broadcast_bytes(b, (root + 1) % size());
    } else {
      inner_.barrier();
    }
    returned(a);
  }

  void scatter(at::Tensor& output, const std::vector<at::Tensor>& inputs, const Counts& counts,
               int64_t root) override {
    const Action a = before(CollectiveKind::kScatter);
    if (a.kind == Action::Kind::kSkip) return;
    if (a.kind == Action::Kind::kRun) return inner_.scatter(output, inputs, counts, root);
    switch (a.spec->field) {
      case MismatchField::kShape: {
        at::Tensor out = one_more(output);
        std::vector<at::Tensor> in = inputs;
        if (rank() == root) in[rank()] = one_more(inputs[rank()]);
        inner_.scatter(out, in, one_more_for(counts, rank()), root);
        break;
      }
      case MismatchField::kDtype: {
        const c10::ScalarType dt = other_dtype(output.scalar_type());
        at::Tensor out = output.to(dt);
        std::vector<at::Tensor> in;
        for (const at::Tensor& t : inputs) in.push_back(t.to(dt));
        inner_.scatter(out, in, counts, root);
        break;
      }
      case MismatchField::kRoot: {
        // This rank claims the next root: it brings inputs of the agreed counts.
        const int64_t claimed = (root + 1) % size();
        at::Tensor out = output.clone();
        std::vector<at::Tensor> in;
        if (claimed == rank()) {
          for (int64_t i = 0; i < size(); ++i)
            in.push_back(at::zeros({counts[i]}, output.options()));
        }
        inner_.scatter(out, in, counts, claimed);
        break;
      }
      default:
        inner_.barrier();
    }
    returned(a);
  }

  void all_reduce_sum(at::Tensor& tensor) override {
    const Action a = before(CollectiveKind::kAllReduce);
    if (a.kind == Action::Kind::kSkip) return;
    if (a.kind == Action::Kind::kRun) return inner_.all_reduce_sum(tensor);
    switch (a.spec->field) {
      case MismatchField::kShape: {
        at::Tensor t = one_more(tensor);
        inner_.all_reduce_sum(t);
        break;
      }
      case MismatchField::kDtype: {
        at::Tensor t = tensor.to(other_dtype(tensor.scalar_type()));
        inner_.all_reduce_sum(t);
        break;
      }
      default:
        inner_.barrier();
    }
    returned(a);
  }

  void barrier() override {
    const Action a = before(CollectiveKind::kBarrier);
    if (a.kind == Action::Kind::kSkip) return;
    if (a.kind == Action::Kind::kRun) return inner_.barrier();
    std::string empty;
    inner_.broadcast_bytes(empty, 0);  // only the kind can differ
    returned(a);
  }

 protected:
  std::shared_ptr<Comm> create_subgroup(const std::vector<int64_t>& members) override {
    std::shared_ptr<Comm> sub = inner_.subgroup(members);
    Comm& ref = *sub;
    return std::make_shared<FaultyComm>(ref, std::move(sub), faults_);
  }

 private:
  // Crash and exit are thrown here; the rest is the caller's to carry out.
  Action before(CollectiveKind kind) {
    Action a = faults_->before_collective(kind, slot_, inner_.name());
    if (a.kind == Action::Kind::kCrash || a.kind == Action::Kind::kExit) faults_->raise(a, "");
    return a;
  }

  [[noreturn]] void returned(const Action& a) {
    faults_->raise(a,
                   "the altered collective returned, so no member checked it; the rank's "
                   "results would be meaningless");
  }

  Comm& inner_;
  std::shared_ptr<Comm> keep_;  // owns inner_ for sub-groups (and shared_ptr worlds)
  std::shared_ptr<RankFaults> faults_;
  size_t slot_;
};

class FaultyHostMemory : public HostMemory {
 public:
  FaultyHostMemory(std::shared_ptr<HostMemory> inner, std::shared_ptr<RankFaults> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}

  at::Tensor allocate(c10::IntArrayRef shape, c10::ScalarType dtype, HostAllocKind kind) override {
    faults_->before_alloc(kind, shape, dtype);
    return inner_->allocate(shape, dtype, kind);
  }
  HostMemoryStats stats() const override { return inner_->stats(); }

 private:
  std::shared_ptr<HostMemory> inner_;
  std::shared_ptr<RankFaults> faults_;
};

}  // namespace

std::shared_ptr<Comm> make_faulty_comm(Comm& inner, std::shared_ptr<RankFaults> faults) {
  SHARDSIM_CHECK_ARG(faults != nullptr, "make_faulty_comm: no RankFaults");
  return std::make_shared<FaultyComm>(inner, nullptr, std::move(faults));
}

std::shared_ptr<Comm> make_faulty_comm(std::shared_ptr<Comm> inner,
                                       std::shared_ptr<RankFaults> faults) {
  SHARDSIM_CHECK_ARG(inner != nullptr && faults != nullptr, "make_faulty_comm: null argument");
  Comm& ref = *inner;
  return std::make_shared<FaultyComm>(ref, std::move(inner), std::move(faults));
}

RankFaults* faults_of(Comm& comm) {
  auto* faulty = dynamic_cast<FaultyComm*>(&comm);
  return faulty != nullptr ? &faulty->faults() : nullptr;
}

std::shared_ptr<HostMemory> make_faulty_host_memory(std::shared_ptr<HostMemory> inner,
                                                    std::shared_ptr<RankFaults> faults) {
  SHARDSIM_CHECK_ARG(inner != nullptr && faults != nullptr,
                     "make_faulty_host_memory: null argument");
  return std::make_shared<FaultyHostMemory>(std::move(inner), std::move(faults));
}

at::Tensor diverge_point(Comm& comm, const std::string& key, const at::Tensor& full) {
  RankFaults* faults = faults_of(comm);
  return faults != nullptr ? faults->diverge(key, full) : full;
}

}  // namespace shardsim
