// The pickle virtual machine behind read_torch_save (torch_save.h): the
// opcodes and classes torch.save uses, nothing executed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "shardsim/checkpoint/torch_save.h"

namespace shardsim::checkpoint::detail {

// A storage's persistent id: ('storage', torch.<X>Storage, key, location, numel).
struct StorageId {
  c10::ScalarType dtype = c10::ScalarType::Float;
  std::string key;       // names the zip entry <archive>/data/<key>
  std::string location;  // "cpu", "cuda:0", ...; not used
  int64_t numel = 0;     // elements of `dtype`
};

// Returns the storage `id` names as a contiguous 1-D CPU tensor of id.numel
// elements of id.dtype; called at most once per key.
using StorageLoader = std::function<at::Tensor(const StorageId& id)>;

// Runs the pickle `pickle` (named `file` in messages) and converts what it
// built into a TorchSaveContents.
TorchSaveContents unpickle_torch_save(std::string_view pickle, const StorageLoader& load_storage,
                                      const std::string& file);

}  // namespace shardsim::checkpoint::detail
