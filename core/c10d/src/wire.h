// How a tensor of any dtype travels through a backend: as itself when the
// backend carries its dtype, else as its raw bytes (uint8). No collective
// here reduces on the wire, so bytes lose nothing.
//
// Vocabulary: an element is one value of the user's dtype; a wire element is
// one value of the wire dtype; `factor` wire elements make one element.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace shardsim::c10d {

enum class BackendKind { kGloo, kNccl };

// True when `backend` moves `dtype` as itself.
bool carries_natively(BackendKind backend, at::ScalarType dtype);

struct WireFormat {
  at::ScalarType dtype;  // the dtype on the wire
  int64_t factor;        // wire elements per element
};

// How `dtype` travels over `backend`. Throws InvalidArgument for dtypes that
// have no fixed byte layout (quantized types).
WireFormat wire_format(BackendKind backend, at::ScalarType dtype);

// `t`'s elements, flattened in row-major order, as a 1-D contiguous tensor of
// the wire dtype on `device` (a view of `t` when `t` is contiguous and on
// `device`).
at::Tensor to_wire(const at::Tensor& t, const WireFormat& format, c10::Device device);

// The first `count` elements of the 1-D wire tensor `wire`, reinterpreted as
// `dtype` (a view). REQUIRES: `wire` starts at its storage's offset 0 or at a
// multiple of the element size.
at::Tensor from_wire(const at::Tensor& wire, const WireFormat& format, at::ScalarType dtype,
                     int64_t count);

// A zero-filled 1-D wire tensor able to hold `count` elements (at least one
// wire element: Gloo in libtorch 1.13 fails with SIGFPE on empty tensors).
at::Tensor wire_buffer(const WireFormat& format, int64_t count, c10::Device device);

}  // namespace shardsim::c10d
