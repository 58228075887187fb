// Small helpers for shapes (std::vector<int64_t>): printing, products,
// contiguous strides, and parsing of the textual forms shardsim uses
// everywhere ("7,5" for shapes, "2x4" for meshes).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace shardsim {

using Shape = std::vector<int64_t>;

// "[7, 5]"; "[]" for a 0-dim shape.
std::string shape_str(const Shape& shape);

// Product of the sizes; 1 for a 0-dim shape.
int64_t numel_of(const Shape& shape);

// Whether the element count and every contiguous stride of `shape` fit in
// int64_t (the product of the sizes, a size of 0 counted as 1, does not overflow).
bool extent_fits_int64(const Shape& shape);

// Row-major strides of a contiguous tensor of `shape` (PyTorch's rule: a
// size-0 or size-1 dim still gets the product of the sizes after it, at least 1).
Shape contiguous_strides(const Shape& shape);

// Parses "7,5" (also "" or "-" for a 0-dim shape); zero sizes are valid.
// REQUIRES nothing; throws InvalidArgument naming `what` on bad input.
Shape parse_shape(const std::string& text, const std::string& what = "shape");

// Parses "8", "2x4", "2x2x2": every size at least 1. Throws InvalidArgument.
Shape parse_mesh_shape(const std::string& text, const std::string& what = "mesh");

// "2x4"
std::string mesh_shape_str(const Shape& shape);

}  // namespace shardsim
