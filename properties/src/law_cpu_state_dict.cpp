// Law 4: create_cpu_state_dict + copy_state_dict equals the source, in
// distinct storage, on CPU, with the source untouched; similarity holds
// before and fails after any single change of a key, a length, a shape or a
// dtype; the similarity check never writes.
#include <ATen/ATen.h>

#include "laws.h"
#include "shardsim/core/host_memory.h"
#include "shardsim/core/state_dict_utils.h"

namespace shardsim::properties::detail {

namespace {

struct Change {
  std::string what;  // "<path>: <change>"
  Value tree;        // the whole tree with that one change
};

c10::ScalarType other_dtype(c10::ScalarType t) { return t == at::kFloat ? at::kLong : at::kFloat; }

Shape grown(const at::Tensor& t) {
  Shape s = t.sizes().vec();
  if (s.empty()) return {1};
  s[0] += 1;
  return s;
}

// Every single change of `v` (a key dropped, renamed or added; a list or
// tuple shortened or lengthened; a tensor's shape or dtype changed), each
// applied to a copy of `root` through `rebuild`.
void changes(const Value& v, const std::string& path, const std::function<Value(Value)>& rebuild,
             std::vector<Change>& out) {
  const auto add = [&](const std::string& what, Value changed) {
    out.push_back({(path.empty() ? "<root>" : path) + ": " + what, rebuild(std::move(changed))});
  };
  switch (v.kind()) {
    case Value::Kind::kTensor: {
      const at::Tensor& t = v.tensor();
      add("shape " + shape_str(t.sizes().vec()) + " -> " + shape_str(grown(t)),
          at::zeros(grown(t), t.options().device(c10::kCPU)));
      add("dtype changed",
          at::zeros(t.sizes(), t.options().device(c10::kCPU).dtype(other_dtype(t.scalar_type()))));
      break;
    }
    case Value::Kind::kDTensor: {
      const DTensor& d = v.dtensor();
      const at::Tensor& l = d.local();
      add("local shape -> " + shape_str(grown(l)),
          DTensor(at::zeros(grown(l), l.options().device(c10::kCPU)), d.spec()));
      add("dtype changed", DTensor(at::zeros(l.sizes(), l.options().device(c10::kCPU).dtype(
                                                            other_dtype(l.scalar_type()))),
                                   d.spec()));
      DTensorSpec spec = d.spec();
      spec.shape.push_back(1);
      spec.stride.push_back(1);
      add("global shape -> " + shape_str(spec.shape), DTensor(l, spec));
      break;
    }
    case Value::Kind::kShardedTensor: {
      const ShardedTensor& st = v.sharded_tensor();
      const c10::ScalarType t = other_dtype(st.dtype());
      std::vector<LocalShard> shards;
      for (const LocalShard& s : st.local_shards()) {
        shards.push_back({at::zeros(s.tensor.sizes(), s.tensor.options().dtype(t)), s.metadata});
      }
      add("dtype changed", ShardedTensor(st.size(), std::move(shards), st.shards_metadata(), t));
      break;
    }
    case Value::Kind::kMapping: {
      const Mapping& m = v.mapping();
      for (size_t i = 0; i < m.size(); ++i) {
        Mapping dropped = m;
        dropped.erase(m.key(i));
        add("key '" + m.key(i) + "' dropped", dropped);
        Mapping renamed;
        for (size_t j = 0; j < m.size(); ++j)
          renamed.set(j == i ? m.key(j) + "~" : m.key(j), m.value(j));
        add("key '" + m.key(i) + "' renamed", renamed);
      }
      Mapping extra = m;
      extra.set("~extra", None{});
      add("key '~extra' added", extra);
      for (size_t i = 0; i < m.size(); ++i) {
        const std::string key = m.key(i);
        changes(
            m.value(i), join_path(path, key),
            [&](Value child) {
              Mapping copy = m;
              copy.set(key, std::move(child));
              return rebuild(copy);
            },
            out);
      }
      break;
    }
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const bool list = v.is_list();
      const std::vector<Value>& items = list ? v.list().items : v.tuple().items;
      const auto wrap = [list](std::vector<Value> xs) -> Value {
        return list ? Value(List{std::move(xs)}) : Value(Tuple{std::move(xs)});
      };
      if (!items.empty()) {
        add("length " + std::to_string(items.size()) + " -> " + std::to_string(items.size() - 1),
            wrap(std::vector<Value>(items.begin(), items.end() - 1)));
      }
      std::vector<Value> longer = items;
      longer.push_back(None{});
      add("length " + std::to_string(items.size()) + " -> " + std::to_string(items.size() + 1),
          wrap(longer));
      for (size_t i = 0; i < items.size(); ++i) {
        changes(
            items[i], join_path(path, std::to_string(i)),
            [&, i](Value child) {
              std::vector<Value> copy = items;
              copy[i] = std::move(child);
              return rebuild(wrap(copy));
            },
            out);
      }
      break;
    }
    default:
      break;
  }
}

}  // namespace

void law_cpu_state_dict(LawContext& law) {
  const CaseFile& c = law.c;
  auto& ctx = law.ctx;
  const c10::Device cpu(c10::kCPU);
  const Value sd = build_rank_value(c.state_dict, law.build());
  const Value source_before = clone_to_cpu(sd);
  CreateCpuOptions options;
  options.pin_memory = c.operation.pin_memory;
  options.share_memory = c.operation.share_memory;
  const Value fresh = create_cpu_state_dict(sd, ctx.host_memory(), options);

  // Similarity holds both ways; fresh memory is on CPU, poisoned, pinned and
  // shared as asked.
  const auto similar = [&](const Value& a, const Value& b, const std::string& what) {
    if (auto d = state_dict_similarity_difference(a, b))
      ctx.check(false, law.at("") + ": " + what + ": " + *d);
  };
  similar(sd, fresh, "the source is not similar to its CPU state dict");
  similar(fresh, sd, "the CPU state dict is not similar to its source");
  for_each_tensor(fresh, [&](const std::string& path, const at::Tensor& t) {
    ctx.check_device(t, cpu, law.at(path) + " (created)");
    if (t.dim() > 0 && t.numel() > 0) {
      ctx.check(is_poisoned(t), law.at(path) + ": fresh memory is not the poison pattern");
      ctx.check(is_page_locked(t) == options.pin_memory,
                law.at(path) + ": page-locked is " + (is_page_locked(t) ? "true" : "false") +
                    " with pin_memory=" + (options.pin_memory ? "true" : "false"));
    }
    if (t.dim() > 0) {
      ctx.check(is_shared(t) == options.share_memory,
                law.at(path) + ": shared is " + (is_shared(t) ? "true" : "false") +
                    " with share_memory=" + (options.share_memory ? "true" : "false"));
    }
  });

  // Any single change breaks similarity; checking never writes.
  const Value fresh_before = clone_to_cpu(fresh);
  std::vector<Change> all;
  changes(
      fresh, "", [](Value v) { return v; }, all);
  for (const Change& change : all) {
    ctx.check(!check_state_dict_similarity(sd, change.tree),
              law.at("") + ": still similar after one change: " + change.what);
  }
  ctx.check_equal(clone_to_cpu(fresh), fresh_before,
                  law.at("") + " CPU state dict after the similarity checks");
  ctx.check_equal(clone_to_cpu(sd), source_before,
                  law.at("") + " source after the similarity checks");

  // The copy: source values, on CPU, in the CPU state dict's own storage.
  const Value copied = copy_state_dict(sd, fresh, c.operation.non_blocking);
  ctx.check_equal(copied, source_before, law.at("") + " after copy_state_dict");
  ctx.check_equal(clone_to_cpu(sd), source_before, law.at("") + " source after copy_state_dict");
  std::vector<at::Tensor> source_tensors, fresh_tensors;
  for_each_tensor(sd,
                  [&](const std::string&, const at::Tensor& t) { source_tensors.push_back(t); });
  for_each_tensor(fresh,
                  [&](const std::string&, const at::Tensor& t) { fresh_tensors.push_back(t); });
  size_t i = 0;
  for_each_tensor(copied, [&](const std::string& path, const at::Tensor& t) {
    ctx.check(i < fresh_tensors.size(),
              law.at(path) + ": more tensors after the copy than created");
    ctx.check_device(t, cpu, law.at(path) + " (copied)");
    ctx.check(t.is_same(fresh_tensors[i]),
              law.at(path) + ": the copy must return the CPU state dict's own tensor");
    if (source_tensors[i].numel() > 0) {
      ctx.check(!runner::ScenarioContext::same_storage(t, source_tensors[i]),
                law.at(path) + ": the copy shares storage with the source");
    }
    ++i;
  });
  ctx.record("cpu_state_dict", copied);
}

}  // namespace shardsim::properties::detail
