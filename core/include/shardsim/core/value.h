// The values a state dict holds (reference-semantics §1): None, bool, int64,
// double, string, bytes, a byte stream, a tensor, a DTensor, a ShardedTensor,
// a list, a tuple, a mapping with insertion order, or an opaque value.
//
// Containers have value semantics (copying a Value copies the tree); tensors
// inside are at::Tensor handles, so a copied tree shares tensor storage, as a
// Python dict copy would.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include "shardsim/core/dtensor.h"
#include "shardsim/core/sharded_tensor.h"

namespace shardsim {

class Value;

struct None {
  friend bool operator==(None, None) { return true; }
};

// Raw bytes (Python `bytes`), distinct from a string.
struct Bytes {
  std::string data;
  friend bool operator==(const Bytes& a, const Bytes& b) { return a.data == b.data; }
};

// Bytes plus a read position (Python `io.BytesIO`).
struct ByteStream {
  std::string data;
  int64_t position = 0;
  friend bool operator==(const ByteStream& a, const ByteStream& b) {
    return a.data == b.data && a.position == b.position;
  }
};

// A value of a type shardsim does not model. Allowed by the traversal only
// with type checking off, and then deep-copied.
struct Opaque {
  std::string type_name;
  std::string repr;
  friend bool operator==(const Opaque& a, const Opaque& b) {
    return a.type_name == b.type_name && a.repr == b.repr;
  }
};

struct List {
  std::vector<Value> items;
};

struct Tuple {
  std::vector<Value> items;
};

// A mapping from string keys to values that keeps insertion order.
class Mapping {
 public:
  Mapping() = default;
  Mapping(std::initializer_list<std::pair<std::string, Value>> entries);

  size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  bool contains(const std::string& key) const { return position(key) >= 0; }
  // Entry `i` in insertion order.
  const std::string& key(size_t i) const { return keys_[i]; }
  const Value& value(size_t i) const;
  Value& value(size_t i);
  const std::vector<std::string>& keys() const { return keys_; }

  // nullptr when absent.
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  // Throws shardsim::Error naming the key when absent.
  const Value& at(const std::string& key) const;
  Value& at(const std::string& key);
  // Replaces the value of an existing key in place, or appends a new entry.
  void set(const std::string& key, Value value);
  // Removes `key`; returns whether it was present.
  bool erase(const std::string& key);

 private:
  // Position of `key` in insertion order, or -1.
  int64_t position(const std::string& key) const;
  void rebuild_index();

  // Small mappings (most of a state dict's nesting levels) are searched
  // linearly and carry no index: each entry then costs only its key and
  // value, which matters when thousands of simulated ranks each hold one.
  static constexpr size_t kIndexFrom = 32;
  std::vector<std::string> keys_;
  std::vector<Value> values_;
  std::map<std::string, size_t> index_;  // kept only from kIndexFrom entries
};

class Value {
 public:
  enum class Kind {
    kNone, kBool, kInt, kDouble, kString, kBytes, kStream, kTensor,
    kDTensor, kShardedTensor, kList, kTuple, kMapping, kOpaque,
  };

  Value() : v_(None{}) {}
  Value(None v) : v_(v) {}
  Value(bool v) : v_(v) {}
  Value(int v) : v_(static_cast<int64_t>(v)) {}
  Value(int64_t v) : v_(v) {}
  Value(double v) : v_(v) {}
  Value(std::string v) : v_(std::move(v)) {}
  Value(const char* v) : v_(std::string(v)) {}
  Value(Bytes v) : v_(std::move(v)) {}
  Value(ByteStream v) : v_(std::move(v)) {}
  Value(at::Tensor v) : v_(std::move(v)) {}
  Value(DTensor v) : v_(std::move(v)) {}
  Value(ShardedTensor v) : v_(std::move(v)) {}
  Value(List v) : v_(std::move(v)) {}
  Value(Tuple v) : v_(std::move(v)) {}
  Value(Mapping v) : v_(std::move(v)) {}
  Value(Opaque v) : v_(std::move(v)) {}

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  // "None", "bool", "int", "float", "str", "bytes", "BytesIO", "Tensor",
  // "DTensor", "ShardedTensor", "list", "tuple", "dict", or the opaque type's name.
  std::string type_name() const;

  bool is_none() const { return kind() == Kind::kNone; }
  bool is_tensor() const { return kind() == Kind::kTensor; }
  bool is_dtensor() const { return kind() == Kind::kDTensor; }
  bool is_sharded_tensor() const { return kind() == Kind::kShardedTensor; }
  bool is_mapping() const { return kind() == Kind::kMapping; }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_tuple() const { return kind() == Kind::kTuple; }
  // A tensor, DTensor or ShardedTensor.
  bool is_any_tensor() const { return is_tensor() || is_dtensor() || is_sharded_tensor(); }
  bool is_container() const { return is_mapping() || is_list() || is_tuple(); }

  // Typed access; throws shardsim::Error naming both kinds on the wrong kind.
  template <typename T>
  const T& as() const;
  template <typename T>
  T& as();

  const at::Tensor& tensor() const { return as<at::Tensor>(); }
  at::Tensor& tensor() { return as<at::Tensor>(); }
  const DTensor& dtensor() const { return as<DTensor>(); }
  DTensor& dtensor() { return as<DTensor>(); }
  const ShardedTensor& sharded_tensor() const { return as<ShardedTensor>(); }
  ShardedTensor& sharded_tensor() { return as<ShardedTensor>(); }
  const Mapping& mapping() const { return as<Mapping>(); }
  Mapping& mapping() { return as<Mapping>(); }
  const List& list() const { return as<List>(); }
  List& list() { return as<List>(); }
  const Tuple& tuple() const { return as<Tuple>(); }
  Tuple& tuple() { return as<Tuple>(); }

  using Variant = std::variant<None, bool, int64_t, double, std::string, Bytes, ByteStream,
                               at::Tensor, DTensor, ShardedTensor, List, Tuple, Mapping, Opaque>;
  const Variant& variant() const { return v_; }

 private:
  [[noreturn]] void wrong_kind(const char* wanted) const;
  Variant v_;
};

const char* kind_name(Value::Kind kind);

template <typename T>
const T& Value::as() const {
  if (const T* p = std::get_if<T>(&v_)) return *p;
  wrong_kind(typeid(T).name());
}
template <typename T>
T& Value::as() {
  if (T* p = std::get_if<T>(&v_)) return *p;
  wrong_kind(typeid(T).name());
}

// A state dict is a mapping.
using StateDict = Mapping;

// Joins a path and a key the way shardsim names state-dict locations:
// join_path("", "a") == "a", join_path("list", "3") == "list.3".
std::string join_path(const std::string& path, const std::string& key);

// Deep equality: same kinds and structure (mapping keys in the same order),
// scalars equal, tensors with the same dtype, shape and bits (compared on CPU;
// the device is not compared), DTensors with equal specs and local tensors,
// ShardedTensors with equal sizes, metadata and local shards.
bool operator==(const Value& a, const Value& b);
inline bool operator!=(const Value& a, const Value& b) { return !(a == b); }
// Tensor equality used above: same dtype, same shape and the same bits.
bool tensors_bitwise_equal(const at::Tensor& a, const at::Tensor& b);

// The first difference between `a` and `b` in traversal order, as
// "<path>: <what differs, both sides>" (e.g. "list.3.exp_avg: shape [3] vs
// [4]"); nullopt when equal. `root` prefixes every path.
c10::optional<std::string> first_difference(const Value& a, const Value& b,
                                             const std::string& root = "");

// Readable printing: containers nested, tensors as dtype, shape, device and a
// few values.
std::ostream& operator<<(std::ostream& os, const Value& v);
std::ostream& operator<<(std::ostream& os, const Mapping& m);

}  // namespace shardsim
