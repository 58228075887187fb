#include "wire.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "shardsim/core/error.h"

namespace shardsim::c10d {

bool carries_natively(BackendKind backend, at::ScalarType dtype) {
  switch (backend) {
    case BackendKind::kGloo:
      // Measured on libtorch 1.13: all_gather, broadcast and scatter accept
      // exactly these; bfloat16, complex, bool and int16 fail with "Invalid
      // scalar type". Later Gloo adds bfloat16 and bool; this list is the
      // part every supported version carries.
      switch (dtype) {
        case at::kFloat:
        case at::kDouble:
        case at::kHalf:
        case at::kByte:
        case at::kChar:
        case at::kInt:
        case at::kLong:
          return true;
        default:
          return false;
      }
    case BackendKind::kNccl:
      // ncclDataType_t has these (bfloat16 since NCCL 2.10); c10d maps bool to
      // uint8 itself, complex it rejects.
      switch (dtype) {
        case at::kFloat:
        case at::kDouble:
        case at::kHalf:
        case at::kBFloat16:
        case at::kByte:
        case at::kChar:
        case at::kInt:
        case at::kLong:
          return true;
        default:
          return false;
      }
  }
  return false;
}

WireFormat wire_format(BackendKind backend, at::ScalarType dtype) {
  SHARDSIM_CHECK_ARG(!c10::isQIntType(dtype), "c10d: dtype ", c10::toString(dtype),
                     " cannot travel (quantized tensors have no plain byte layout)");
  if (carries_natively(backend, dtype)) return {dtype, 1};
  return {at::kByte, static_cast<int64_t>(c10::elementSize(dtype))};
}

at::Tensor to_wire(const at::Tensor& t, const WireFormat& format, c10::Device device) {
  SHARDSIM_CHECK_ARG(t.layout() == c10::kStrided, "c10d: only strided tensors travel, got ",
                     t.layout());
  at::Tensor flat = t.reshape({-1});
  if (!flat.is_contiguous()) flat = flat.contiguous();
  if (format.dtype != t.scalar_type()) flat = flat.view(format.dtype);
  return flat.device() == device ? flat : flat.to(device);
}

at::Tensor from_wire(const at::Tensor& wire, const WireFormat& format, at::ScalarType dtype,
                     int64_t count) {
  at::Tensor part = wire.narrow(0, 0, count * format.factor);
  return format.dtype == dtype ? part : part.view(dtype);
}

at::Tensor wire_buffer(const WireFormat& format, int64_t count, c10::Device device) {
  const int64_t n = std::max<int64_t>(1, count * format.factor);
  return at::zeros({n}, at::TensorOptions().dtype(format.dtype).device(device));
}

}  // namespace shardsim::c10d
