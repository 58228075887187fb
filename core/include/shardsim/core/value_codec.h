// A compact binary encoding of values, tensors included (as CPU bytes), for
// moving descriptions and results between ranks of real backends. Decoding is
// bounds-checked: malformed input throws shardsim::Error, never crashes.
#pragma once

#include <string>

#include "shardsim/core/value.h"

namespace shardsim {

// Encodes `v`; tensors (and DTensor locals, ShardedTensor shards) are copied
// to CPU and stored contiguously. Devices are not recorded.
std::string encode_value(const Value& v);

// Decodes what encode_value produced; tensors come back on CPU.
Value decode_value(const std::string& bytes);

}  // namespace shardsim
