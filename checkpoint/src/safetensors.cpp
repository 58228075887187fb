// Reading and writing single safetensors files.
#include "shardsim/checkpoint/safetensors.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "safetensors_detail.h"
#include "shardsim/core/checked.h"
#include "shardsim/core/dtype.h"
#include "shardsim/core/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data are little-endian; the tensor bytes are copied as they are");

namespace shardsim::checkpoint {

namespace detail {

namespace {

// Throws unless every byte of a BOOL tensor's data is 0 or 1 (other bytes
// would make an at::Tensor of bool whose values are undefined).
void check_bool_bytes(const SafetensorsEntry& e, const char* bytes, const std::string& file) {
  if (e.dtype != c10::ScalarType::Bool) return;
  for (int64_t i = 0; i < e.end - e.begin; ++i) {
    SHARDSIM_CHECK_ARG(bytes[i] == 0 || bytes[i] == 1, file, ": tensor '", e.name,
                       "': BOOL element ", i, " is byte ",
                       static_cast<int>(static_cast<unsigned char>(bytes[i])), ", not 0 or 1");
  }
}

}  // namespace

Mapping tensors_from_data(const SafetensorsHeader& header, std::string_view data,
                          const std::string& file) {
  SHARDSIM_CHECK(static_cast<int64_t>(data.size()) == header.data_length,
                 file, ": the data buffer is ", data.size(), " bytes, the header says ",
                 header.data_length);
  Mapping tensors;
  for (const SafetensorsEntry& e : header.entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
    const char* source = data.data() + e.begin;
    check_bool_bytes(e, source, file);
    if (e.end > e.begin) std::memcpy(t.data_ptr(), source, static_cast<size_t>(e.end - e.begin));
    tensors.set(e.name, Value(std::move(t)));
  }
  return tensors;
}

int64_t checked_tensor_bytes(const std::string& name, const Value& v, const std::string& file) {
  const std::string where = file + ": key '" + name + "'";
  SHARDSIM_CHECK_ARG(name != "__metadata__", where, " is reserved for the header's metadata");
  SHARDSIM_CHECK_ARG(v.is_tensor(), where, " is a ", v.type_name(),
                     "; a safetensors file holds only plain tensors");
  const at::Tensor& t = v.tensor();
  SHARDSIM_CHECK_ARG(t.defined(), where, " is an undefined tensor");
  SHARDSIM_CHECK_ARG(t.layout() == at::kStrided, where, " has layout ", t.layout(),
                     "; only strided tensors can be written");
  try {
    safetensors_dtype_name(t.scalar_type());
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(where + ": " + e.what());
  }
  return checked_mul(t.numel(), safetensors_element_size(t.scalar_type()), where + ": bytes");
}

}  // namespace detail

namespace {

// A tensor to write, as contiguous CPU bytes.
struct TensorToWrite {
  std::string name;
  at::Tensor contiguous;  // CPU, contiguous, strided
  int64_t bytes = 0;
};

std::vector<TensorToWrite> tensors_to_write(const Mapping& tensors, const std::string& file) {
  std::vector<TensorToWrite> out;
  out.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::string& name = tensors.key(i);
    const int64_t bytes = detail::checked_tensor_bytes(name, tensors.value(i), file);
    const at::Tensor& t = tensors.value(i).tensor();
    TensorToWrite w;
    w.name = name;
    w.contiguous = t.detach().to(at::kCPU).contiguous();
    w.bytes = bytes;
    out.push_back(std::move(w));
  }
  // The reference writer's layout: descending alignment, then by name.
  std::sort(out.begin(), out.end(), [](const TensorToWrite& a, const TensorToWrite& b) {
    const int ra = detail::safetensors_alignment_rank(a.contiguous.scalar_type());
    const int rb = detail::safetensors_alignment_rank(b.contiguous.scalar_type());
    if (ra != rb) return ra > rb;
    return a.name < b.name;
  });
  return out;
}

}  // namespace

SafetensorsHeader read_safetensors_header(Env& env, const std::string& path) {
  const int64_t size = env.file_size(path);
  const std::string first8 = size >= 8 ? env.read_range(path, 0, 8) : std::string();
  const int64_t n = detail::header_length_from_prefix(first8, size, path);
  const std::string json = env.read_range(path, 8, n);
  return detail::parse_header(json, size - 8 - n, path);
}

SafetensorsContents read_safetensors(Env& env, const std::string& path) {
  SafetensorsHeader header = read_safetensors_header(env, path);
  SafetensorsContents contents;
  // Each tensor's bytes go straight from the file into its memory.
  for (const SafetensorsEntry& e : header.entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
    const int64_t bytes = e.end - e.begin;
    if (bytes > 0) env.read_range_into(path, header.data_offset() + e.begin, bytes, t.data_ptr());
    detail::check_bool_bytes(e, static_cast<const char*>(t.data_ptr()), path);
    contents.tensors.set(e.name, Value(std::move(t)));
  }
  contents.metadata = std::move(header.metadata);
  return contents;
}

SafetensorsContents decode_safetensors(std::string_view bytes, const std::string& file) {
  const int64_t size = static_cast<int64_t>(bytes.size());
  const int64_t n = detail::header_length_from_prefix(bytes.substr(0, size >= 8 ? 8 : 0), size, file);
  SafetensorsHeader header =
      detail::parse_header(bytes.substr(8, static_cast<size_t>(n)), size - 8 - n, file);
  SafetensorsContents contents;
  contents.tensors = detail::tensors_from_data(
      header, bytes.substr(static_cast<size_t>(header.data_offset())), file);
  contents.metadata = std::move(header.metadata);
  return contents;
}

std::string encode_safetensors(const Mapping& tensors, const SafetensorsMetadata& metadata,
                               const std::string& file) {
  const std::vector<TensorToWrite> layout = tensors_to_write(tensors, file);

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) m[key] = value;
    header["__metadata__"] = std::move(m);
  }
  int64_t offset = 0;
  for (const TensorToWrite& w : layout) {
    const int64_t end = checked_add(offset, w.bytes, file + ": data buffer size");
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = safetensors_dtype_name(w.contiguous.scalar_type());
    entry["shape"] = w.contiguous.sizes().vec();
    entry["data_offsets"] = {offset, end};
    header[w.name] = std::move(entry);
    offset = end;
  }
  std::string json;
  try {
    json = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(file + ": a key or metadata string is not valid UTF-8: " + e.what());
  }
  // Pad with spaces so that the data buffer starts 8-byte aligned.
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(static_cast<size_t>(checked_add(static_cast<int64_t>(8 + json.size()), offset,
                                              file + ": file size")));
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += json;
  for (const TensorToWrite& w : layout) {
    if (w.bytes == 0) continue;
    out.append(static_cast<const char*>(w.contiguous.data_ptr()), static_cast<size_t>(w.bytes));
  }
  return out;
}

void write_safetensors(Env& env, const std::string& path, const Mapping& tensors,
                       const SafetensorsMetadata& metadata) {
  env.write_file_atomic(path, encode_safetensors(tensors, metadata, path));
}

}  // namespace shardsim::checkpoint
