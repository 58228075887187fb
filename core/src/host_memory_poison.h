// Private to core: the poison fill on raw memory (see host_memory.h).
#pragma once

#include <cstddef>

#include <c10/core/ScalarType.h>

namespace shardsim {
namespace detail {

// Fills `nbytes` at `data` (a whole number of elements of `dtype`) with the poison.
void fill_poison_bytes(void* data, size_t nbytes, c10::ScalarType dtype);

}  // namespace detail
}  // namespace shardsim
