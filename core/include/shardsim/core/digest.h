// A 64-bit digest of byte streams and values: the `trace=` and `values=`
// figures of a run. Our own function (not std::hash), identical on every
// platform and library version.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace shardsim {

class Value;

class Digest {
 public:
  Digest() = default;
  void update(const void* data, size_t size);
  void update(const std::string& s);
  void update_u64(uint64_t v);
  void update_i64(int64_t v) { update_u64(static_cast<uint64_t>(v)); }
  // Dtype, shape and the bytes of a contiguous CPU copy of `t`.
  void update_tensor(const at::Tensor& t);
  // The whole tree: kinds, keys, scalars, tensors, DTensor specs and local
  // tensors, ShardedTensor metadata and shards. Device is not included, so
  // the same values digest the same on every backend.
  void update_value(const Value& v);

  uint64_t value() const;
  // 16 lowercase hex digits.
  std::string hex() const;

 private:
  uint64_t h_ = 0x243f6a8885a308d3ULL;  // pi
  uint64_t n_ = 0;
};

std::string hex64(uint64_t v);

}  // namespace shardsim
