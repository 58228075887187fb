// Converting the objects of a torch.save pickle into Values, key path by
// key path, so that every refusal names where in the tree it happened.
#include <cstdint>
#include <string>

#include "shardsim/core/error.h"
#include "torch_pickle_objects.h"

namespace shardsim::checkpoint::detail {

const char* pickle_kind_word(PickleKind k) {
  switch (k) {
    case PickleKind::kNone:
      return "None";
    case PickleKind::kBool:
      return "bool";
    case PickleKind::kInt:
      return "int";
    case PickleKind::kFloat:
      return "float";
    case PickleKind::kString:
      return "str";
    case PickleKind::kBytes:
      return "bytes";
    case PickleKind::kList:
      return "list";
    case PickleKind::kTuple:
      return "tuple";
    case PickleKind::kDict:
      return "dict";
    case PickleKind::kClass:
      return "class";
    case PickleKind::kForbidden:
      return "object";
    case PickleKind::kStorage:
      return "storage";
    case PickleKind::kTensor:
      return "tensor";
  }
  return "?";
}

namespace {

constexpr int kMaxDepth = 512;

class ValueBuilder {
 public:
  ValueBuilder(const std::vector<PickleObject>& objects, const std::string& file,
               TorchSaveContents& out)
      : objects_(objects), file_(file), out_(out), converting_(objects.size(), false) {}

  // The Value for object `id` at key path `path`, `depth` containers down.
  Value convert(size_t id, const std::string& path, int depth);

 private:
  template <typename... Args>
  [[noreturn]] void fail_at(const std::string& path, const Args&... args) const {
    throw InvalidArgument(::shardsim::detail::concat(
        file_, ": ", path.empty() ? std::string("the saved object") : "'" + path + "'", ": ",
        args...));
  }

  const std::vector<PickleObject>& objects_;
  const std::string& file_;
  TorchSaveContents& out_;
  std::vector<bool> converting_;  // objects on the current conversion path
};

Value ValueBuilder::convert(size_t id, const std::string& path, int depth) {
  if (depth > kMaxDepth) fail_at(path, "nesting deeper than ", kMaxDepth, " levels");
  if (converting_[id]) fail_at(path, "a container that contains itself (a cycle)");
  const PickleObject& o = objects_[id];
  if (!o.problem.empty()) fail_at(path, o.problem);
  switch (o.kind) {
    case PickleKind::kNone:
      return Value(None{});
    case PickleKind::kBool:
      return Value(o.boolean);
    case PickleKind::kInt:
      return Value(o.integer);
    case PickleKind::kFloat:
      return Value(o.real);
    case PickleKind::kString:
      return Value(o.text);
    case PickleKind::kBytes:
      return Value(Bytes{o.text});
    case PickleKind::kTensor:
      return Value(o.tensor);
    case PickleKind::kStorage:
      fail_at(path, "a bare storage (not inside a tensor) is not supported");
    case PickleKind::kClass:
      fail_at(path, "the class ", o.text, " as a value is not supported");
    case PickleKind::kForbidden:
      fail_at(
          path, "an object of class ", o.text,
          ", which is not allowed (allowed: collections.OrderedDict, torch tensors and parameters, "
          "torch.<dtype>Storage)");
    case PickleKind::kList:
    case PickleKind::kTuple:
    case PickleKind::kDict:
      break;
  }
  converting_[id] = true;
  Value result;
  if (o.kind == PickleKind::kDict) {
    Mapping mapping;
    for (const auto& [key_id, value_id] : o.entries) {
      const PickleObject& key = objects_[key_id];
      std::string key_text;
      if (key.kind == PickleKind::kString) {
        key_text = key.text;
      } else if (key.kind == PickleKind::kInt) {
        key_text = std::to_string(key.integer);
      } else {
        fail_at(path, "a dict key of type ", pickle_kind_word(key.kind),
                "; only str and int keys are supported");
      }
      const std::string key_path = join_path(path, key_text);
      if (mapping.contains(key_text))
        fail_at(key_path, "the key appears twice (as str and as int?)");
      if (key.kind == PickleKind::kInt) out_.int_key_paths.push_back(key_path);
      mapping.set(key_text, convert(value_id, key_path, depth + 1));
    }
    if (o.metadata)
      out_.module_metadata.set(path, convert(*o.metadata, join_path(path, "_metadata"), depth + 1));
    result = Value(std::move(mapping));
  } else {
    std::vector<Value> items;
    for (size_t i = 0; i < o.items.size(); ++i) {
      items.push_back(convert(o.items[i], join_path(path, std::to_string(i)), depth + 1));
    }
    result = o.kind == PickleKind::kList ? Value(List{std::move(items)})
                                         : Value(Tuple{std::move(items)});
  }
  converting_[id] = false;
  return result;
}

}  // namespace

TorchSaveContents contents_from_pickle_objects(const std::vector<PickleObject>& objects,
                                               size_t root, const std::string& file) {
  TorchSaveContents out;
  ValueBuilder builder(objects, file, out);
  out.root = builder.convert(root, "", 0);
  return out;
}

}  // namespace shardsim::checkpoint::detail
