// Internals shared by the safetensors reader, writer and index code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <c10/core/ScalarType.h>

#include <nlohmann/json.hpp>

#include "shardsim/checkpoint/safetensors.h"

namespace shardsim::checkpoint::detail {

// The reference reader's limit on the header length N.
constexpr int64_t kMaxHeaderLength = 100 * 1000 * 1000;

// Bytes per element of a dtype safetensors stores.
int64_t safetensors_element_size(c10::ScalarType dtype);
// Position of `dtype` in the reference writer's alignment order (larger first).
int safetensors_alignment_rank(c10::ScalarType dtype);

// N from the first 8 bytes of a file of `file_size` bytes, checked against
// the limit and the file size. REQUIRES: first8.size() == 8 unless file_size < 8.
int64_t header_length_from_prefix(std::string_view first8, int64_t file_size,
                                  const std::string& file);

// Parses JSON text, rejecting duplicate keys in any object (safetensors
// disallows them; nlohmann would silently keep the last). Errors read
// "<what> is not valid JSON: ..." and "<what> has the key 'k' more than once".
nlohmann::json parse_json_without_duplicates(std::string_view text, const std::string& what);

// Parses and validates the JSON header (N bytes) against a data buffer of
// `data_length` bytes.
SafetensorsHeader parse_header(std::string_view json, int64_t data_length, const std::string& file);

// Tensors from a validated header and its data buffer.
Mapping tensors_from_data(const SafetensorsHeader& header, std::string_view data,
                          const std::string& file);

// Bytes of the data of tensor value `v` stored under `name`; throws
// InvalidArgument naming `file` and `name` when `v` cannot be written
// (not a plain strided tensor, or a dtype safetensors lacks).
int64_t checked_tensor_bytes(const std::string& name, const Value& v, const std::string& file);

}  // namespace shardsim::checkpoint::detail
