// Small text helpers for messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shardsim {

// `text` with control characters (bytes below 0x20, and 0x7F) written as
// \xNN: messages that quote keys, values or excerpts from an input file stay
// on one line whatever the file holds.
std::string one_line(const std::string& text);

// "rank 2", "ranks 0-1,3": the ranks sorted, runs collapsed.
std::string ranks_str(std::vector<int64_t> ranks);

}  // namespace shardsim
