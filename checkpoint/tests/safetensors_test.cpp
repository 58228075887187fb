// safetensors single files. The oracles are independent of the code under
// test: files are byte strings built here by hand (little-endian length,
// JSON text, raw little-endian element bytes written as hex), the writer is
// held to the bytes of the reference writer's own test vectors, and round
// trips compare with at::equal plus dtype and shape.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>

#include <nlohmann/json.hpp>

#include "shardsim/checkpoint/memory_env.h"
#include "shardsim/checkpoint/safetensors.h"
#include "shardsim/core/error.h"

namespace shardsim::checkpoint {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// 8-byte little-endian unsigned integer.
std::string le64(uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out;
}

// `width` little-endian bytes of each value.
std::string le_bytes(int width, std::initializer_list<uint64_t> values) {
  std::string out;
  for (uint64_t v : values) {
    for (int i = 0; i < width; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  return out;
}

// A file: length prefix, the header as given, the data.
std::string file_of(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// The InvalidArgument message of decoding `bytes` as "bad.safetensors".
std::string decode_error(const std::string& bytes) {
  try {
    decode_safetensors(bytes, "bad.safetensors");
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  ADD_FAILURE() << "decoding did not throw InvalidArgument";
  return "";
}

// Asserts that `message` names the file and contains each of `parts`.
void expect_message(const std::string& message, std::initializer_list<const char*> parts) {
  EXPECT_TRUE(contains(message, "bad.safetensors")) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  for (const char* part : parts) EXPECT_TRUE(contains(message, part)) << "missing '" << part << "' in: " << message;
}

void expect_same_tensor(const at::Tensor& actual, const at::Tensor& expected, const std::string& key) {
  ASSERT_EQ(actual.scalar_type(), expected.scalar_type()) << key;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << key;
  EXPECT_TRUE(at::equal(actual, expected)) << key;
  EXPECT_TRUE(actual.device().is_cpu()) << key;
  EXPECT_TRUE(actual.is_contiguous()) << key;
}

// --- Reading hand-built files ------------------------------------------------

TEST(SafetensorsReadTest, DecodesAHandBuiltFileInOffsetOrder) {
  const std::string header =
      R"({"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}})";
  // a = [1.0, -2.0] as float32 bits, b = [7, -1] as int32.
  const std::string data = le_bytes(4, {0x3F800000, 0xC0000000}) + le_bytes(4, {7, 0xFFFFFFFF});
  SafetensorsContents c = decode_safetensors(file_of(header, data), "hand.safetensors");
  ASSERT_EQ(c.tensors.keys(), (std::vector<std::string>{"a", "b"}));
  const at::Tensor& a = c.tensors.at("a").tensor();
  const at::Tensor& b = c.tensors.at("b").tensor();
  ASSERT_EQ(a.scalar_type(), at::kFloat);
  ASSERT_EQ(a.sizes(), at::IntArrayRef({2}));
  EXPECT_EQ(a[0].item<float>(), 1.0f);
  EXPECT_EQ(a[1].item<float>(), -2.0f);
  ASSERT_EQ(b.scalar_type(), at::kInt);
  EXPECT_EQ(b[0].item<int32_t>(), 7);
  EXPECT_EQ(b[1].item<int32_t>(), -1);
  EXPECT_EQ(c.metadata, (SafetensorsMetadata{{"format", "pt"}}));
}

TEST(SafetensorsReadTest, DecodesEveryDtypeFromItsBytes) {
  const std::string header =
      R"({"f64":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
      R"("i64":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},)"
      R"("f32":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},)"
      R"("i32":{"dtype":"I32","shape":[1],"data_offsets":[20,24]},)"
      R"("f16":{"dtype":"F16","shape":[1],"data_offsets":[24,26]},)"
      R"("bf16":{"dtype":"BF16","shape":[1],"data_offsets":[26,28]},)"
      R"("i16":{"dtype":"I16","shape":[1],"data_offsets":[28,30]},)"
      R"("i8":{"dtype":"I8","shape":[1],"data_offsets":[30,31]},)"
      R"("u8":{"dtype":"U8","shape":[1],"data_offsets":[31,32]},)"
      R"("flag":{"dtype":"BOOL","shape":[2],"data_offsets":[32,34]}})";
  const std::string data = le_bytes(8, {0x3FF8000000000000ull}) +      // 1.5
                           le_bytes(8, {0xFFFFFFFFFFFFFFFEull}) +      // -2
                           le_bytes(4, {0x40200000}) +                 // 2.5
                           le_bytes(4, {0xFFFFFFFD}) +                 // -3
                           le_bytes(2, {0x3E00}) +                     // 1.5 in half
                           le_bytes(2, {0xC040}) +                     // -3.0 in bfloat16
                           le_bytes(2, {0xFFFC}) +                     // -4
                           le_bytes(1, {0xFB}) +                       // -5
                           le_bytes(1, {200}) + le_bytes(1, {1, 0});
  SafetensorsContents c = decode_safetensors(file_of(header, data), "dtypes.safetensors");
  const Mapping& t = c.tensors;
  EXPECT_EQ(t.at("f64").tensor().scalar_type(), at::kDouble);
  EXPECT_EQ(t.at("f64").tensor().item<double>(), 1.5);
  EXPECT_EQ(t.at("i64").tensor().item<int64_t>(), -2);
  EXPECT_EQ(t.at("f32").tensor().item<float>(), 2.5f);
  EXPECT_EQ(t.at("i32").tensor().item<int32_t>(), -3);
  EXPECT_EQ(t.at("f16").tensor().scalar_type(), at::kHalf);
  EXPECT_EQ(t.at("f16").tensor().to(at::kFloat).item<float>(), 1.5f);
  EXPECT_EQ(t.at("bf16").tensor().scalar_type(), at::kBFloat16);
  EXPECT_EQ(t.at("bf16").tensor().to(at::kFloat).item<float>(), -3.0f);
  EXPECT_EQ(t.at("i16").tensor().item<int16_t>(), -4);
  EXPECT_EQ(t.at("i8").tensor().item<int8_t>(), -5);
  EXPECT_EQ(t.at("u8").tensor().item<uint8_t>(), 200);
  EXPECT_EQ(t.at("flag").tensor().scalar_type(), at::kBool);
  EXPECT_TRUE(t.at("flag").tensor()[0].item<bool>());
  EXPECT_FALSE(t.at("flag").tensor()[1].item<bool>());
  EXPECT_EQ(t.keys(), (std::vector<std::string>{"f64", "i64", "f32", "i32", "f16", "bf16", "i16",
                                                "i8", "u8", "flag"}));
}

TEST(SafetensorsReadTest, DecodesZeroDimAndEmptyTensorsAndPaddedHeaders) {
  const std::string header =
      R"({"scalar":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("empty":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]}}       )";
  SafetensorsContents c =
      decode_safetensors(file_of(header, le_bytes(4, {0x40800000})), "zero.safetensors");
  EXPECT_EQ(c.tensors.at("scalar").tensor().dim(), 0);
  EXPECT_EQ(c.tensors.at("scalar").tensor().item<float>(), 4.0f);
  EXPECT_EQ(c.tensors.at("empty").tensor().sizes(), at::IntArrayRef({0, 3}));
  EXPECT_TRUE(c.metadata.empty());
}

TEST(SafetensorsReadTest, ReadsThroughTheEnvAndReadsHeadersAlone) {
  MemoryEnv env;
  const std::string header = R"({"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})";
  env.write_file_atomic("w.safetensors", file_of(header, "\x01\x02\x03"));
  SafetensorsHeader h = read_safetensors_header(env, "w.safetensors");
  EXPECT_EQ(h.header_length, static_cast<int64_t>(header.size()));
  EXPECT_EQ(h.data_offset(), 8 + static_cast<int64_t>(header.size()));
  EXPECT_EQ(h.data_length, 3);
  ASSERT_EQ(h.entries.size(), 1u);
  EXPECT_EQ(h.entries[0].name, "w");
  EXPECT_EQ(h.entries[0].dtype, at::kByte);
  EXPECT_EQ(h.entries[0].shape, (Shape{3}));
  EXPECT_EQ(h.entries[0].end, 3);
  SafetensorsContents c = read_safetensors(env, "w.safetensors");
  EXPECT_TRUE(at::equal(c.tensors.at("w").tensor(),
                        at::tensor({1, 2, 3}, at::TensorOptions().dtype(at::kByte))));
  EXPECT_THROW(read_safetensors(env, "missing.safetensors"), IoError);
}

// An Env that records which byte ranges are read, over a MemoryEnv.
class RecordingEnv final : public Env {
 public:
  std::string read_file(const std::string& path) override {
    whole_file_reads += 1;
    return base.read_file(path);
  }
  std::string read_range(const std::string& path, int64_t offset, int64_t length) override {
    ranges.emplace_back(offset, offset + length);
    return base.read_range(path, offset, length);
  }
  int64_t file_size(const std::string& path) override { return base.file_size(path); }
  bool exists(const std::string& path) override { return base.exists(path); }
  void write_file_atomic(const std::string& path, std::string_view data) override {
    base.write_file_atomic(path, data);
  }
  std::vector<std::string> list_dir(const std::string& path) override { return base.list_dir(path); }
  void create_dirs(const std::string& path) override { base.create_dirs(path); }
  void remove(const std::string& path) override { base.remove(path); }

  MemoryEnv base;
  int whole_file_reads = 0;
  std::vector<std::pair<int64_t, int64_t>> ranges;  // [begin, end) of each read_range
};

TEST(SafetensorsReadTest, ReadsNoDataByteOfAFileWhoseHeaderIsBad) {
  RecordingEnv env;
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,20]}})";  // b needs 16 bytes
  env.base.write_file_atomic("bad.safetensors", file_of(header, std::string(1 << 20, '\x01')));
  EXPECT_THROW(read_safetensors(env, "bad.safetensors"), InvalidArgument);
  EXPECT_EQ(env.whole_file_reads, 0);
  ASSERT_FALSE(env.ranges.empty());
  for (const auto& [begin, end] : env.ranges) {
    EXPECT_LE(end, 8 + static_cast<int64_t>(header.size())) << "read [" << begin << ", " << end << ")";
  }
}

// --- Malformed files: each violation has its own message --------------------

TEST(SafetensorsMalformedTest, FileTooShortForTheLength) {
  expect_message(decode_error(std::string("\x02\0\0\0\0", 5)),
                 {"the file is 5 bytes, too short for the 8-byte header length"});
  MemoryEnv env;
  env.write_file_atomic("bad.safetensors", "abc");
  try {
    read_safetensors(env, "bad.safetensors");
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgument& e) {
    expect_message(e.what(), {"the file is 3 bytes"});
  }
}

TEST(SafetensorsMalformedTest, LengthPastTheEndOfTheFile) {
  expect_message(decode_error(le64(100) + "{}"),
                 {"header length 100 runs past the end of the file (10 bytes leave 2 after the "
                  "8-byte length)"});
  MemoryEnv env;
  env.write_file_atomic("bad.safetensors", le64(100) + "{}");
  try {
    read_safetensors_header(env, "bad.safetensors");
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgument& e) {
    expect_message(e.what(), {"header length 100 runs past the end of the file"});
  }
}

TEST(SafetensorsMalformedTest, LengthOverTheLimit) {
  expect_message(decode_error(le64(200000000) + "{}"),
                 {"header length 200000000 is over the limit of 100000000 bytes"});
  expect_message(decode_error(le64(~uint64_t{0}) + "{}"),
                 {"header length 18446744073709551615 is over the limit"});
}

TEST(SafetensorsMalformedTest, HeaderNotStartingWithABrace) {
  expect_message(decode_error(file_of("[1]     ", "")),
                 {"the header does not start with '{' (first byte 91)"});
  expect_message(decode_error(file_of("", "")), {"does not start with '{'"});
}

TEST(SafetensorsMalformedTest, HeaderNotJson) {
  expect_message(decode_error(file_of(R"({"w": {"dtype": )", "")),
                 {"the header is not valid JSON", "parse error"});
  expect_message(decode_error(file_of("{\"a\":\"\xff\"}", "")), {"the header is not valid JSON"});
}

TEST(SafetensorsMalformedTest, DuplicateKeys) {
  expect_message(decode_error(file_of(
                     R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                     R"("w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                     "x")),
                 {"the header has the key 'w' more than once"});
  expect_message(decode_error(file_of(
                     R"({"w":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}})", "x")),
                 {"the key 'dtype' more than once"});
}

TEST(SafetensorsMalformedTest, EntriesOfTheWrongForm) {
  expect_message(decode_error(file_of(R"({"w":3})", "")),
                 {"tensor 'w': its entry is a number, not an object"});
  expect_message(decode_error(file_of(R"({"w":{"dtype":"F32","shape":[1]}})", "")),
                 {"tensor 'w': its entry has no \"data_offsets\""});
  expect_message(decode_error(file_of(R"({"w":{"dtype":1,"shape":[1],"data_offsets":[0,4]}})",
                                      "abcd")),
                 {"tensor 'w': dtype is a number, not a string"});
  expect_message(
      decode_error(file_of(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", "abcd")),
      {"tensor 'w': data_offsets is [0], not [begin, end]"});
  expect_message(decode_error(file_of(R"([])", "")), {"does not start with '{'"});
}

TEST(SafetensorsMalformedTest, UnknownDtype) {
  expect_message(decode_error(file_of(R"({"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})",
                                      "x")),
                 {"tensor 'w': unknown dtype 'F8' (expected one of F64, F32, F16, BF16, I64, "
                  "I32, I16, I8, U8, BOOL)"});
}

TEST(SafetensorsMalformedTest, BadShapes) {
  expect_message(decode_error(file_of(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})",
                                      "")),
                 {"tensor 'w': shape entry 0 -1 is negative"});
  expect_message(
      decode_error(file_of(R"({"w":{"dtype":"F32","shape":[2, 2.5],"data_offsets":[0,0]}})", "")),
      {"tensor 'w': shape entry 1 is a non-integer number (2.5), not an integer"});
  expect_message(decode_error(file_of(
                     R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})",
                     "")),
                 {"tensor 'w': shape [4294967296, 4294967296] has more elements than a 64-bit "
                  "integer holds"});
  // numel fits, numel * 8 does not.
  expect_message(decode_error(file_of(
                     R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})",
                     "")),
                 {"tensor 'w'", "2305843009213693952 * 8 does not fit in a 64-bit integer"});
}

TEST(SafetensorsMalformedTest, SizeMismatch) {
  expect_message(
      decode_error(file_of(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})",
                           std::string(12, '\0'))),
      {"tensor 'w': dtype F32 and shape [2, 2] need 16 bytes but data_offsets [0, 12] hold 12"});
}

TEST(SafetensorsMalformedTest, OffsetsOutOfBounds) {
  expect_message(
      decode_error(file_of(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                           std::string(8, '\0'))),
      {"tensor 'w': data_offsets [0, 16] run past the end of the data buffer (8 bytes)"});
  expect_message(
      decode_error(file_of(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", "")),
      {"tensor 'w': data_offsets [8, 0] end before they begin"});
  expect_message(decode_error(file_of(
                     R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551615]}})",
                     "")),
                 {"tensor 'w': data_offsets end 18446744073709551615 does not fit in a 64-bit "
                  "integer"});
}

TEST(SafetensorsMalformedTest, OverlappingTensors) {
  expect_message(
      decode_error(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                           std::string(12, '\0'))),
      {"tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' (data_offsets [0, 8])"});
  // The same bytes twice (one way to fake tied weights) is an overlap too.
  expect_message(
      decode_error(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                           std::string(4, '\0'))),
      {"tensor 'b' (data_offsets [0, 4]) overlaps tensor 'a' (data_offsets [0, 4])"});
}

TEST(SafetensorsMalformedTest, HolesInTheDataBuffer) {
  expect_message(
      decode_error(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                           std::string(12, '\0'))),
      {"bytes [4, 8) of the data buffer belong to no tensor (a hole between tensor 'a' and "
       "tensor 'b')"});
  expect_message(decode_error(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                      std::string(8, '\0'))),
                 {"bytes [0, 4) of the data buffer belong to no tensor (a hole before tensor 'a')"});
  expect_message(decode_error(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                      std::string(8, '\0'))),
                 {"bytes [4, 8) at the end of the data buffer belong to no tensor (the last "
                  "tensor, 'a', ends at 4)"});
  expect_message(decode_error(file_of(R"({})", "xyz")),
                 {"bytes [0, 3) at the end of the data buffer belong to no tensor (the header "
                  "lists no tensor)"});
}

TEST(SafetensorsMalformedTest, MetadataAndBoolValues) {
  expect_message(decode_error(file_of(R"({"__metadata__":{"k":1}})", "")),
                 {"__metadata__ 'k' is a number (1), not a string"});
  expect_message(decode_error(file_of(R"({"__metadata__":[]})", "")),
                 {"__metadata__ is an array, not an object of strings"});
  expect_message(decode_error(file_of(R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})",
                                      std::string("\x01\x02", 2))),
                 {"tensor 'm': BOOL element 1 is byte 2, not 0 or 1"});
}

// --- Writing -----------------------------------------------------------------

TEST(SafetensorsWriteTest, WritesTheReferenceWritersBytes) {
  // The reference writer's own test vector: one F32 [1, 2, 3] tensor 0..5.
  const std::string json = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(json.size(), 64u);
  const std::string expected =
      le64(64) + json +
      le_bytes(4, {0x00000000, 0x3F800000, 0x40000000, 0x40400000, 0x40800000, 0x40A00000});
  Mapping m{{"attn.0", at::arange(6, at::kFloat).reshape({1, 2, 3})}};
  EXPECT_EQ(encode_safetensors(m, {}), expected);

  // Its alignment vector: a shorter name, so the header is padded with spaces.
  const std::string json2 = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(json2.size(), 65u);
  Mapping m2{{"attn0", at::arange(6, at::kFloat).reshape({1, 1, 2, 3})}};
  EXPECT_EQ(encode_safetensors(m2, {}),
            le64(72) + json2 + std::string(7, ' ') +
                le_bytes(4, {0x00000000, 0x3F800000, 0x40000000, 0x40400000, 0x40800000,
                             0x40A00000}));
}

TEST(SafetensorsWriteTest, WritesEmptyMappingsAndMetadataFirst) {
  EXPECT_EQ(encode_safetensors(Mapping{}, {}), le64(8) + "{}" + std::string(6, ' '));
  EXPECT_EQ(encode_safetensors(Mapping{}, {{"framework", "pt"}}),
            le64(40) + R"({"__metadata__":{"framework":"pt"}})" + std::string(5, ' '));
}

TEST(SafetensorsWriteTest, LaysOutByAlignmentThenNameWithAnAlignedBuffer) {
  Mapping m{{"z_u8", at::zeros({3}, at::kByte)},
            {"flag", at::ones({1}, at::kBool)},
            {"b_f32", at::ones({1}, at::kFloat)},
            {"a_f32", at::ones({2}, at::kFloat)},
            {"h", at::ones({1}, at::kHalf)},
            {"i64", at::ones({1}, at::kLong)},
            {"d", at::ones({1}, at::kDouble)}};
  const std::string bytes = encode_safetensors(m, {{"k", "v"}});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  const std::string header = bytes.substr(8, n);
  const size_t json_end = header.find_last_of('}') + 1;
  EXPECT_EQ(header.substr(json_end), std::string(n - json_end, ' '));
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(header);
  std::vector<std::string> order;
  for (auto it = j.begin(); it != j.end(); ++it) order.push_back(it.key());
  EXPECT_EQ(order, (std::vector<std::string>{"__metadata__", "i64", "d", "a_f32", "b_f32", "h",
                                             "z_u8", "flag"}));
  EXPECT_EQ(j["i64"]["data_offsets"], nlohmann::ordered_json({0, 8}));
  EXPECT_EQ(j["d"]["data_offsets"], nlohmann::ordered_json({8, 16}));
  EXPECT_EQ(j["a_f32"]["data_offsets"], nlohmann::ordered_json({16, 24}));
  EXPECT_EQ(j["z_u8"]["data_offsets"], nlohmann::ordered_json({30, 33}));
  EXPECT_EQ(j["flag"]["data_offsets"], nlohmann::ordered_json({33, 34}));
  EXPECT_EQ(bytes.size(), 8 + n + 34);
}

TEST(SafetensorsWriteTest, RoundTripsEveryDtypeShapeAndStride) {
  const at::Tensor base = at::arange(24, at::kDouble).reshape({4, 6}) * 0.75 - 3;
  const at::Tensor tied = at::arange(5, at::kFloat);
  Mapping m{{"f64", base},
            {"f32", base.to(at::kFloat)},
            {"f16", base.to(at::kHalf)},
            {"bf16", base.to(at::kBFloat16)},
            {"i64", (base * 1e6).to(at::kLong)},
            {"i32", (base * 100).to(at::kInt)},
            {"i16", (base * 10).to(at::kShort)},
            {"i8", base.to(at::kChar)},
            {"u8", (base + 3).to(at::kByte)},
            {"bool", base > 0},
            {"scalar", at::scalar_tensor(7.25, at::kFloat)},
            {"empty", at::zeros({0, 3}, at::kInt)},
            {"transposed", base.t()},
            {"sliced", base.slice(1, 2, 5)},
            {"tied.a", tied},
            {"tied.b", tied}};
  MemoryEnv env;
  write_safetensors(env, "rt.safetensors", m, {{"format", "pt"}, {"source", "test"}});
  SafetensorsContents c = read_safetensors(env, "rt.safetensors");
  ASSERT_EQ(c.tensors.size(), m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    const std::string& key = m.key(i);
    ASSERT_TRUE(c.tensors.contains(key)) << key;
    expect_same_tensor(c.tensors.at(key).tensor(), m.value(i).tensor(), key);
  }
  EXPECT_EQ(c.metadata, (SafetensorsMetadata{{"format", "pt"}, {"source", "test"}}));
  // Tied tensors come back as two copies, each with its own bytes in the file.
  EXPECT_NE(c.tensors.at("tied.a").tensor().data_ptr(), c.tensors.at("tied.b").tensor().data_ptr());
  SafetensorsHeader h = read_safetensors_header(env, "rt.safetensors");
  int64_t tied_bytes = 0;
  for (const SafetensorsEntry& e : h.entries) {
    if (e.name.rfind("tied.", 0) == 0) tied_bytes += e.end - e.begin;
  }
  EXPECT_EQ(tied_bytes, 2 * 5 * 4);
  // A transposed tensor is stored row-major: its bytes are those of contiguous().
  for (const SafetensorsEntry& e : h.entries) {
    if (e.name != "transposed") continue;
    const std::string stored = env.read_range("rt.safetensors", h.data_offset() + e.begin, e.end - e.begin);
    const at::Tensor row_major = base.t().contiguous();
    ASSERT_EQ(stored.size(), static_cast<size_t>(row_major.numel() * 8));
    EXPECT_EQ(std::memcmp(stored.data(), row_major.data_ptr(), stored.size()), 0);
  }
}

TEST(SafetensorsWriteTest, RejectsWhatAFileCannotHold) {
  auto write_error = [](const Mapping& m) -> std::string {
    try {
      encode_safetensors(m, {}, "out.safetensors");
    } catch (const InvalidArgument& e) {
      return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
  };
  std::string e = write_error(Mapping{{"w", at::ones({1})}, {"step", Value(int64_t{3})}});
  EXPECT_TRUE(contains(e, "out.safetensors: key 'step' is a int")) << e;
  e = write_error(Mapping{{"c", at::ones({2}, at::kComplexFloat)}});
  EXPECT_TRUE(contains(e, "out.safetensors: key 'c': safetensors cannot store dtype complex64")) << e;
  e = write_error(Mapping{{"__metadata__", at::ones({1})}});
  EXPECT_TRUE(contains(e, "key '__metadata__' is reserved")) << e;
  e = write_error(Mapping{{"u", at::Tensor()}});
  EXPECT_TRUE(contains(e, "key 'u' is an undefined tensor")) << e;
  MemoryEnv env;
  EXPECT_THROW(write_safetensors(env, "x.safetensors", Mapping{{"s", Value("text")}}), InvalidArgument);
  EXPECT_FALSE(env.exists("x.safetensors"));
}

TEST(SafetensorsDtypeTest, NamesAndParsesEveryStoredDtype) {
  for (const char* name : {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"}) {
    EXPECT_EQ(safetensors_dtype_name(parse_safetensors_dtype(name)), name);
  }
  EXPECT_THROW(parse_safetensors_dtype("f32"), InvalidArgument);
  EXPECT_THROW(safetensors_dtype_name(at::kComplexDouble), InvalidArgument);
}

}  // namespace
}  // namespace shardsim::checkpoint
