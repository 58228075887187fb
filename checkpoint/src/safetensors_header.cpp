// Validation of safetensors headers: everything about a file is checked here
// before a byte of its data buffer is used.
//
// Vocabulary: the *header length* N is the 8-byte little-endian prefix; the
// *header* is the N bytes of JSON after it; the *data buffer* is the rest of
// the file, and an entry's *offsets* [begin, end) are relative to its start.
#include <algorithm>
#include <limits>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "safetensors_detail.h"
#include "shardsim/core/checked.h"
#include "shardsim/core/dtype.h"
#include "shardsim/core/error.h"

namespace shardsim::checkpoint {

namespace {

struct DtypeInfo {
  const char* name;
  c10::ScalarType dtype;
  int64_t size;
  int alignment_rank;  // the reference writer's enum position: larger is laid out first
};

const DtypeInfo kDtypes[] = {
    {"F64", c10::ScalarType::Double, 8, 12},  {"F32", c10::ScalarType::Float, 4, 11},
    {"F16", c10::ScalarType::Half, 2, 7},     {"BF16", c10::ScalarType::BFloat16, 2, 8},
    {"I64", c10::ScalarType::Long, 8, 13},    {"I32", c10::ScalarType::Int, 4, 9},
    {"I16", c10::ScalarType::Short, 2, 5},    {"I8", c10::ScalarType::Char, 1, 2},
    {"U8", c10::ScalarType::Byte, 1, 1},      {"BOOL", c10::ScalarType::Bool, 1, 0},
};

const DtypeInfo* find_dtype(c10::ScalarType dtype) {
  for (const DtypeInfo& d : kDtypes) {
    if (d.dtype == dtype) return &d;
  }
  return nullptr;
}

std::string known_dtype_names() {
  std::string out;
  for (const DtypeInfo& d : kDtypes) out += std::string(out.empty() ? "" : ", ") + d.name;
  return out;
}

// "'<name>'" with control characters escaped, for messages.
std::string quoted_name(const std::string& name) {
  std::string out = "'";
  for (unsigned char ch : name) {
    if (ch < 0x20 || ch == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[ch >> 4];
      out += hex[ch & 15];
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "'";
}

const char* json_kind(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::number_float: return "a non-integer number";
    default: return "a number";
  }
}

// A JSON integer in [0, INT64_MAX], or InvalidArgument "<what>: ...".
int64_t non_negative_int64(const nlohmann::json& j, const std::string& what) {
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    SHARDSIM_CHECK_ARG(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), what, " ",
                       v, " does not fit in a 64-bit integer");
    return static_cast<int64_t>(v);
  }
  if (j.is_number_integer()) {
    const int64_t v = j.get<int64_t>();
    SHARDSIM_CHECK_ARG(v >= 0, what, " ", v, " is negative");
    return v;
  }
  throw InvalidArgument(what + " is " + json_kind(j) + " (" + j.dump() + "), not an integer");
}

SafetensorsMetadata parse_metadata(const nlohmann::json& j, const std::string& file) {
  SafetensorsMetadata metadata;
  if (j.is_null()) return metadata;
  SHARDSIM_CHECK_ARG(j.is_object(), file, ": __metadata__ is ", json_kind(j),
                     ", not an object of strings");
  for (auto it = j.begin(); it != j.end(); ++it) {
    SHARDSIM_CHECK_ARG(it.value().is_string(), file, ": __metadata__ ", quoted_name(it.key()), " is ",
                       json_kind(it.value()), " (", it.value().dump(), "), not a string");
    metadata[it.key()] = it.value().get<std::string>();
  }
  return metadata;
}

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& j,
                             int64_t data_length, const std::string& file) {
  const std::string where = file + ": tensor " + quoted_name(name);
  SHARDSIM_CHECK_ARG(j.is_object(), where, ": its entry is ", json_kind(j),
                     ", not an object with dtype, shape and data_offsets");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    SHARDSIM_CHECK_ARG(j.contains(field), where, ": its entry has no \"", field, "\"");
  }
  SafetensorsEntry entry;
  entry.name = name;

  const nlohmann::json& dtype = j.at("dtype");
  SHARDSIM_CHECK_ARG(dtype.is_string(), where, ": dtype is ", json_kind(dtype), ", not a string");
  try {
    entry.dtype = parse_safetensors_dtype(dtype.get<std::string>());
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(where + ": " + e.what());
  }

  const nlohmann::json& shape = j.at("shape");
  SHARDSIM_CHECK_ARG(shape.is_array(), where, ": shape is ", json_kind(shape), ", not an array");
  for (size_t i = 0; i < shape.size(); ++i) {
    entry.shape.push_back(non_negative_int64(shape[i], where + ": shape entry " + std::to_string(i)));
  }
  SHARDSIM_CHECK_ARG(extent_fits_int64(entry.shape), where, ": shape ", shape_str(entry.shape),
                     " has more elements than a 64-bit integer holds");

  const nlohmann::json& offsets = j.at("data_offsets");
  SHARDSIM_CHECK_ARG(offsets.is_array() && offsets.size() == 2, where, ": data_offsets is ",
                     offsets.dump(), ", not [begin, end]");
  entry.begin = non_negative_int64(offsets[0], where + ": data_offsets begin");
  entry.end = non_negative_int64(offsets[1], where + ": data_offsets end");
  SHARDSIM_CHECK_ARG(entry.begin <= entry.end, where, ": data_offsets [", entry.begin, ", ",
                     entry.end, "] end before they begin");

  const int64_t size = detail::safetensors_element_size(entry.dtype);
  const int64_t needed = checked_mul(numel_of(entry.shape), size,
                                     where + ": numel of shape " + shape_str(entry.shape) +
                                         " times the element size");
  SHARDSIM_CHECK_ARG(needed == entry.end - entry.begin, where, ": dtype ",
                     dtype.get<std::string>(), " and shape ", shape_str(entry.shape), " need ",
                     needed, " bytes but data_offsets [", entry.begin, ", ", entry.end, "] hold ",
                     entry.end - entry.begin);
  SHARDSIM_CHECK_ARG(entry.end <= data_length, where, ": data_offsets [", entry.begin, ", ",
                     entry.end, "] run past the end of the data buffer (", data_length, " bytes)");
  return entry;
}

}  // namespace

std::string safetensors_dtype_name(c10::ScalarType dtype) {
  const DtypeInfo* d = find_dtype(dtype);
  SHARDSIM_CHECK_ARG(d != nullptr, "safetensors cannot store dtype ", dtype_name(dtype),
                     " (it stores ", known_dtype_names(), ")");
  return d->name;
}

c10::ScalarType parse_safetensors_dtype(const std::string& name) {
  for (const DtypeInfo& d : kDtypes) {
    if (name == d.name) return d.dtype;
  }
  throw InvalidArgument("unknown dtype " + quoted_name(name) + " (expected one of " +
                        known_dtype_names() + ")");
}

namespace detail {

nlohmann::json parse_json_without_duplicates(std::string_view text, const std::string& what) {
  std::vector<std::set<std::string>> keys_of_open_objects;
  std::string duplicate;
  auto callback = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    switch (event) {
      case nlohmann::json::parse_event_t::object_start:
        keys_of_open_objects.emplace_back();
        break;
      case nlohmann::json::parse_event_t::object_end:
        if (!keys_of_open_objects.empty()) keys_of_open_objects.pop_back();
        break;
      case nlohmann::json::parse_event_t::key:
        if (!keys_of_open_objects.empty() &&
            !keys_of_open_objects.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  nlohmann::json parsed_text;
  try {
    parsed_text = nlohmann::json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(what + " is not valid JSON: " + e.what());
  }
  SHARDSIM_CHECK_ARG(duplicate.empty(), what, " has the key ", quoted_name(duplicate),
                     " more than once");
  return parsed_text;
}

int64_t safetensors_element_size(c10::ScalarType dtype) {
  const DtypeInfo* d = find_dtype(dtype);
  SHARDSIM_CHECK(d != nullptr, "safetensors_element_size: unsupported dtype ", dtype_name(dtype));
  return d->size;
}

int safetensors_alignment_rank(c10::ScalarType dtype) {
  const DtypeInfo* d = find_dtype(dtype);
  SHARDSIM_CHECK(d != nullptr, "safetensors_alignment_rank: unsupported dtype ", dtype_name(dtype));
  return d->alignment_rank;
}

int64_t header_length_from_prefix(std::string_view first8, int64_t file_size,
                                  const std::string& file) {
  SHARDSIM_CHECK_ARG(file_size >= 8, file, ": the file is ", file_size,
                     " bytes, too short for the 8-byte header length");
  SHARDSIM_CHECK(first8.size() == 8, "header_length_from_prefix: got ", first8.size(), " bytes");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(first8[static_cast<size_t>(i)]);
  SHARDSIM_CHECK_ARG(n <= static_cast<uint64_t>(kMaxHeaderLength), file, ": header length ", n,
                     " is over the limit of ", kMaxHeaderLength, " bytes");
  const int64_t length = static_cast<int64_t>(n);
  SHARDSIM_CHECK_ARG(length <= file_size - 8, file, ": header length ", length,
                     " runs past the end of the file (", file_size, " bytes leave ",
                     file_size - 8, " after the 8-byte length)");
  return length;
}

SafetensorsHeader parse_header(std::string_view json, int64_t data_length, const std::string& file) {
  SafetensorsHeader header;
  header.header_length = static_cast<int64_t>(json.size());
  header.data_length = data_length;
  SHARDSIM_CHECK_ARG(!json.empty() && json[0] == '{', file,
                     ": the header does not start with '{' (first byte ",
                     json.empty() ? std::string("none: it is empty")
                                  : std::to_string(static_cast<unsigned char>(json[0])),
                     ")");
  const nlohmann::json j = detail::parse_json_without_duplicates(json, file + ": the header");
  SHARDSIM_CHECK_ARG(j.is_object(), file, ": the header is ", json_kind(j), ", not an object");

  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      header.metadata = parse_metadata(it.value(), file);
    } else {
      header.entries.push_back(parse_entry(it.key(), it.value(), data_length, file));
    }
  }

  // The entries must tile [0, data_length): sorted by offsets, each begins
  // where the one before ended.
  std::sort(header.entries.begin(), header.entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              if (a.begin != b.begin) return a.begin < b.begin;
              if (a.end != b.end) return a.end < b.end;
              return a.name < b.name;
            });
  int64_t covered = 0;  // every byte before this belongs to a tensor
  const SafetensorsEntry* last = nullptr;
  for (const SafetensorsEntry& e : header.entries) {
    if (e.begin < covered) {
      throw InvalidArgument(file + ": tensor " + quoted_name(e.name) + " (data_offsets [" +
                            std::to_string(e.begin) + ", " + std::to_string(e.end) +
                            "]) overlaps tensor " + quoted_name(last->name) + " (data_offsets [" +
                            std::to_string(last->begin) + ", " + std::to_string(last->end) + "])");
    }
    if (e.begin > covered) {
      throw InvalidArgument(file + ": bytes [" + std::to_string(covered) + ", " +
                            std::to_string(e.begin) + ") of the data buffer belong to no tensor " +
                            "(a hole " + (last ? "between tensor " + quoted_name(last->name) + " and "
                                               : std::string("before ")) +
                            "tensor " + quoted_name(e.name) + ")");
    }
    covered = e.end;
    last = &e;
  }
  SHARDSIM_CHECK_ARG(covered == data_length, file, ": bytes [", covered, ", ", data_length,
                     ") at the end of the data buffer belong to no tensor (",
                     last ? "the last tensor, " + quoted_name(last->name) + ", ends at " +
                                std::to_string(covered)
                          : std::string("the header lists no tensor"),
                     ")");
  return header;
}

}  // namespace detail
}  // namespace shardsim::checkpoint
