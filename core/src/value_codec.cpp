#include "shardsim/core/value_codec.h"

#include <algorithm>
#include <cstring>

#include <ATen/ATen.h>

#include "shardsim/core/dtype.h"
#include "shardsim/core/error.h"
#include "shardsim/core/shape.h"

namespace shardsim {

namespace {

constexpr char kMagic[4] = {'S', 'S', 'V', '1'};

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void i64(int64_t v) {
    char buf[8];
    std::memcpy(buf, &v, 8);
    out_.append(buf, 8);
  }
  void str(const std::string& s) {
    i64(static_cast<int64_t>(s.size()));
    out_.append(s);
  }
  void shape(c10::IntArrayRef s) {
    i64(static_cast<int64_t>(s.size()));
    for (int64_t x : s) i64(x);
  }
  void tensor(const at::Tensor& t) {
    SHARDSIM_CHECK(t.defined(), "cannot encode an undefined tensor");
    str(dtype_name(t.scalar_type()));
    shape(t.sizes());
    const bool meta = t.device().type() == c10::kMeta;
    u8(meta ? 1 : 0);
    if (meta || t.numel() == 0) return;
    at::Tensor c = (t.device().is_cpu() ? t : t.to(c10::kCPU)).contiguous();
    out_.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  void need(size_t n) {
    SHARDSIM_CHECK(n <= in_.size() - pos_, "malformed encoded value: truncated at byte ", pos_);
  }
  uint8_t u8() {
    need(1);
    return static_cast<uint8_t>(in_[pos_++]);
  }
  int64_t i64() {
    need(8);
    int64_t v;
    std::memcpy(&v, in_.data() + pos_, 8);
    pos_ += 8;
    return v;
  }
  int64_t count() {
    const int64_t n = i64();
    SHARDSIM_CHECK(n >= 0 && static_cast<uint64_t>(n) <= in_.size(), "malformed encoded value: count ",
                   n, " at byte ", pos_);
    return n;
  }
  std::string str() {
    const int64_t n = count();
    need(static_cast<size_t>(n));
    std::string s = in_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  Shape shape() {
    const int64_t n = count();
    SHARDSIM_CHECK(n <= 64, "malformed encoded value: ", n, " dims");
    Shape s(n);
    for (int64_t& x : s) {
      x = i64();
      SHARDSIM_CHECK(x >= 0, "malformed encoded value: negative size");
    }
    SHARDSIM_CHECK(extent_fits_int64(s), "malformed encoded value: shape ", shape_str(s),
                   " has more elements than a 64-bit integer holds");
    return s;
  }
  at::Tensor tensor() {
    const c10::ScalarType dtype = parse_dtype(str());
    const Shape shape_ = shape();
    const bool meta = u8() != 0;
    auto opts = at::TensorOptions().dtype(dtype);
    if (meta) {
      // Even without data, libtorch computes the storage's byte size.
      int64_t nbytes = static_cast<int64_t>(c10::elementSize(dtype));
      for (int64_t x : shape_) {
        SHARDSIM_CHECK(!__builtin_mul_overflow(nbytes, std::max<int64_t>(x, 1), &nbytes),
                       "malformed encoded value: a meta tensor of shape ", shape_str(shape_),
                       " has more bytes than a 64-bit integer holds");
      }
      return at::empty(shape_, opts.device(c10::kMeta));
    }
    // Check the payload is there before allocating anything.
    bool empty = false;
    for (int64_t x : shape_) empty = empty || x == 0;
    uint64_t bytes = empty ? 0 : c10::elementSize(dtype);
    for (int64_t x : shape_) {
      if (empty) break;
      SHARDSIM_CHECK(bytes <= (in_.size() - pos_) / static_cast<uint64_t>(x),
                     "malformed encoded value: tensor payload truncated");
      bytes *= static_cast<uint64_t>(x);
    }
    need(bytes);
    at::Tensor t = at::empty(shape_, opts);
    if (bytes > 0) std::memcpy(t.data_ptr(), in_.data() + pos_, bytes);
    pos_ += bytes;
    return t;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  const std::string& in_;
  size_t pos_ = 0;
};

void write(Writer& w, const Value& v) {
  w.u8(static_cast<uint8_t>(v.kind()));
  switch (v.kind()) {
    case Value::Kind::kNone: return;
    case Value::Kind::kBool: w.u8(v.as<bool>() ? 1 : 0); return;
    case Value::Kind::kInt: w.i64(v.as<int64_t>()); return;
    case Value::Kind::kDouble: {
      int64_t bits;
      const double d = v.as<double>();
      std::memcpy(&bits, &d, 8);
      w.i64(bits);
      return;
    }
    case Value::Kind::kString: w.str(v.as<std::string>()); return;
    case Value::Kind::kBytes: w.str(v.as<Bytes>().data); return;
    case Value::Kind::kStream:
      w.str(v.as<ByteStream>().data);
      w.i64(v.as<ByteStream>().position);
      return;
    case Value::Kind::kTensor: w.tensor(v.tensor()); return;
    case Value::Kind::kDTensor: {
      const DTensor& d = v.dtensor();
      w.i64(static_cast<int64_t>(d.mesh().device_type()));
      w.shape(d.mesh().shape());
      w.shape(d.mesh().ranks());
      w.i64(static_cast<int64_t>(d.placements().size()));
      for (const Placement& p : d.placements()) w.str(p.word());
      w.shape(d.shape());
      w.i64(static_cast<int64_t>(d.stride().size()));
      for (int64_t s : d.stride()) w.i64(s);
      w.tensor(d.local());
      return;
    }
    case Value::Kind::kShardedTensor: {
      const ShardedTensor& s = v.sharded_tensor();
      w.shape(s.size());
      w.str(dtype_name(s.dtype()));
      w.i64(static_cast<int64_t>(s.shards_metadata().size()));
      for (const ShardMetadata& m : s.shards_metadata()) {
        w.shape(m.offsets);
        w.shape(m.sizes);
        w.str(m.placement);
      }
      w.i64(static_cast<int64_t>(s.local_shards().size()));
      for (const LocalShard& sh : s.local_shards()) {
        w.shape(sh.metadata.offsets);
        w.shape(sh.metadata.sizes);
        w.str(sh.metadata.placement);
        w.tensor(sh.tensor);
      }
      return;
    }
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const auto& items = v.is_list() ? v.list().items : v.tuple().items;
      w.i64(static_cast<int64_t>(items.size()));
      for (const Value& x : items) write(w, x);
      return;
    }
    case Value::Kind::kMapping: {
      const Mapping& m = v.mapping();
      w.i64(static_cast<int64_t>(m.size()));
      for (size_t i = 0; i < m.size(); ++i) {
        w.str(m.key(i));
        write(w, m.value(i));
      }
      return;
    }
    case Value::Kind::kOpaque:
      w.str(v.as<Opaque>().type_name);
      w.str(v.as<Opaque>().repr);
      return;
  }
}

Value read(Reader& r, int depth) {
  SHARDSIM_CHECK(depth < 200, "malformed encoded value: nesting too deep");
  const uint8_t tag = r.u8();
  SHARDSIM_CHECK(tag <= static_cast<uint8_t>(Value::Kind::kOpaque), "malformed encoded value: tag ",
                 int(tag));
  switch (static_cast<Value::Kind>(tag)) {
    case Value::Kind::kNone: return None{};
    case Value::Kind::kBool: return r.u8() != 0;
    case Value::Kind::kInt: return r.i64();
    case Value::Kind::kDouble: {
      const int64_t bits = r.i64();
      double d;
      std::memcpy(&d, &bits, 8);
      return d;
    }
    case Value::Kind::kString: return r.str();
    case Value::Kind::kBytes: return Bytes{r.str()};
    case Value::Kind::kStream: {
      ByteStream s;
      s.data = r.str();
      s.position = r.i64();
      return s;
    }
    case Value::Kind::kTensor: return r.tensor();
    case Value::Kind::kDTensor: {
      const auto type = static_cast<c10::DeviceType>(r.i64());
      Shape mesh_shape = r.shape();
      Shape ranks = r.shape();
      const int64_t np = r.count();
      Placements ps;
      for (int64_t i = 0; i < np; ++i) ps.push_back(Placement::parse(r.str()));
      Shape shape = r.shape();
      const int64_t ns = r.count();
      Shape stride(ns);
      for (int64_t& s : stride) s = r.i64();
      at::Tensor local = r.tensor();
      return DTensor(local, DTensorSpec{DeviceMesh(type, mesh_shape, ranks), ps, shape, stride});
    }
    case Value::Kind::kShardedTensor: {
      Shape size = r.shape();
      const c10::ScalarType dtype = parse_dtype(r.str());
      const int64_t nm = r.count();
      std::vector<ShardMetadata> all;
      for (int64_t i = 0; i < nm; ++i) {
        ShardMetadata m;
        m.offsets = r.shape();
        m.sizes = r.shape();
        m.placement = r.str();
        all.push_back(m);
      }
      const int64_t nl = r.count();
      std::vector<LocalShard> local;
      for (int64_t i = 0; i < nl; ++i) {
        LocalShard s;
        s.metadata.offsets = r.shape();
        s.metadata.sizes = r.shape();
        s.metadata.placement = r.str();
        s.tensor = r.tensor();
        local.push_back(s);
      }
      return ShardedTensor(size, local, all, dtype);
    }
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const int64_t n = r.count();
      std::vector<Value> items;
      for (int64_t i = 0; i < n; ++i) items.push_back(read(r, depth + 1));
      if (tag == static_cast<uint8_t>(Value::Kind::kList)) return List{std::move(items)};
      return Tuple{std::move(items)};
    }
    case Value::Kind::kMapping: {
      const int64_t n = r.count();
      Mapping m;
      for (int64_t i = 0; i < n; ++i) {
        std::string key = r.str();
        m.set(key, read(r, depth + 1));
      }
      return m;
    }
    case Value::Kind::kOpaque: {
      Opaque o;
      o.type_name = r.str();
      o.repr = r.str();
      return o;
    }
  }
  throw Error("malformed encoded value");
}

}  // namespace

std::string encode_value(const Value& v) {
  Writer w;
  for (char c : kMagic) w.u8(static_cast<uint8_t>(c));
  write(w, v);
  return w.take();
}

Value decode_value(const std::string& bytes) {
  SHARDSIM_CHECK(bytes.size() >= 4 && std::memcmp(bytes.data(), kMagic, 4) == 0,
                 "malformed encoded value: bad header");
  Reader r(bytes);
  for (int i = 0; i < 4; ++i) r.u8();
  Value v = read(r, 0);
  SHARDSIM_CHECK(r.done(), "malformed encoded value: trailing bytes");
  return v;
}

}  // namespace shardsim
