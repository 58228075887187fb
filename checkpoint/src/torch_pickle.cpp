// The pickle subset torch.save writes, run without executing anything.
//
// Vocabulary: the machine reads opcodes from `pickle` and keeps a stack of
// object ids, a mark stack (stack heights saved by MARK) and a memo
// (BINPUT/BINGET slots). Every object lives in one arena (`objects_`), so
// cycles built by a hostile pickle leak nothing; they are found, with any
// class outside the allow-list, when the final object is converted into a
// Value, so that the message can name the key path. A class outside the
// allow-list becomes a `kForbidden` object that remembers its name; a
// problem found while building (bad tensor arguments, an attribute set on a
// dict) becomes the object's `problem`, reported the same way.
#include "torch_pickle.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "shardsim/core/checked.h"
#include "shardsim/core/dtype.h"
#include "shardsim/core/error.h"
#include "torch_pickle_objects.h"

namespace shardsim::checkpoint::detail {

namespace {

constexpr const char* kOrderedDict = "collections.OrderedDict";
constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";

// torch.<name> storage classes and their dtypes.
constexpr std::pair<const char*, c10::ScalarType> kStorageTypes[] = {
    {"torch.DoubleStorage", c10::ScalarType::Double},
    {"torch.FloatStorage", c10::ScalarType::Float},
    {"torch.HalfStorage", c10::ScalarType::Half},
    {"torch.BFloat16Storage", c10::ScalarType::BFloat16},
    {"torch.LongStorage", c10::ScalarType::Long},
    {"torch.IntStorage", c10::ScalarType::Int},
    {"torch.ShortStorage", c10::ScalarType::Short},
    {"torch.CharStorage", c10::ScalarType::Char},
    {"torch.ByteStorage", c10::ScalarType::Byte},
    {"torch.BoolStorage", c10::ScalarType::Bool},
    {"torch.ComplexFloatStorage", c10::ScalarType::ComplexFloat},
    {"torch.ComplexDoubleStorage", c10::ScalarType::ComplexDouble},
};

c10::optional<c10::ScalarType> storage_dtype(const std::string& class_name) {
  for (const auto& [name, dtype] : kStorageTypes) {
    if (class_name == name) {
      const auto& known = supported_dtypes();
      if (std::find(known.begin(), known.end(), dtype) == known.end()) return c10::nullopt;
      return dtype;
    }
  }
  return c10::nullopt;
}

bool allowed_class(const std::string& name) {
  return name == kOrderedDict || name == kRebuildTensor || name == kRebuildParameter ||
         storage_dtype(name).has_value();
}

using Kind = PickleKind;
using Object = PickleObject;

class Machine {
 public:
  Machine(std::string_view pickle, const StorageLoader& load_storage, const std::string& file)
      : pickle_(pickle), load_storage_(load_storage), file_(file) {}

  // Runs to STOP; returns the id of the object it left.
  size_t run();
  // Every object the run built, by id.
  const std::vector<Object>& objects() const { return objects_; }

 private:
  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    throw InvalidArgument(::shardsim::detail::concat(file_, ": byte ", opcode_at_, ": ", args...));
  }

  const char* take(size_t n);
  uint64_t take_le(int width);
  std::string take_line();
  size_t make(Object o);
  size_t pop();
  size_t top() const;
  std::vector<size_t> pop_to_mark();
  Object& at(size_t id) { return objects_[id]; }
  void add_items(size_t target, const std::vector<size_t>& items);
  void set_items(size_t target, const std::vector<size_t>& items);
  size_t push_global(const std::string& module, const std::string& name);
  size_t reduce(size_t callable, size_t args);
  size_t rebuild_tensor(const std::vector<size_t>& args);
  void build(size_t target, size_t state);
  size_t load_persistent(size_t pid);
  void memo_put(uint64_t slot);
  size_t memo_get(uint64_t slot);

  std::string_view pickle_;
  const StorageLoader& load_storage_;
  const std::string& file_;
  size_t pos_ = 0;
  size_t opcode_at_ = 0;
  std::vector<Object> objects_;
  std::vector<size_t> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, size_t> memo_;
  std::map<std::string, size_t> storages_;  // key -> storage object
};

const char* Machine::take(size_t n) {
  if (n > pickle_.size() - pos_)
    fail("needs ", n, " bytes, only ", pickle_.size() - pos_, " are left");
  const char* p = pickle_.data() + pos_;
  pos_ += n;
  return p;
}

uint64_t Machine::take_le(int width) {
  const char* p = take(static_cast<size_t>(width));
  uint64_t n = 0;
  for (int i = width - 1; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(p[i]);
  return n;
}

std::string Machine::take_line() {
  const size_t end = pickle_.find('\n', pos_);
  if (end == std::string_view::npos) fail("a GLOBAL name is not terminated by a newline");
  std::string line(pickle_.substr(pos_, end - pos_));
  pos_ = end + 1;
  return line;
}

size_t Machine::make(Object o) {
  objects_.push_back(std::move(o));
  return objects_.size() - 1;
}

size_t Machine::pop() {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) fail("pops from an empty stack");
  const size_t id = stack_.back();
  stack_.pop_back();
  return id;
}

size_t Machine::top() const {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) fail("reads the top of an empty stack");
  return stack_.back();
}

std::vector<size_t> Machine::pop_to_mark() {
  if (marks_.empty()) fail("needs a MARK and there is none");
  const size_t mark = marks_.back();
  marks_.pop_back();
  std::vector<size_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
  stack_.resize(mark);
  return items;
}

void Machine::add_items(size_t target, const std::vector<size_t>& items) {
  if (at(target).kind != Kind::kList)
    fail("APPEND(S) to a ", pickle_kind_word(at(target).kind), ", not a list");
  for (size_t id : items) at(target).items.push_back(id);
}

void Machine::set_items(size_t target, const std::vector<size_t>& items) {
  if (at(target).kind != Kind::kDict)
    fail("SETITEM(S) on a ", pickle_kind_word(at(target).kind), ", not a dict");
  if (items.size() % 2 != 0)
    fail("SETITEMS with an odd number (", items.size(), ") of keys and values");
  for (size_t i = 0; i < items.size(); i += 2)
    at(target).entries.emplace_back(items[i], items[i + 1]);
}

size_t Machine::push_global(const std::string& module, const std::string& name) {
  Object o;
  o.text = module + "." + name;
  o.kind = allowed_class(o.text) ? Kind::kClass : Kind::kForbidden;
  return make(std::move(o));
}

size_t Machine::reduce(size_t callable, size_t args) {
  if (at(callable).kind == Kind::kForbidden) {
    Object o;
    o.kind = Kind::kForbidden;
    o.text = at(callable).text;
    return make(std::move(o));
  }
  if (at(callable).kind != Kind::kClass) fail("REDUCE calls a ", pickle_kind_word(at(callable).kind));
  if (at(args).kind != Kind::kTuple) fail("REDUCE with arguments in a ", pickle_kind_word(at(args).kind));
  const std::string name = at(callable).text;
  const std::vector<size_t> arguments = at(args).items;
  if (name == kOrderedDict) {
    Object o;
    o.kind = Kind::kDict;
    if (!arguments.empty())
      o.problem = "collections.OrderedDict called with arguments; torch.save writes OrderedDict()";
    return make(std::move(o));
  }
  if (name == kRebuildTensor) return rebuild_tensor(arguments);
  Object o;
  o.kind = Kind::kTensor;
  if (name == kRebuildParameter) {
    if (arguments.size() != 3 || at(arguments[0]).kind != Kind::kTensor) {
      o.problem = name + " takes (tensor, requires_grad, backward_hooks)";
    } else if (!at(arguments[0]).problem.empty()) {
      o.problem = at(arguments[0]).problem;
    } else {
      o.tensor = at(arguments[0]).tensor;
    }
    return make(std::move(o));
  }
  o.problem = "calling the storage class " + name + " is not supported";
  return make(std::move(o));
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
// backward_hooks[, metadata]): a view of `storage`.
size_t Machine::rebuild_tensor(const std::vector<size_t>& args) {
  Object o;
  o.kind = Kind::kTensor;
  auto bad = [&](const std::string& why) {
    o.problem = std::string(kRebuildTensor) + ": " + why;
    return make(std::move(o));
  };
  if (args.size() != 6 && args.size() != 7) {
    return bad("takes 6 or 7 arguments, got " + std::to_string(args.size()));
  }
  if (at(args[0]).kind != Kind::kStorage)
    return bad(std::string("argument 1 is a ") + pickle_kind_word(at(args[0]).kind) + ", not a storage");
  if (at(args[1]).kind != Kind::kInt) return bad("the storage offset is not an int");
  auto ints = [&](size_t id, std::vector<int64_t>* out) {
    if (at(id).kind != Kind::kTuple) return false;
    for (size_t item : at(id).items) {
      if (at(item).kind != Kind::kInt) return false;
      out->push_back(at(item).integer);
    }
    return true;
  };
  std::vector<int64_t> sizes, strides;
  if (!ints(args[2], &sizes)) return bad("the size is not a tuple of ints");
  if (!ints(args[3], &strides)) return bad("the stride is not a tuple of ints");
  if (sizes.size() != strides.size()) {
    return bad("size has " + std::to_string(sizes.size()) + " dims, stride " +
               std::to_string(strides.size()));
  }
  const Object& hooks = at(args[5]);
  if (hooks.kind != Kind::kDict || !hooks.entries.empty())
    return bad("backward hooks are not supported");
  if (args.size() == 7) {
    const Object& metadata = at(args[6]);
    if (!(metadata.kind == Kind::kNone ||
          (metadata.kind == Kind::kDict && metadata.entries.empty()))) {
      return bad("tensor metadata (Python attributes of a tensor) are not supported");
    }
  }
  const at::Tensor& storage = at(args[0]).tensor;
  const int64_t offset = at(args[1]).integer;
  const int64_t numel = storage.numel();
  if (offset < 0 || offset > numel) {
    return bad("storage offset " + std::to_string(offset) + " is outside a storage of " +
               std::to_string(numel) + " elements");
  }
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] < 0 || strides[d] < 0)
      return bad("negative size or stride in dim " + std::to_string(d));
  }
  // The view's element count and the largest element index it reaches, with
  // checked arithmetic (a stride-0 view may be far larger than its storage).
  try {
    int64_t view_numel = 1;
    for (int64_t size : sizes)
      view_numel = checked_mul(view_numel, size, "the view's element count");
    int64_t last = offset;
    for (size_t d = 0; d < sizes.size() && view_numel > 0; ++d) {
      last = checked_add(last, checked_mul(sizes[d] - 1, strides[d], "the view's extent"),
                         "the view's extent");
    }
    if (view_numel > 0 && last >= numel) {
      return bad("the view reaches element " + std::to_string(last) + " of a storage of " +
                 std::to_string(numel) + " elements");
    }
    o.tensor = storage.as_strided(sizes, strides, offset);
  } catch (const InvalidArgument& e) {
    return bad(e.what());
  } catch (const c10::Error& e) {
    return bad(e.what_without_backtrace());
  }
  return make(std::move(o));
}

void Machine::build(size_t target, size_t state) {
  Object& t = at(target);
  if (t.kind == Kind::kForbidden) return;  // reported by name when converted
  if (t.kind != Kind::kDict || at(state).kind != Kind::kDict) {
    t.problem =
        std::string("BUILD (setting attributes) on a ") + pickle_kind_word(t.kind) + " is not supported";
    return;
  }
  for (const auto& [key, value] : at(state).entries) {
    if (at(key).kind == Kind::kString && at(key).text == "_metadata") {
      at(target).metadata = value;
    } else {
      at(target).problem = "a dict with attributes other than _metadata is not supported";
    }
  }
}

size_t Machine::load_persistent(size_t pid) {
  const Object& id = at(pid);
  if (id.kind != Kind::kTuple || id.items.size() != 5) {
    fail("a persistent id that is not ('storage', type, key, location, numel)");
  }
  const Object& tag = at(id.items[0]);
  const Object& type = at(id.items[1]);
  const Object& key = at(id.items[2]);
  const Object& location = at(id.items[3]);
  const Object& numel = at(id.items[4]);
  if (tag.kind != Kind::kString || tag.text != "storage")
    fail("a persistent id not tagged 'storage'");
  if (type.kind != Kind::kClass || !storage_dtype(type.text)) {
    fail("a persistent id whose storage type is '", type.text,
         "', not a torch.<dtype>Storage shardsim knows");
  }
  if (key.kind != Kind::kString || location.kind != Kind::kString || numel.kind != Kind::kInt ||
      numel.integer < 0) {
    fail("a persistent id whose key, location or numel is malformed");
  }
  StorageId storage{*storage_dtype(type.text), key.text, location.text, numel.integer};
  auto found = storages_.find(storage.key);
  if (found != storages_.end()) {
    const at::Tensor& have = at(found->second).tensor;
    if (have.scalar_type() != storage.dtype || have.numel() != storage.numel) {
      fail("storage '", storage.key, "' is used as ", dtype_name(have.scalar_type()), "[",
           have.numel(), "] and as ", dtype_name(storage.dtype), "[", storage.numel, "]");
    }
    return found->second;
  }
  Object o;
  o.kind = Kind::kStorage;
  o.tensor = load_storage_(storage);
  const size_t made = make(std::move(o));
  storages_.emplace(storage.key, made);
  return made;
}

void Machine::memo_put(uint64_t slot) { memo_[slot] = top(); }

size_t Machine::memo_get(uint64_t slot) {
  auto found = memo_.find(slot);
  if (found == memo_.end()) fail("reads memo slot ", slot, ", which was never written");
  return found->second;
}

size_t Machine::run() {
  auto object = [&](Kind kind) {
    Object o;
    o.kind = kind;
    return o;
  };
  while (true) {
    opcode_at_ = pos_;
    const auto op = static_cast<unsigned char>(*take(1));
    switch (op) {
      case 0x80: {  // PROTO
        const auto version = static_cast<unsigned char>(*take(1));
        if (version < 2 || version > 5)
          fail("pickle protocol ", int{version}, " is not supported (2 to 5 are)");
        break;
      }
      case 0x95:
        take(8);
        break;     // FRAME: a length hint only
      case '.': {  // STOP
        const size_t result = pop();
        return result;
      }
      case '(':
        marks_.push_back(stack_.size());
        break;  // MARK
      case '0':
        pop();
        break;  // POP
      case '1':
        pop_to_mark();
        break;  // POP_MARK
      case '2':
        stack_.push_back(top());
        break;  // DUP
      case 'N':
        stack_.push_back(make(object(Kind::kNone)));
        break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        Object o = object(Kind::kBool);
        o.boolean = op == 0x88;
        stack_.push_back(make(std::move(o)));
        break;
      }
      case 'J':
      case 'K':
      case 'M': {  // BININT, BININT1, BININT2
        Object o = object(Kind::kInt);
        if (op == 'J')
          o.integer = static_cast<int32_t>(static_cast<uint32_t>(take_le(4)));
        else
          o.integer = static_cast<int64_t>(take_le(op == 'K' ? 1 : 2));
        stack_.push_back(make(std::move(o)));
        break;
      }
      case 0x8a:
      case 0x8b: {  // LONG1, LONG4: little-endian two's complement
        const uint64_t length = take_le(op == 0x8a ? 1 : 4);
        if (length > 8) fail("an int of ", length, " bytes does not fit in 64 bits");
        Object o = object(Kind::kInt);
        const uint64_t raw = length == 0 ? 0 : take_le(static_cast<int>(length));
        const int shift = 64 - 8 * static_cast<int>(length);
        o.integer = length == 0 ? 0 : static_cast<int64_t>(raw << shift) >> shift;
        stack_.push_back(make(std::move(o)));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        const char* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(p[i]);
        Object o = object(Kind::kFloat);
        std::memcpy(&o.real, &bits, sizeof bits);
        stack_.push_back(make(std::move(o)));
        break;
      }
      case 'X':
      case 0x8c:
      case 0x8d:
      case 'B':
      case 'C': {  // BINUNICODE(8), SHORT_BINUNICODE, (SHORT_)BINBYTES
        const int width = op == 'X' || op == 'B' ? 4 : op == 0x8d ? 8 : 1;
        const uint64_t length = take_le(width);
        if (length > pickle_.size() - pos_)
          fail("a string of ", length, " bytes runs past the end of the pickle");
        Object o = object(op == 'B' || op == 'C' ? Kind::kBytes : Kind::kString);
        o.text = std::string(take(static_cast<size_t>(length)), static_cast<size_t>(length));
        stack_.push_back(make(std::move(o)));
        break;
      }
      case '}':
        stack_.push_back(make(object(Kind::kDict)));
        break;  // EMPTY_DICT
      case ']':
        stack_.push_back(make(object(Kind::kList)));
        break;  // EMPTY_LIST
      case ')':
        stack_.push_back(make(object(Kind::kTuple)));
        break;  // EMPTY_TUPLE
      case 't':
      case 'l':
      case 'd': {  // TUPLE, LIST, DICT from the mark
        std::vector<size_t> items = pop_to_mark();
        const size_t made = make(object(op == 't'   ? Kind::kTuple
                                        : op == 'l' ? Kind::kList
                                                    : Kind::kDict));
        if (op == 'd')
          set_items(made, items);
        else
          at(made).items = std::move(items);
        stack_.push_back(made);
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1, TUPLE2, TUPLE3
        const size_t n = op - 0x84;
        Object o = object(Kind::kTuple);
        o.items.resize(n);
        for (size_t i = n; i-- > 0;) o.items[i] = pop();
        stack_.push_back(make(std::move(o)));
        break;
      }
      case 'a': {  // APPEND
        const size_t item = pop();
        add_items(top(), {item});
        break;
      }
      case 'e': {  // APPENDS
        const std::vector<size_t> items = pop_to_mark();
        add_items(top(), items);
        break;
      }
      case 's': {  // SETITEM
        const size_t value = pop();
        const size_t key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {  // SETITEMS
        const std::vector<size_t> items = pop_to_mark();
        set_items(top(), items);
        break;
      }
      case 'c': {  // GLOBAL
        const std::string module = take_line();
        const std::string name = take_line();
        stack_.push_back(push_global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const size_t name = pop();
        const size_t module = pop();
        if (at(name).kind != Kind::kString || at(module).kind != Kind::kString)
          fail("STACK_GLOBAL needs two strings");
        stack_.push_back(push_global(at(module).text, at(name).text));
        break;
      }
      case 'R': {  // REDUCE
        const size_t args = pop();
        const size_t callable = pop();
        stack_.push_back(reduce(callable, args));
        break;
      }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
        pop();
        const size_t cls = pop();
        Object o = object(Kind::kForbidden);
        o.text = at(cls).text;
        if (at(cls).kind != Kind::kForbidden)
          o.problem = "NEWOBJ of " + at(cls).text + " is not supported";
        stack_.push_back(make(std::move(o)));
        break;
      }
      case 'b': {  // BUILD
        const size_t state = pop();
        build(top(), state);
        break;
      }
      case 'Q': {  // BINPERSID
        const size_t pid = pop();
        stack_.push_back(load_persistent(pid));
        break;
      }
      case 'q':
        memo_put(take_le(1));
        break;  // BINPUT
      case 'r':
        memo_put(take_le(4));
        break;  // LONG_BINPUT
      case 0x94:
        memo_put(memo_.size());
        break;  // MEMOIZE
      case 'h':
        stack_.push_back(memo_get(take_le(1)));
        break;  // BINGET
      case 'j':
        stack_.push_back(memo_get(take_le(4)));
        break;  // LONG_BINGET
      default: {
        const bool printable = op >= 0x20 && op < 0x7f;
        fail("opcode 0x", std::hex, int{op}, std::dec,
             printable ? std::string(" ('") + static_cast<char>(op) + "')" : std::string(),
             " is not one a torch.save reader supports");
      }
    }
  }
}

}  // namespace

TorchSaveContents unpickle_torch_save(std::string_view pickle, const StorageLoader& load_storage,
                                      const std::string& file) {
  Machine machine(pickle, load_storage, file);
  const size_t root = machine.run();
  return contents_from_pickle_objects(machine.objects(), root, file);
}

}  // namespace shardsim::checkpoint::detail
