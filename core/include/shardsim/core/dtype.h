// PyTorch's names for dtypes ("float32", "bfloat16", "complex64", ...), used
// in case files, suites and messages.
#pragma once

#include <string>
#include <vector>

#include <c10/core/ScalarType.h>

namespace shardsim {

// "float32", "float64", "bfloat16", "float16", "int8", "int16", "int32",
// "int64", "uint8", "bool", "complex64", "complex128".
std::string dtype_name(c10::ScalarType dtype);
// Parses a name above (also "float", "double", "half", "long", "int" as in
// PyTorch). Throws InvalidArgument naming the word and the accepted names.
c10::ScalarType parse_dtype(const std::string& name);
// Every dtype shardsim supports, in a fixed order.
const std::vector<c10::ScalarType>& supported_dtypes();

}  // namespace shardsim
