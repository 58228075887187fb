#include "shardsim/core/digest.h"

#include <cstring>

#include <ATen/ATen.h>

#include "shardsim/core/value.h"

namespace shardsim {

namespace {
constexpr uint64_t kMul = 0x9fb21c651e98df25ULL;
inline uint64_t mix(uint64_t h, uint64_t w) {
  h ^= w + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h *= kMul;
  return h ^ (h >> 29);
}

// A length-prefixed list of integers, so that neighbouring lists cannot
// trade elements and still digest alike.
void update_ints(Digest& d, const std::vector<int64_t>& values) {
  d.update_u64(values.size());
  for (int64_t x : values) d.update_i64(x);
}

}  // namespace

void Digest::update(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  uint64_t h = h_;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = mix(h, w);
  }
  if (i < size) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, size - i);
    h = mix(h, w ^ (uint64_t{size - i} << 56));
  }
  h_ = h;
  n_ += size;
}

void Digest::update(const std::string& s) {
  update_u64(s.size());
  update(s.data(), s.size());
}

void Digest::update_u64(uint64_t v) {
  h_ = mix(h_, v);
  n_ += 8;
}

void Digest::update_tensor(const at::Tensor& t) {
  if (!t.defined()) {
    update(std::string("undefined"));
    return;
  }
  update(std::string(c10::toString(t.scalar_type())));
  update_u64(static_cast<uint64_t>(t.dim()));
  for (int64_t s : t.sizes()) update_i64(s);
  // A tensor without storage (meta) digests as dtype and shape alone.
  if (t.numel() == 0 || t.device().type() == c10::kMeta) return;
  // The elements the tensor shows: conjugate and negative views are resolved,
  // as value equality does, so equal values digest alike.
  const at::Tensor on_cpu = t.device().is_cpu() ? t : t.to(c10::kCPU);
  const at::Tensor c = on_cpu.resolve_conj().resolve_neg().contiguous();
  update(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
}

void Digest::update_value(const Value& v) {
  update_u64(static_cast<uint64_t>(v.kind()));
  switch (v.kind()) {
    case Value::Kind::kNone: break;
    case Value::Kind::kBool: update_u64(v.as<bool>() ? 1 : 0); break;
    case Value::Kind::kInt: update_i64(v.as<int64_t>()); break;
    case Value::Kind::kDouble: {
      uint64_t bits;
      const double d = v.as<double>();
      std::memcpy(&bits, &d, 8);
      update_u64(bits);
      break;
    }
    case Value::Kind::kString: update(v.as<std::string>()); break;
    case Value::Kind::kBytes: update(v.as<Bytes>().data); break;
    case Value::Kind::kStream:
      update(v.as<ByteStream>().data);
      update_i64(v.as<ByteStream>().position);
      break;
    case Value::Kind::kTensor: update_tensor(v.tensor()); break;
    case Value::Kind::kDTensor: {
      // The mesh's device type is left out: it differs between backends.
      const DTensor& d = v.dtensor();
      update_ints(*this, d.mesh().shape());
      update_ints(*this, d.mesh().ranks());
      update_u64(d.placements().size());
      for (const Placement& p : d.placements()) update(p.word());
      update_ints(*this, d.shape());
      update_ints(*this, d.stride());
      update_tensor(d.local());
      break;
    }
    case Value::Kind::kShardedTensor: {
      // Shard placements enter by rank only: their device differs between backends.
      const ShardedTensor& s = v.sharded_tensor();
      update_ints(*this, s.size());
      update(std::string(c10::toString(s.dtype())));
      update_u64(s.shards_metadata().size());
      for (const ShardMetadata& m : s.shards_metadata()) {
        update_ints(*this, m.offsets);
        update_ints(*this, m.sizes);
        update_i64(m.rank());
      }
      update_u64(s.local_shards().size());
      for (const LocalShard& sh : s.local_shards()) update_tensor(sh.tensor);
      break;
    }
    case Value::Kind::kList:
      update_u64(v.list().items.size());
      for (const Value& x : v.list().items) update_value(x);
      break;
    case Value::Kind::kTuple:
      update_u64(v.tuple().items.size());
      for (const Value& x : v.tuple().items) update_value(x);
      break;
    case Value::Kind::kMapping: {
      const Mapping& m = v.mapping();
      update_u64(m.size());
      for (size_t i = 0; i < m.size(); ++i) {
        update(m.key(i));
        update_value(m.value(i));
      }
      break;
    }
    case Value::Kind::kOpaque:
      update(v.as<Opaque>().type_name);
      update(v.as<Opaque>().repr);
      break;
  }
}

uint64_t Digest::value() const { return mix(h_, n_); }

std::string Digest::hex() const { return hex64(value()); }

std::string hex64(uint64_t v) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i) {
    s[i] = kDigits[v & 0xf];
    v >>= 4;
  }
  return s;
}

}  // namespace shardsim
