// torch.save reading from hand-built bytes: zips assembled here field by
// field (with a bitwise CRC-32 independent of the reader's table) around
// pickles written opcode by opcode, so each malformed case is exactly one
// wrong byte or field and each message is checked.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "shardsim/checkpoint/memory_env.h"
#include "shardsim/checkpoint/torch_save.h"
#include "shardsim/core/error.h"

namespace shardsim::checkpoint {
namespace {

std::string le(uint64_t n, int width) {
  std::string out;
  for (int i = 0; i < width; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out;
}

uint32_t bitwise_crc32(const std::string& data) {
  uint32_t c = 0xffffffffu;
  for (unsigned char byte : data) {
    c ^= byte;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

struct ZipEntrySpec {
  std::string name;
  std::string data;
  uint16_t method = 0;
  bool wrong_crc = false;
};

// A zip of `entries`, stored, with a zip64 end record and locator when `zip64`.
std::string make_zip(const std::vector<ZipEntrySpec>& entries, bool zip64 = false) {
  std::string body, directory;
  for (const ZipEntrySpec& e : entries) {
    const uint32_t crc = bitwise_crc32(e.data) ^ (e.wrong_crc ? 1u : 0u);
    const uint64_t offset = body.size();
    body += le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(e.method, 2) + le(0, 4) + le(crc, 4) +
            le(e.data.size(), 4) + le(e.data.size(), 4) + le(e.name.size(), 2) + le(0, 2) + e.name +
            e.data;
    directory += le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(e.method, 2) + le(0, 4) +
                 le(crc, 4) + le(e.data.size(), 4) + le(e.data.size(), 4) + le(e.name.size(), 2) +
                 le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + e.name;
  }
  std::string out = body + directory;
  if (zip64) {
    const uint64_t record_at = out.size();
    out += le(0x06064b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) +
           le(entries.size(), 8) + le(entries.size(), 8) + le(directory.size(), 8) +
           le(body.size(), 8);
    out += le(0x07064b50, 4) + le(0, 4) + le(record_at, 8) + le(1, 4);
    return out + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(0xffff, 2) + le(0xffff, 2) +
           le(0xffffffff, 4) + le(0xffffffff, 4) + le(0, 2);
  }
  return out + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(entries.size(), 2) +
         le(entries.size(), 2) + le(directory.size(), 4) + le(body.size(), 4) + le(0, 2);
}

// Pickle opcodes (protocol 2).
const std::string kProto = "\x80\x02";
std::string str(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string int32(int32_t n) { return "J" + le(static_cast<uint32_t>(n), 4); }
std::string global(const std::string& module, const std::string& name) {
  return "c" + module + "\n" + name + "\n";
}
std::string ordered_dict() { return global("collections", "OrderedDict") + ")R"; }
// _rebuild_tensor_v2 of float storage `key` (numel elements) with the given view.
std::string tensor(const std::string& key, int numel, int offset, std::vector<int> sizes,
                   std::vector<int> strides, const std::string& storage_type = "FloatStorage") {
  std::string p = global("torch._utils", "_rebuild_tensor_v2") + "((" + str("storage") +
                  global("torch", storage_type) + str(key) + str("cuda:0") + int32(numel) + "tQ" +
                  int32(offset) + "(";
  for (int s : sizes) p += int32(s);
  p += "t(";
  for (int s : strides) p += int32(s);
  return p + "t\x89" + ordered_dict() + "tR";
}
std::string floats(std::vector<float> v) {
  std::string out(v.size() * 4, '\0');
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// A literal with its NUL bytes kept.
template <size_t N>
std::string raw(const char (&s)[N]) {
  return std::string(s, N - 1);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

class TorchSaveTest : public ::testing::Test {
 protected:
  // Writes `zip` as a.pt and reads it.
  TorchSaveContents read(const std::string& zip) {
    env_.write_file_atomic("a.pt", zip);
    return read_torch_save(env_, "a.pt");
  }
  // The message read() throws (fails the test when it does not throw).
  std::string error_of(const std::string& zip) {
    try {
      read(zip);
    } catch (const InvalidArgument& e) {
      return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
  }
  // A torch.save-like zip around `pickle` and float storage "0" with `data`.
  static std::string archive(const std::string& pickle,
                             const std::string& data = floats({1, 2, 3, 4})) {
    return make_zip({{"a/data.pkl", pickle}, {"a/data/0", data}, {"a/version", "3\n"}});
  }
  MemoryEnv env_;
};

TEST_F(TorchSaveTest, ReadsTensorsAndPythonScalars) {
  const std::string pickle =
      kProto + "}(" + str("w") + tensor("0", 4, 0, {2, 2}, {2, 1}) + str("n") + int32(-7) +
      str("big") + "\x8a\x06" + le(0xff0000000001ull, 6) + str("x") + "G" +
      std::string("\x40\x04\x00\x00\x00\x00\x00\x00", 8) + str("s") + str("hi") + str("t") +
      "\x88" + str("none") + "N" + str("l") + "](K\x01K\x02\x85" + "e" + "u.";
  const TorchSaveContents c = read(archive(pickle));
  const Mapping& m = c.root.mapping();
  ASSERT_EQ(m.keys(), (std::vector<std::string>{"w", "n", "big", "x", "s", "t", "none", "l"}));
  EXPECT_TRUE(at::equal(m.at("w").tensor(), at::tensor({1.0f, 2.0f, 3.0f, 4.0f}).reshape({2, 2})));
  EXPECT_EQ(m.at("n"), Value(-7));
  EXPECT_EQ(m.at("big"),
            Value(-(int64_t{1} << 40) + 1));  // 0xff0000000001 as 6-byte two's complement
  EXPECT_EQ(m.at("x"), Value(2.5));
  EXPECT_EQ(m.at("s"), Value("hi"));
  EXPECT_EQ(m.at("t"), Value(true));
  EXPECT_TRUE(m.at("none").is_none());
  EXPECT_EQ(m.at("l"), Value(List{{Value(1), Value(Tuple{{Value(2)}})}}));
  EXPECT_TRUE(c.int_key_paths.empty());
  EXPECT_TRUE(c.module_metadata.empty());
}

TEST_F(TorchSaveTest, ViewsOfOneStorageShareIt) {
  const std::string pickle = kProto + "}(" + str("a") + tensor("0", 4, 0, {4}, {1}) + str("b") +
                             tensor("0", 4, 1, {2}, {2}) + "u.";
  const Mapping m = read(archive(pickle)).root.mapping();
  const at::Tensor& a = m.at("a").tensor();
  const at::Tensor& b = m.at("b").tensor();
  EXPECT_TRUE(at::equal(b, at::tensor({2.0f, 4.0f})));
  EXPECT_TRUE(a.storage().is_alias_of(b.storage()));
  a.fill_(0);
  EXPECT_EQ(b[1].item<float>(), 0.0f);
}

TEST_F(TorchSaveTest, IntKeysAndMetadataAreRecorded) {
  const std::string pickle = kProto + ordered_dict() + raw("q\x00(") + str("w") +
                             tensor("0", 4, 0, {4}, {1}) + str("state") + "}(K\x03}" + str("step") +
                             "K\x05su" + "u" + "}" + str("_metadata") + ordered_dict() + str("") +
                             "}" + str("version") + "K\x01sss" + "b.";
  const TorchSaveContents c = read(archive(pickle));
  EXPECT_EQ(c.root.mapping().keys(), (std::vector<std::string>{"w", "state"}));
  EXPECT_EQ(c.root.mapping().at("state").mapping().at("3").mapping().at("step"), Value(5));
  EXPECT_EQ(c.int_key_paths, (std::vector<std::string>{"state.3"}));
  ASSERT_EQ(c.module_metadata.keys(), (std::vector<std::string>{""}));
  EXPECT_EQ(c.module_metadata.at(""), Value(Mapping{{"", Value(Mapping{{"version", Value(1)}})}}));
}

TEST_F(TorchSaveTest, Zip64EndRecordIsRead) {
  const std::string pickle = kProto + "}" + str("n") + "K\x01s.";
  const TorchSaveContents c = read(make_zip({{"x/data.pkl", pickle}}, /*zip64=*/true));
  EXPECT_EQ(c.root, Value(Mapping{{"n", Value(1)}}));
}

TEST_F(TorchSaveTest, MalformedZipsAreRefusedByName) {
  const std::string pickle = kProto + "}.";
  EXPECT_TRUE(contains(error_of("not a zip file at all, but long enough"),
                       "no zip end-of-central-directory record"));
  EXPECT_TRUE(contains(error_of("short"), "too short for a zip file"));
  EXPECT_TRUE(
      contains(error_of(kProto + "\x8a\x0a"), "a legacy (pre-1.6, not zip) torch.save file"));
  EXPECT_TRUE(contains(error_of(make_zip({{"a/data.pkl", pickle, 8}})),
                       "entry 'a/data.pkl' is compressed (method 8)"));
  EXPECT_TRUE(contains(error_of(make_zip({{"a/data.pkl", pickle, 0, true}})),
                       "entry 'a/data.pkl': CRC-32"));
  EXPECT_TRUE(contains(error_of(make_zip({{"a/version", "3"}})), "no <archive>/data.pkl entry"));
  EXPECT_TRUE(contains(error_of(make_zip({{"a/data.pkl", pickle}, {"a/data.pkl", pickle}})),
                       "the entry name 'a/data.pkl' appears twice"));

  std::string zip = make_zip({{"a/data.pkl", pickle}});
  std::string bad_offset = zip;  // central directory offset (last 6..2 bytes) past the end
  bad_offset.replace(bad_offset.size() - 6, 4, le(1000, 4));
  EXPECT_TRUE(contains(error_of(bad_offset), "central directory ends at byte"));
  std::string bad_count = zip;  // 200 entries in a directory of one header
  bad_count.replace(bad_count.size() - 12, 2, le(200, 2));
  EXPECT_TRUE(contains(error_of(bad_count), "200 entries cannot fit"));
  std::string bad_size = zip;  // the entry's size in the central directory made huge
  const size_t central = zip.find(le(0x02014b50, 4));
  bad_size.replace(central + 20, 8, le(0x7fffffff, 4) + le(0x7fffffff, 4));
  EXPECT_TRUE(contains(error_of(bad_size), "entry 'a/data.pkl': data ends at byte"));
  std::string bad_local = zip;
  bad_local[0] = 'X';
  EXPECT_TRUE(contains(error_of(bad_local), "no local header at byte 0"));
}

TEST_F(TorchSaveTest, MalformedPicklesAreRefusedByName) {
  EXPECT_TRUE(contains(error_of(archive(kProto + "}")), "byte 3: needs 1 bytes, only 0 are left"));
  EXPECT_TRUE(contains(error_of(archive(kProto + "s.")), "byte 2: pops from an empty stack"));
  EXPECT_TRUE(
      contains(error_of(archive(kProto + "h\x05.")), "reads memo slot 5, which was never written"));
  EXPECT_TRUE(contains(error_of(archive(kProto + "}Z.")), "byte 3: opcode 0x5a ('Z') is not one"));
  EXPECT_TRUE(contains(error_of(archive("\x80\x01}.")), "pickle protocol 1 is not supported"));
  EXPECT_TRUE(contains(error_of(archive(kProto + raw("X\xff\xff\x00\x00"
                                                     "ab."))),
                       "a string of 65535 bytes runs past"));
  EXPECT_TRUE(contains(error_of(archive(kProto + "\x8a\x09" + std::string(9, '\1') + ".")),
                       "an int of 9 bytes does not fit in 64 bits"));
  EXPECT_TRUE(contains(error_of(archive(kProto + raw("]q\x00"
                                                     "h\x00"
                                                     "a."))),
                       "'0': a container that contains itself (a cycle)"));
  EXPECT_TRUE(contains(error_of(archive(kProto + "}G" + std::string(8, '\0') + "K\x01s.")),
                       "a dict key of type float"));
}

TEST_F(TorchSaveTest, ClassesOutsideTheAllowListAreNamedWithTheirKeyPath) {
  const std::string pickle =
      kProto + "}" + str("a") + "}" + str("b") + global("os", "system") + str("ls") + "\x85Rss.";
  const std::string message = error_of(archive(pickle));
  EXPECT_TRUE(contains(message, "'a.b': an object of class os.system, which is not allowed"))
      << message;
  const std::string attribute = kProto + "}" + str("a") + "}" + "}" + str("x") + "K\x01s" + "bs.";
  EXPECT_TRUE(
      contains(error_of(archive(attribute)), "'a': a dict with attributes other than _metadata"));
}

TEST_F(TorchSaveTest, BadStoragesAndViewsAreRefusedByName) {
  const std::string one = kProto + "}" + str("w") + tensor("0", 4, 0, {2, 2}, {2, 1}) + "s.";
  EXPECT_TRUE(contains(
      error_of(archive(one, floats({1, 2, 3}))),
      "entry 'a/data/0' is 12 bytes, but storage '0' is 4 elements of float32 (16 bytes)"));
  EXPECT_TRUE(
      contains(error_of(make_zip({{"a/data.pkl", one}})), "storage '0' has no entry 'a/data/0'"));
  const std::string past = kProto + "}" + str("w") + tensor("0", 4, 1, {2, 2}, {2, 1}) + "s.";
  EXPECT_TRUE(contains(
      error_of(archive(past)),
      "'w': torch._utils._rebuild_tensor_v2: the view reaches element 4 of a storage of 4"));
  const std::string huge =
      kProto + "}" + str("w") + tensor("0", 4, 0, {2, 2}, {0x7fffffff, 0x7fffffff}) + "s.";
  EXPECT_TRUE(contains(error_of(archive(huge)), "the view reaches element"));
  const std::string wide = kProto + "}" + str("w") +
                           tensor("0", 4, 0, {0x40000000, 0x40000000, 0x40000000}, {0, 0, 0}) +
                           "s.";
  EXPECT_TRUE(contains(error_of(archive(wide)),
                       "'w': torch._utils._rebuild_tensor_v2: the view's element count"));
  const std::string boolean =
      kProto + "}" + str("b") + tensor("0", 2, 0, {2}, {1}, "BoolStorage") + "s.";
  EXPECT_TRUE(contains(error_of(archive(boolean, std::string("\x01\x02", 2))),
                       "bool element 1 is byte 2, not 0 or 1"));
  const std::string unknown =
      kProto + "}" + str("w") + tensor("0", 4, 0, {4}, {1}, "QInt8Storage") + "s.";
  EXPECT_TRUE(contains(error_of(archive(unknown)), "storage type is 'torch.QInt8Storage'"));
}

// Every single-byte corruption and every truncation of a small valid file is
// either read or refused with a shardsim::Error; nothing else escapes.
TEST_F(TorchSaveTest, EveryCorruptionOrTruncationIsReadOrRefused) {
  const std::string pickle = kProto + ordered_dict() + raw("q\x00(") + str("a") +
                             tensor("0", 4, 0, {2, 2}, {2, 1}) + str("b") +
                             tensor("0", 4, 1, {2}, {2}) + str("l") +
                             raw("]q\x01(K\x01"
                                 "e") +
                             str("m") + raw("h\x01") + "u}" + str("_metadata") + "}sb.";
  const std::string good = archive(pickle);
  ASSERT_EQ(read(good).root.mapping().size(), 4u);
  int refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char flip : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      try {
        read(bad);
      } catch (const Error&) {
        ++refused;
      }
    }
  }
  // The same inside the pickle, with a valid CRC, so the pickle reader sees each flip.
  for (size_t i = 0; i < pickle.size(); ++i) {
    for (unsigned char flip : {0x01, 0x02, 0x10, 0x80, 0xff}) {
      std::string bad = pickle;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      try {
        read(archive(bad));
      } catch (const Error&) {
      }
    }
  }
  for (size_t length = 0; length < good.size(); ++length) {
    EXPECT_THROW(read(good.substr(0, length)), Error) << length;
  }
  EXPECT_GT(refused, static_cast<int>(good.size()));  // most flips break a field or the CRC
}

}  // namespace
}  // namespace shardsim::checkpoint
