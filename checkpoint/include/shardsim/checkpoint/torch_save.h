// Reading torch.save files (the zip format of PyTorch >= 1.6) without
// libtorch's pickle_load, which cannot read what
// torch.save(model.state_dict()) writes (an OrderedDict carrying _metadata).
//
// A file is a zip of stored entries under one top folder <archive>/:
// data.pkl (a pickle, protocol 2), data/<key> (the raw little-endian bytes
// of each storage) and version. The pickle is read by a small virtual
// machine that executes nothing: the only classes it builds are
// collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter and the storage types torch.<X>Storage of
// every dtype shardsim knows. Any other class is an error naming the class
// and the key path where it sits ("model.layer.cfg"); so are pickles the
// virtual machine does not understand, cycles, and nesting deeper than 512.
//
// Tensors are CPU views (offset, sizes, strides) into one tensor per
// storage, so tensors that shared a storage in Python share it here (tied
// weights stay tied). The storage location ("cuda:0", ...) is ignored.
//
// Keys. A dict's keys must be str or int. An int key (an optimizer's
// `state` is keyed by parameter index) becomes its decimal string in the
// Mapping, and its key path is listed in int_key_paths, so a writer can give
// it back its type. A Python `bytes` value needs a class (_codecs.encode)
// under protocol 2 and is refused as such.
//
// _metadata. torch.nn.Module.state_dict() sets an attribute _metadata on
// the OrderedDict it returns; it is not an entry of the dict. It is returned
// in module_metadata, keyed by the key path of the dict that carried it ("" for
// the root). Any other attribute set on a dict is an error.
#pragma once

#include <string>
#include <vector>

#include "shardsim/checkpoint/env.h"
#include "shardsim/core/value.h"

namespace shardsim::checkpoint {

// What a torch.save file holds.
struct TorchSaveContents {
  Value root;                              // the saved object (usually a Mapping)
  Mapping module_metadata;                 // key path of a dict -> its `_metadata`
  std::vector<std::string> int_key_paths;  // key paths whose key was a Python int, in file order
};

// Reads the torch.save file at `path`; throws InvalidArgument naming the
// file, the entry or key path and the problem for anything it cannot read.
TorchSaveContents read_torch_save(Env& env, const std::string& path);

}  // namespace shardsim::checkpoint
