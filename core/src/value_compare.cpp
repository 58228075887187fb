// Deep equality of values and the path of their first difference.
#include <cstring>
#include <sstream>

#include <ATen/ATen.h>

#include "shardsim/core/value.h"

namespace shardsim {

namespace {

// The elements `t` shows, as plain contiguous CPU memory: conjugate and
// negative views are resolved, since their memory holds other bits.
at::Tensor cpu_contiguous(const at::Tensor& t) {
  return (t.device().is_cpu() ? t : t.to(c10::kCPU)).resolve_conj().resolve_neg().contiguous();
}

std::string describe_element(const at::Tensor& flat, int64_t i) {
  std::ostringstream os;
  os << Value(flat.narrow(0, i, 1).reshape({}).clone());
  return os.str();
}

// The first difference between two tensors ("" when equal).
std::string tensor_difference(const at::Tensor& a, const at::Tensor& b) {
  std::ostringstream os;
  if (a.defined() != b.defined()) {
    os << "one tensor is undefined";
    return os.str();
  }
  if (!a.defined()) return "";
  if (a.scalar_type() != b.scalar_type()) {
    os << "dtype " << c10::toString(a.scalar_type()) << " vs " << c10::toString(b.scalar_type());
    return os.str();
  }
  if (a.sizes() != b.sizes()) {
    os << "shape " << shape_str(a.sizes().vec()) << " vs " << shape_str(b.sizes().vec());
    return os.str();
  }
  const bool a_meta = a.device().type() == c10::kMeta;
  const bool b_meta = b.device().type() == c10::kMeta;
  if (a_meta || b_meta) {
    if (a_meta != b_meta) os << "device " << a.device() << " vs " << b.device();
    return os.str();
  }
  if (a.numel() == 0) return "";
  const at::Tensor ca = cpu_contiguous(a);
  const at::Tensor cb = cpu_contiguous(b);
  const size_t esize = ca.element_size();
  const auto* pa = static_cast<const unsigned char*>(ca.data_ptr());
  const auto* pb = static_cast<const unsigned char*>(cb.data_ptr());
  if (std::memcmp(pa, pb, esize * ca.numel()) == 0) return "";
  for (int64_t i = 0; i < ca.numel(); ++i) {
    if (std::memcmp(pa + i * esize, pb + i * esize, esize) != 0) {
      const at::Tensor fa = ca.reshape({-1});
      const at::Tensor fb = cb.reshape({-1});
      os << "element " << i << " (flat) " << describe_element(fa, i) << " vs "
         << describe_element(fb, i);
      break;
    }
  }
  return os.str();
}

c10::optional<std::string> diff(const Value& a, const Value& b, const std::string& path);

c10::optional<std::string> at_path(const std::string& path, const std::string& what) {
  return (path.empty() ? std::string("<root>") : path) + ": " + what;
}

template <typename T>
std::string both(const T& a, const T& b) {
  std::ostringstream os;
  os << a << " vs " << b;
  return os.str();
}

c10::optional<std::string> diff_items(const std::vector<Value>& a, const std::vector<Value>& b,
                                      const std::string& path, const char* kind) {
  if (a.size() != b.size()) {
    return at_path(path, std::string(kind) + " length " + std::to_string(a.size()) + " vs " +
                             std::to_string(b.size()));
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (auto d = diff(a[i], b[i], join_path(path, std::to_string(i)))) return d;
  }
  return c10::nullopt;
}

c10::optional<std::string> diff(const Value& a, const Value& b, const std::string& path) {
  if (a.kind() != b.kind()) return at_path(path, "kind " + a.type_name() + " vs " + b.type_name());
  switch (a.kind()) {
    case Value::Kind::kNone: return c10::nullopt;
    case Value::Kind::kBool:
      if (a.as<bool>() != b.as<bool>()) return at_path(path, both(a, b));
      return c10::nullopt;
    case Value::Kind::kInt:
      if (a.as<int64_t>() != b.as<int64_t>()) return at_path(path, both(a, b));
      return c10::nullopt;
    case Value::Kind::kDouble: {
      const double x = a.as<double>(), y = b.as<double>();
      if (std::memcmp(&x, &y, sizeof x) != 0) return at_path(path, both(a, b));
      return c10::nullopt;
    }
    case Value::Kind::kString:
      if (a.as<std::string>() != b.as<std::string>()) return at_path(path, both(a, b));
      return c10::nullopt;
    case Value::Kind::kBytes:
      if (!(a.as<Bytes>() == b.as<Bytes>())) return at_path(path, both(a, b));
      return c10::nullopt;
    case Value::Kind::kStream:
      if (!(a.as<ByteStream>() == b.as<ByteStream>())) return at_path(path, both(a, b));
      return c10::nullopt;
    case Value::Kind::kOpaque:
      if (!(a.as<Opaque>() == b.as<Opaque>())) return at_path(path, both(a, b));
      return c10::nullopt;
    case Value::Kind::kTensor: {
      std::string d = tensor_difference(a.tensor(), b.tensor());
      if (!d.empty()) return at_path(path, d);
      return c10::nullopt;
    }
    case Value::Kind::kDTensor: {
      const DTensor& x = a.dtensor();
      const DTensor& y = b.dtensor();
      if (x.spec() != y.spec()) return at_path(path, "spec " + x.spec().str() + " vs " + y.spec().str());
      std::string d = tensor_difference(x.local(), y.local());
      if (!d.empty()) return at_path(path, "local tensor " + d);
      return c10::nullopt;
    }
    case Value::Kind::kShardedTensor: {
      const ShardedTensor& x = a.sharded_tensor();
      const ShardedTensor& y = b.sharded_tensor();
      if (x.size() != y.size()) return at_path(path, "global size " + both(shape_str(x.size()), shape_str(y.size())));
      if (x.dtype() != y.dtype()) {
        return at_path(path, std::string("dtype ") + c10::toString(x.dtype()) + " vs " +
                                 c10::toString(y.dtype()));
      }
      const std::vector<ShardMetadata>& mx = x.shards_metadata();
      const std::vector<ShardMetadata>& my = y.shards_metadata();
      if (mx.size() != my.size()) {
        return at_path(path, "shard count " + std::to_string(mx.size()) + " vs " +
                                 std::to_string(my.size()));
      }
      for (size_t i = 0; i < mx.size(); ++i) {
        if (mx[i] != my[i]) {
          return at_path(path, "shard " + std::to_string(i) + " " + both(mx[i], my[i]));
        }
      }
      if (x.local_shards().size() != y.local_shards().size()) {
        return at_path(path, "local shard count " + std::to_string(x.local_shards().size()) + " vs " +
                                 std::to_string(y.local_shards().size()));
      }
      for (size_t i = 0; i < x.local_shards().size(); ++i) {
        const LocalShard& sx = x.local_shards()[i];
        const LocalShard& sy = y.local_shards()[i];
        if (sx.metadata != sy.metadata) {
          return at_path(path, "local shard " + std::to_string(i) + " metadata " + both(sx.metadata, sy.metadata));
        }
        std::string d = tensor_difference(sx.tensor, sy.tensor);
        if (!d.empty()) return at_path(path, "local shard " + std::to_string(i) + " " + d);
      }
      return c10::nullopt;
    }
    case Value::Kind::kList: return diff_items(a.list().items, b.list().items, path, "list");
    case Value::Kind::kTuple: return diff_items(a.tuple().items, b.tuple().items, path, "tuple");
    case Value::Kind::kMapping: {
      const Mapping& x = a.mapping();
      const Mapping& y = b.mapping();
      for (size_t i = 0; i < x.size(); ++i) {
        if (!y.contains(x.key(i))) return at_path(path, "key '" + x.key(i) + "' missing on the right");
      }
      for (size_t i = 0; i < y.size(); ++i) {
        if (!x.contains(y.key(i))) return at_path(path, "key '" + y.key(i) + "' missing on the left");
      }
      for (size_t i = 0; i < x.size(); ++i) {
        if (x.key(i) != y.key(i)) {
          return at_path(path, "key order differs at entry " + std::to_string(i) + ": '" + x.key(i) +
                                   "' vs '" + y.key(i) + "'");
        }
        if (auto d = diff(x.value(i), y.value(i), join_path(path, x.key(i)))) return d;
      }
      return c10::nullopt;
    }
  }
  return c10::nullopt;
}

}  // namespace

bool tensors_bitwise_equal(const at::Tensor& a, const at::Tensor& b) {
  return tensor_difference(a, b).empty();
}

c10::optional<std::string> first_difference(const Value& a, const Value& b, const std::string& root) {
  return diff(a, b, root);
}

bool operator==(const Value& a, const Value& b) { return !first_difference(a, b).has_value(); }

}  // namespace shardsim
