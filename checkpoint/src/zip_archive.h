// A minimal reader of the zip container torch.save writes: the central
// directory (with zip64 fields where present) and the byte range of each
// stored (uncompressed) entry. Every offset and size read from the file is
// checked against the file and against each other before it is used.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shardsim/checkpoint/env.h"

namespace shardsim::checkpoint::detail {

// One stored entry of a zip file.
struct ZipEntry {
  std::string name;
  int64_t data_offset = 0;  // file offset of the entry's first data byte
  int64_t size = 0;         // bytes of data (stored: compressed == uncompressed)
  uint32_t crc32 = 0;       // CRC-32 the central directory records
};

// The entries of a zip file, in central-directory order.
struct ZipDirectory {
  std::vector<ZipEntry> entries;
  // The entry named `name`, or nullptr.
  const ZipEntry* find(const std::string& name) const;
};

// Reads and validates the central directory of `path`. Throws InvalidArgument
// naming the file and the field for anything malformed, and for a
// compressed or encrypted entry.
ZipDirectory read_zip_directory(Env& env, const std::string& path);

// The standard CRC-32 (zip, PNG) of `length` bytes at `data`.
uint32_t crc32_of(const void* data, int64_t length);

}  // namespace shardsim::checkpoint::detail
