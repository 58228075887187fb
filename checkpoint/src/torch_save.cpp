// read_torch_save: the zip container around the pickle and the storages.
#include "shardsim/checkpoint/torch_save.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "shardsim/core/checked.h"
#include "shardsim/core/dtype.h"
#include "shardsim/core/error.h"
#include "torch_pickle.h"
#include "zip_archive.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "torch.save storages are little-endian; their bytes are copied as they are");

namespace shardsim::checkpoint {

namespace {

// The folder every entry lives under: the one holding data.pkl.
std::string archive_prefix(const detail::ZipDirectory& zip, const std::string& path) {
  for (const detail::ZipEntry& e : zip.entries) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      return e.name.substr(0, slash + 1);
    }
  }
  throw InvalidArgument(path + ": no <archive>/data.pkl entry; not a torch.save file (zip format)");
}

void check_crc(const detail::ZipEntry& entry, const void* data, const std::string& path) {
  const uint32_t crc = detail::crc32_of(data, entry.size);
  SHARDSIM_CHECK_ARG(crc == entry.crc32, path, ": entry '", entry.name,
                     "': CRC-32 of the data is 0x", std::hex, crc,
                     ", the central directory says 0x", entry.crc32);
}

}  // namespace

TorchSaveContents read_torch_save(Env& env, const std::string& path) {
  // The legacy format (_use_new_zipfile_serialization=False) is a bare pickle stream.
  if (env.file_size(path) >= 2) {
    const std::string magic = env.read_range(path, 0, 2);
    SHARDSIM_CHECK_ARG(magic[0] != '\x80', path,
                       ": a legacy (pre-1.6, not zip) torch.save file; only the zip format "
                       "(torch.save's default) is supported");
  }
  const detail::ZipDirectory zip = detail::read_zip_directory(env, path);
  const std::string prefix = archive_prefix(zip, path);
  // Newer PyTorch records the byte order; shardsim reads little-endian data only.
  if (const detail::ZipEntry* order = zip.find(prefix + "byteorder")) {
    const std::string text =
        env.read_range(path, order->data_offset, std::min<int64_t>(order->size, 16));
    SHARDSIM_CHECK_ARG(text == "little", path, ": entry '", order->name, "' says '", text,
                       "'; only little-endian files are supported");
  }
  const detail::ZipEntry& pickle_entry = *zip.find(prefix + "data.pkl");
  const std::string pickle = env.read_range(path, pickle_entry.data_offset, pickle_entry.size);
  check_crc(pickle_entry, pickle.data(), path);

  const detail::StorageLoader load = [&](const detail::StorageId& id) {
    const std::string name = prefix + "data/" + id.key;
    const detail::ZipEntry* entry = zip.find(name);
    SHARDSIM_CHECK_ARG(entry != nullptr, path, ": storage '", id.key, "' has no entry '", name,
                       "'");
    const int64_t element_size = static_cast<int64_t>(c10::elementSize(id.dtype));
    const int64_t bytes =
        checked_mul(id.numel, element_size, path + ": storage '" + id.key + "' bytes");
    SHARDSIM_CHECK_ARG(bytes == entry->size, path, ": entry '", name, "' is ", entry->size,
                       " bytes, but storage '", id.key, "' is ", id.numel, " elements of ",
                       dtype_name(id.dtype), " (", bytes, " bytes)");
    at::Tensor storage = at::empty({id.numel}, at::TensorOptions().dtype(id.dtype));
    if (bytes > 0) env.read_range_into(path, entry->data_offset, bytes, storage.data_ptr());
    check_crc(*entry, storage.data_ptr(), path);
    if (id.dtype == c10::ScalarType::Bool) {
      const auto* b = static_cast<const unsigned char*>(storage.data_ptr());
      for (int64_t i = 0; i < bytes; ++i) {
        SHARDSIM_CHECK_ARG(b[i] <= 1, path, ": entry '", name, "': bool element ", i, " is byte ",
                           int{b[i]}, ", not 0 or 1");
      }
    }
    return storage;
  };
  return detail::unpickle_torch_save(pickle, load, path + " (data.pkl)");
}

}  // namespace shardsim::checkpoint
