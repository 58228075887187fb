#include "shardsim/core/value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ostream>

#include <ATen/ATen.h>

#include "shardsim/core/error.h"

namespace shardsim {

// --- Mapping -------------------------------------------------------------------

Mapping::Mapping(std::initializer_list<std::pair<std::string, Value>> entries) {
  for (const auto& e : entries) set(e.first, e.second);
}

const Value& Mapping::value(size_t i) const { return values_.at(i); }
Value& Mapping::value(size_t i) { return values_.at(i); }

int64_t Mapping::position(const std::string& key) const {
  if (!index_.empty()) {
    auto it = index_.find(key);
    return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
  }
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return static_cast<int64_t>(i);
  }
  return -1;
}

void Mapping::rebuild_index() {
  index_.clear();
  if (keys_.size() < kIndexFrom) return;
  for (size_t i = 0; i < keys_.size(); ++i) index_.emplace(keys_[i], i);
}

const Value* Mapping::find(const std::string& key) const {
  const int64_t pos = position(key);
  return pos < 0 ? nullptr : &values_[static_cast<size_t>(pos)];
}

Value* Mapping::find(const std::string& key) {
  const int64_t pos = position(key);
  return pos < 0 ? nullptr : &values_[static_cast<size_t>(pos)];
}

const Value& Mapping::at(const std::string& key) const {
  const Value* v = find(key);
  SHARDSIM_CHECK(v != nullptr, "key '", key, "' is not in the mapping");
  return *v;
}

Value& Mapping::at(const std::string& key) {
  Value* v = find(key);
  SHARDSIM_CHECK(v != nullptr, "key '", key, "' is not in the mapping");
  return *v;
}

void Mapping::set(const std::string& key, Value value) {
  const int64_t pos = position(key);
  if (pos >= 0) {
    values_[static_cast<size_t>(pos)] = std::move(value);
    return;
  }
  keys_.push_back(key);
  values_.push_back(std::move(value));
  if (!index_.empty()) {
    index_.emplace(key, keys_.size() - 1);
  } else if (keys_.size() == kIndexFrom) {
    rebuild_index();
  }
}

bool Mapping::erase(const std::string& key) {
  const int64_t pos = position(key);
  if (pos < 0) return false;
  keys_.erase(keys_.begin() + static_cast<std::ptrdiff_t>(pos));
  values_.erase(values_.begin() + static_cast<std::ptrdiff_t>(pos));
  rebuild_index();
  return true;
}

// --- Value -----------------------------------------------------------------------

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kDouble: return "float";
    case Value::Kind::kString: return "str";
    case Value::Kind::kBytes: return "bytes";
    case Value::Kind::kStream: return "BytesIO";
    case Value::Kind::kTensor: return "Tensor";
    case Value::Kind::kDTensor: return "DTensor";
    case Value::Kind::kShardedTensor: return "ShardedTensor";
    case Value::Kind::kList: return "list";
    case Value::Kind::kTuple: return "tuple";
    case Value::Kind::kMapping: return "dict";
    case Value::Kind::kOpaque: return "opaque";
  }
  return "?";
}

std::string Value::type_name() const {
  if (kind() == Kind::kOpaque) return std::get<Opaque>(v_).type_name;
  return kind_name(kind());
}

void Value::wrong_kind(const char* wanted) const {
  throw Error(std::string("value of kind ") + type_name() + " accessed as " + wanted);
}

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// --- Printing -------------------------------------------------------------------

namespace {

// Python's repr of a float: the shortest digits that read back as the same
// value (as a float32 when `single`), fixed notation for exponents -4..15,
// always with a '.' or an exponent so it never reads as an int. Without it,
// two doubles that differ in the last bits would print alike ("0.1 vs 0.1").
std::string float_repr(double x, bool single) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  char buf[64];
  int digits = 1;
  for (; digits < 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, x);
    const double back = std::strtod(buf, nullptr);
    if (single ? static_cast<float>(back) == static_cast<float>(x) : back == x) break;
  }
  std::snprintf(buf, sizeof buf, "%.*e", digits - 1, x);
  const int exponent = std::atoi(std::strchr(buf, 'e') + 1);
  if (exponent < -4 || exponent >= 16) return buf;
  std::snprintf(buf, sizeof buf, "%.*f", std::max(digits - 1 - exponent, 1), x);
  return buf;
}

void print_tensor(std::ostream& os, const at::Tensor& t) {
  if (!t.defined()) {
    os << "Tensor(undefined)";
    return;
  }
  os << "Tensor(" << c10::toString(t.scalar_type()) << shape_str(t.sizes().vec()) << " on "
     << t.device();
  if (t.device().type() == c10::kMeta) {
    os << ")";
    return;
  }
  const int64_t n = t.numel();
  const int64_t shown = std::min<int64_t>(n, 6);
  if (shown > 0) {
    at::Tensor flat = t.to(c10::kCPU).reshape({-1});
    os << ": [";
    for (int64_t i = 0; i < shown; ++i) {
      os << (i ? ", " : "");
      at::Tensor e = flat[i];
      if (e.is_complex()) {
        at::Tensor ri = at::view_as_real(e.unsqueeze(0)).reshape({-1}).to(at::kDouble);
        const bool single = e.scalar_type() != at::kComplexDouble;
        const double im = ri[1].item<double>();
        os << float_repr(ri[0].item<double>(), single) << (im < 0 ? "" : "+")
           << float_repr(im, single) << "j";
      } else if (e.scalar_type() == at::kBool) {
        os << (e.item<bool>() ? "True" : "False");
      } else if (at::isFloatingType(e.scalar_type())) {
        os << float_repr(e.item<double>(), e.scalar_type() != at::kDouble);
      } else {
        os << e.item<int64_t>();
      }
    }
    if (shown < n) os << ", ...";
    os << "]";
  }
  os << ")";
}

void print_escaped(std::ostream& os, const std::string& s) {
  os << '\'';
  for (unsigned char ch : s) {
    if (ch == '\'' || ch == '\\') {
      os << '\\' << ch;
    } else if (ch >= 0x20 && ch < 0x7f) {
      os << ch;
    } else {
      static const char* kHex = "0123456789abcdef";
      os << "\\x" << kHex[ch >> 4] << kHex[ch & 0xf];
    }
  }
  os << '\'';
}

void print_items(std::ostream& os, const std::vector<Value>& items, const char* open,
                 const char* close) {
  os << open;
  for (size_t i = 0; i < items.size(); ++i) os << (i ? ", " : "") << items[i];
  if (items.size() == 1 && std::string(open) == "(") os << ",";
  os << close;
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Mapping& m) {
  os << "{";
  for (size_t i = 0; i < m.size(); ++i) {
    os << (i ? ", " : "");
    print_escaped(os, m.key(i));
    os << ": " << m.value(i);
  }
  return os << "}";
}

std::ostream& operator<<(std::ostream& os, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNone: return os << "None";
    case Value::Kind::kBool: return os << (v.as<bool>() ? "True" : "False");
    case Value::Kind::kInt: return os << v.as<int64_t>();
    case Value::Kind::kDouble: return os << float_repr(v.as<double>(), /*single=*/false);
    case Value::Kind::kString: print_escaped(os, v.as<std::string>()); return os;
    case Value::Kind::kBytes:
      os << "b";
      print_escaped(os, v.as<Bytes>().data);
      return os;
    case Value::Kind::kStream:
      os << "BytesIO(b";
      print_escaped(os, v.as<ByteStream>().data);
      return os << ", position=" << v.as<ByteStream>().position << ")";
    case Value::Kind::kTensor: print_tensor(os, v.tensor()); return os;
    case Value::Kind::kDTensor: return os << v.dtensor();
    case Value::Kind::kShardedTensor: return os << v.sharded_tensor();
    case Value::Kind::kList: print_items(os, v.list().items, "[", "]"); return os;
    case Value::Kind::kTuple: print_items(os, v.tuple().items, "(", ")"); return os;
    case Value::Kind::kMapping: return os << v.mapping();
    case Value::Kind::kOpaque:
      return os << "<" << v.as<Opaque>().type_name << " " << v.as<Opaque>().repr << ">";
  }
  return os;
}

}  // namespace shardsim
