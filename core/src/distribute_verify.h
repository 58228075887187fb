// distribute_tensors' verification: every rank must pass the same full tensors.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace shardsim {

class Comm;

// All-gathers one digest per key (0 where `fulls[i]` is undefined: the key is
// skipped) and throws MismatchError on every rank when two ranks disagree,
// naming the key, the ranks on each side and their digests. Every rank of
// `comm` calls it with the same keys.
void verify_same_full_tensors(Comm& comm, const std::vector<std::string>& keys,
                              const std::vector<at::Tensor>& fulls);

}  // namespace shardsim
