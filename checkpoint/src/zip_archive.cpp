// The zip central directory, read the way torch.load's reader (miniz) reads
// it, but refusing anything torch.save does not write.
//
// Vocabulary: the end record (EOCD, 22 bytes plus a comment) sits at the end
// of the file and says where the central directory is; a zip64 end record
// (with its locator, 20 bytes just before the EOCD) carries the 64-bit
// versions of those fields. Each central-directory header describes one
// entry and points at its local header, which precedes the entry's data.
#include "zip_archive.h"

#include <algorithm>
#include <array>
#include <set>

#include "shardsim/core/checked.h"
#include "shardsim/core/error.h"

namespace shardsim::checkpoint::detail {

namespace {

constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kCentralSignature = 0x02014b50;
constexpr uint32_t kLocalSignature = 0x04034b50;
constexpr int64_t kEndSize = 22;
constexpr int64_t kZip64LocatorSize = 20;
constexpr int64_t kZip64EndSize = 56;
constexpr int64_t kCentralSize = 46;
constexpr int64_t kLocalSize = 30;
constexpr int64_t kMaxCommentLength = 0xffff;

uint64_t little_endian(const std::string& bytes, size_t at, int width) {
  uint64_t n = 0;
  for (int i = width - 1; i >= 0; --i) {
    n = (n << 8) | static_cast<unsigned char>(bytes[at + static_cast<size_t>(i)]);
  }
  return n;
}
uint16_t u16(const std::string& b, size_t at) {
  return static_cast<uint16_t>(little_endian(b, at, 2));
}
uint32_t u32(const std::string& b, size_t at) {
  return static_cast<uint32_t>(little_endian(b, at, 4));
}

// A 64-bit field as int64_t; InvalidArgument when it does not fit.
int64_t u64_as_size(const std::string& b, size_t at, const std::string& what) {
  const uint64_t n = little_endian(b, at, 8);
  SHARDSIM_CHECK_ARG(n <= static_cast<uint64_t>(INT64_MAX), what, " is ", n,
                     ", more than a 64-bit signed size");
  return static_cast<int64_t>(n);
}

// Throws unless [offset, offset + length) lies inside [0, limit).
void check_range(int64_t offset, int64_t length, int64_t limit, const std::string& what) {
  SHARDSIM_CHECK_ARG(offset >= 0 && length >= 0, what, ": offset ", offset, ", length ", length);
  const int64_t end = checked_add(offset, length, what);
  SHARDSIM_CHECK_ARG(end <= limit, what, " ends at byte ", end, ", past ", limit);
}

// Where the central directory is and how many entries it has.
struct DirectoryLocation {
  int64_t offset = 0;
  int64_t size = 0;
  int64_t entries = 0;
  int64_t end_of_directory = 0;  // where the central directory must end (the next record)
};

DirectoryLocation find_directory(Env& env, const std::string& path, int64_t file_size) {
  SHARDSIM_CHECK_ARG(file_size >= kEndSize, path, ": ", file_size,
                     " bytes is too short for a zip file (the end record alone is 22)");
  const int64_t tail_length = std::min(file_size, kEndSize + kMaxCommentLength);
  const int64_t tail_start = file_size - tail_length;
  const std::string tail = env.read_range(path, tail_start, tail_length);
  // The last end record whose comment length reaches exactly to the end of the file.
  int64_t end_at = -1;
  for (int64_t i = tail_length - kEndSize; i >= 0; --i) {
    const size_t at = static_cast<size_t>(i);
    if (u32(tail, at) == kEndSignature && i + kEndSize + u16(tail, at + 20) == tail_length) {
      end_at = i;
      break;
    }
  }
  SHARDSIM_CHECK_ARG(end_at >= 0, path, ": no zip end-of-central-directory record; not a zip file");
  const size_t e = static_cast<size_t>(end_at);
  SHARDSIM_CHECK_ARG(u16(tail, e + 4) == 0 && u16(tail, e + 6) == 0, path,
                     ": a multi-disk zip (disk ", u16(tail, e + 4), ") is not supported");
  DirectoryLocation where;
  where.entries = u16(tail, e + 10);
  where.size = u32(tail, e + 12);
  where.offset = u32(tail, e + 16);
  where.end_of_directory = tail_start + end_at;

  // A zip64 locator right before the end record overrides the 16/32-bit fields.
  const int64_t locator_at = tail_start + end_at - kZip64LocatorSize;
  if (locator_at >= 0) {
    const std::string locator = env.read_range(path, locator_at, kZip64LocatorSize);
    if (u32(locator, 0) == kZip64LocatorSignature) {
      const int64_t record_at = u64_as_size(locator, 8, path + ": zip64 end record offset");
      check_range(record_at, kZip64EndSize, locator_at, path + ": zip64 end record");
      const std::string record = env.read_range(path, record_at, kZip64EndSize);
      SHARDSIM_CHECK_ARG(u32(record, 0) == kZip64EndSignature, path,
                         ": no zip64 end record at byte ", record_at, " where the locator points");
      where.entries = u64_as_size(record, 32, path + ": zip64 entry count");
      where.size = u64_as_size(record, 40, path + ": zip64 central directory size");
      where.offset = u64_as_size(record, 48, path + ": zip64 central directory offset");
      where.end_of_directory = record_at;
      return where;
    }
  }
  SHARDSIM_CHECK_ARG(
      where.entries != 0xffff && where.size != 0xffffffff && where.offset != 0xffffffff, path,
      ": the end record defers to zip64 fields, but there is no zip64 locator");
  return where;
}

// The zip64 extra field's 64-bit values for those of `fields` that are all ones.
void apply_zip64_extra(const std::string& extra, const std::string& what, int64_t* size,
                       int64_t* compressed, int64_t* local_offset) {
  size_t at = 0;
  while (at + 4 <= extra.size()) {
    const uint16_t id = u16(extra, at);
    const size_t length = u16(extra, at + 2);
    SHARDSIM_CHECK_ARG(at + 4 + length <= extra.size(), what, ": extra field 0x", std::hex, id,
                       std::dec, " of ", length, " bytes runs past the extra data");
    if (id == 0x0001) {
      size_t field = at + 4;
      const size_t end = at + 4 + length;
      for (int64_t* value : {size, compressed, local_offset}) {
        if (*value != 0xffffffff) continue;
        SHARDSIM_CHECK_ARG(field + 8 <= end, what, ": the zip64 extra field is too short");
        *value = u64_as_size(extra, field, what + ": zip64 field");
        field += 8;
      }
      return;
    }
    at += 4 + length;
  }
}

}  // namespace

const ZipEntry* ZipDirectory::find(const std::string& name) const {
  for (const ZipEntry& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

ZipDirectory read_zip_directory(Env& env, const std::string& path) {
  const int64_t file_size = env.file_size(path);
  const DirectoryLocation where = find_directory(env, path, file_size);
  check_range(where.offset, where.size, where.end_of_directory, path + ": central directory");
  // Each header takes at least 46 bytes, which bounds a forged entry count.
  SHARDSIM_CHECK_ARG(where.entries >= 0 && where.entries <= where.size / kCentralSize, path, ": ",
                     where.entries, " entries cannot fit in a central directory of ", where.size,
                     " bytes");
  const std::string directory = env.read_range(path, where.offset, where.size);

  ZipDirectory out;
  std::set<std::string> names;
  size_t at = 0;
  for (int64_t i = 0; i < where.entries; ++i) {
    const std::string header_what = path + ": central directory entry " + std::to_string(i);
    check_range(static_cast<int64_t>(at), kCentralSize, where.size, header_what);
    SHARDSIM_CHECK_ARG(u32(directory, at) == kCentralSignature, header_what,
                       ": bad signature (the directory is corrupt)");
    const uint16_t flags = u16(directory, at + 8);
    const uint16_t method = u16(directory, at + 10);
    const size_t name_length = u16(directory, at + 28);
    const size_t extra_length = u16(directory, at + 30);
    const size_t comment_length = u16(directory, at + 32);
    check_range(static_cast<int64_t>(at + kCentralSize),
                static_cast<int64_t>(name_length + extra_length + comment_length), where.size,
                header_what + ": name, extra and comment");
    ZipEntry entry;
    entry.name = directory.substr(at + kCentralSize, name_length);
    const std::string what = path + ": entry '" + entry.name + "'";
    SHARDSIM_CHECK_ARG((flags & 0x1) == 0, what, " is encrypted");
    SHARDSIM_CHECK_ARG(method == 0, what, " is compressed (method ", method,
                       "); torch.save writes stored (uncompressed) entries only");
    entry.crc32 = u32(directory, at + 16);
    int64_t compressed = u32(directory, at + 20);
    entry.size = u32(directory, at + 24);
    int64_t local_offset = u32(directory, at + 42);
    apply_zip64_extra(directory.substr(at + kCentralSize + name_length, extra_length), what,
                      &entry.size, &compressed, &local_offset);
    SHARDSIM_CHECK_ARG(compressed == entry.size, what, " is stored but its compressed size ",
                       compressed, " differs from its size ", entry.size);
    SHARDSIM_CHECK_ARG(names.insert(entry.name).second, path, ": the entry name '", entry.name,
                       "' appears twice");

    check_range(local_offset, kLocalSize, where.offset, what + ": local header");
    const std::string local = env.read_range(path, local_offset, kLocalSize);
    SHARDSIM_CHECK_ARG(u32(local, 0) == kLocalSignature, what, ": no local header at byte ",
                       local_offset);
    const int64_t local_extra = static_cast<int64_t>(u16(local, 26)) + u16(local, 28);
    entry.data_offset = checked_add(checked_add(local_offset, kLocalSize, what), local_extra, what);
    check_range(entry.data_offset, entry.size, where.offset, what + ": data");
    out.entries.push_back(std::move(entry));
    at += kCentralSize + name_length + extra_length + comment_length;
  }
  return out;
}

// Slicing-by-8: table[k][b] is the CRC of byte b followed by k zero bytes,
// so eight input bytes are folded per step.
uint32_t crc32_of(const void* data, int64_t length) {
  static constexpr std::array<std::array<uint32_t, 256>, 8> kTables = [] {
    std::array<std::array<uint32_t, 256>, 8> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; ++n) {
      for (size_t k = 1; k < 8; ++k) t[k][n] = (t[k - 1][n] >> 8) ^ t[0][t[k - 1][n] & 0xff];
    }
    return t;
  }();
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint32_t c = 0xffffffffu;
  int64_t i = 0;
  for (; i + 8 <= length; i += 8) {
    const uint32_t low = c ^ (uint32_t{bytes[i]} | uint32_t{bytes[i + 1]} << 8 |
                              uint32_t{bytes[i + 2]} << 16 | uint32_t{bytes[i + 3]} << 24);
    c = kTables[7][low & 0xff] ^ kTables[6][(low >> 8) & 0xff] ^ kTables[5][(low >> 16) & 0xff] ^
        kTables[4][low >> 24] ^ kTables[3][bytes[i + 4]] ^ kTables[2][bytes[i + 5]] ^
        kTables[1][bytes[i + 6]] ^ kTables[0][bytes[i + 7]];
  }
  for (; i < length; ++i) c = kTables[0][(c ^ bytes[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

}  // namespace shardsim::checkpoint::detail
