// The objects the torch.save pickle machine (torch_pickle.cpp) builds, and
// their conversion into a TorchSaveContents (torch_pickle_value.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include "shardsim/checkpoint/torch_save.h"

namespace shardsim::checkpoint::detail {

// What a pickle object is.
enum class PickleKind {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kBytes,
  kList,
  kTuple,
  kDict,
  kClass,      // an allowed global (callable)
  kForbidden,  // a global outside the allow-list, or what calling it made
  kStorage,
  kTensor,
};

// "None", "int", "dict", ... for messages.
const char* pickle_kind_word(PickleKind kind);

// One object of the machine's arena; objects refer to each other by id
// (their index in the arena).
struct PickleObject {
  PickleKind kind = PickleKind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;                                // str, bytes, or a class's "module.name"
  std::vector<size_t> items;                       // list, tuple
  std::vector<std::pair<size_t, size_t>> entries;  // dict, in insertion order
  c10::optional<size_t> metadata;                  // dict: the `_metadata` attribute
  at::Tensor tensor;                               // storage (1-D) or tensor view
  std::string problem;                             // non-empty: an error to report at its key path
};

// The Value tree of object `root` of `objects`, with the int keys and the
// `_metadata` attributes met on the way; throws InvalidArgument naming `file`
// and the key path of the first object that cannot be a Value (a class
// outside the allow-list, a problem recorded while building, a cycle, or
// nesting deeper than 512).
TorchSaveContents contents_from_pickle_objects(const std::vector<PickleObject>& objects,
                                               size_t root, const std::string& file);

}  // namespace shardsim::checkpoint::detail
