#include "shardsim/core/dtype.h"

#include "shardsim/core/error.h"

namespace shardsim {

namespace {
struct DtypeName {
  c10::ScalarType dtype;
  const char* name;
};
const DtypeName kNames[] = {
    {c10::ScalarType::Float, "float32"},   {c10::ScalarType::Double, "float64"},
    {c10::ScalarType::BFloat16, "bfloat16"}, {c10::ScalarType::Half, "float16"},
    {c10::ScalarType::Char, "int8"},       {c10::ScalarType::Short, "int16"},
    {c10::ScalarType::Int, "int32"},       {c10::ScalarType::Long, "int64"},
    {c10::ScalarType::Byte, "uint8"},      {c10::ScalarType::Bool, "bool"},
    {c10::ScalarType::ComplexFloat, "complex64"}, {c10::ScalarType::ComplexDouble, "complex128"},
};
const DtypeName kAliases[] = {
    {c10::ScalarType::Float, "float"}, {c10::ScalarType::Double, "double"},
    {c10::ScalarType::Half, "half"},   {c10::ScalarType::Long, "long"},
    {c10::ScalarType::Int, "int"},     {c10::ScalarType::Short, "short"},
    {c10::ScalarType::ComplexFloat, "cfloat"},
};
}  // namespace

std::string dtype_name(c10::ScalarType dtype) {
  for (const DtypeName& d : kNames) {
    if (d.dtype == dtype) return d.name;
  }
  return c10::toString(dtype);
}

c10::ScalarType parse_dtype(const std::string& name) {
  std::string n = name;
  if (n.rfind("torch.", 0) == 0) n = n.substr(6);
  for (const DtypeName& d : kNames) {
    if (n == d.name) return d.dtype;
  }
  for (const DtypeName& d : kAliases) {
    if (n == d.name) return d.dtype;
  }
  std::string accepted;
  for (const DtypeName& d : kNames) accepted += std::string(accepted.empty() ? "" : ", ") + d.name;
  throw InvalidArgument("unknown dtype '" + name + "' (expected one of " + accepted + ")");
}

const std::vector<c10::ScalarType>& supported_dtypes() {
  static const std::vector<c10::ScalarType> all = [] {
    std::vector<c10::ScalarType> v;
    for (const DtypeName& d : kNames) v.push_back(d.dtype);
    return v;
  }();
  return all;
}

}  // namespace shardsim
