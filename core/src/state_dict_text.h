// How core's messages name a place in a state dict and a dict's keys.
#pragma once

#include <string>

#include "shardsim/core/value.h"

namespace shardsim::detail {

// The path as messages show it: "<root>" for the state dict itself.
std::string path_or_root(const std::string& path);
// "{'a', 'b'}": the keys of `m` in sorted order, for messages about dicts that disagree.
std::string sorted_keys_str(const Mapping& m);

}  // namespace shardsim::detail
