// safetensors files in and out (https://github.com/huggingface/safetensors).
//
// A file is: an 8-byte little-endian unsigned header length N, N bytes of
// JSON header, then the data buffer. The header is an object
//   {"<tensor>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//    ..., "__metadata__": {"<key>": "<string>", ...}}
// with offsets relative to the start of the data buffer, little-endian,
// row-major data.
//
// Reading validates the whole header before any data byte is used: N at
// most 100 MB (the reference reader's limit) and within the file; the header
// starts with '{' and is a JSON object without duplicate keys; each dtype is
// known; shape sizes are non-negative integers; numel × element size
// (checked arithmetic) equals end - begin; offsets lie in the data buffer;
// and, as the format requires ("the byte buffer needs to be entirely indexed
// and cannot contain holes"), the tensors tile the buffer exactly: no two
// overlap and no byte belongs to no tensor. BOOL bytes must be 0 or 1.
// Unknown fields in a tensor's entry are ignored, as the reference reader
// does. Every violation throws InvalidArgument, one line naming the file,
// the tensor and both sides of the mismatch.
//
// Key order. Reading returns the tensors in data-buffer order (by offset),
// the order the reference reader uses. Writing lays the tensors out as the
// reference writer does, by descending dtype alignment (I64, F64, F32, I32,
// BF16, F16, I16, I8, U8, BOOL) and then by name, lists them in the header in
// that order after "__metadata__", and pads the header with spaces to a
// multiple of 8 bytes so that every tensor's data are aligned. The bytes
// written are those of the reference writer for the same tensors and
// metadata (metadata keys in sorted order).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <c10/core/ScalarType.h>

#include "shardsim/checkpoint/env.h"
#include "shardsim/core/shape.h"
#include "shardsim/core/value.h"

namespace shardsim::checkpoint {

// Free-form string metadata of a file (the header's "__metadata__").
using SafetensorsMetadata = std::map<std::string, std::string>;

// The tensors of one safetensors file (or of a sharded set) and its metadata.
struct SafetensorsContents {
  Mapping tensors;               // name -> contiguous CPU at::Tensor, in data-buffer order
  SafetensorsMetadata metadata;  // "__metadata__"; empty when absent
};

// One tensor's entry in a validated header.
struct SafetensorsEntry {
  std::string name;
  c10::ScalarType dtype = c10::ScalarType::Float;
  Shape shape;
  int64_t begin = 0;  // offset of the first byte in the data buffer
  int64_t end = 0;    // one past the last byte
};

// A validated header: where the data buffer starts and what it holds.
struct SafetensorsHeader {
  int64_t header_length = 0;              // N, the JSON bytes after the 8-byte length
  int64_t data_length = 0;                // bytes of the data buffer (file size - 8 - N)
  std::vector<SafetensorsEntry> entries;  // sorted by offset
  SafetensorsMetadata metadata;
  // Offset of the data buffer in the file.
  int64_t data_offset() const { return 8 + header_length; }
};

// The format's name of `dtype` ("F32", "BF16", ...); throws InvalidArgument
// for a dtype safetensors cannot store (complex).
std::string safetensors_dtype_name(c10::ScalarType dtype);
// The dtype named `name`; throws InvalidArgument listing the known names.
c10::ScalarType parse_safetensors_dtype(const std::string& name);

// Reads and validates the header of `path` without reading the data buffer.
SafetensorsHeader read_safetensors_header(Env& env, const std::string& path);
// Reads and validates `path` and returns its tensors and metadata.
SafetensorsContents read_safetensors(Env& env, const std::string& path);
// Decodes a whole file held in `bytes`; `file` names it in messages.
SafetensorsContents decode_safetensors(std::string_view bytes, const std::string& file);

// The bytes of a file holding `tensors` (every value an at::Tensor of a
// dtype safetensors stores, on any device, any strides; tensors that share
// storage are stored as separate copies) and `metadata`. Throws
// InvalidArgument naming the key of a value that is not such a tensor;
// `file` names the destination in messages.
std::string encode_safetensors(const Mapping& tensors, const SafetensorsMetadata& metadata,
                               const std::string& file = "<memory>");
// Encodes as above and writes `path` atomically through `env`.
void write_safetensors(Env& env, const std::string& path, const Mapping& tensors,
                       const SafetensorsMetadata& metadata = {});

}  // namespace shardsim::checkpoint
