// The binary value codec that real backends use to move descriptions and
// results between ranks: any bytes either decode, and then encode and decode
// again to the same bytes, or are rejected with shardsim::Error.
#include <string>

#include "fuzz_target.h"
#include "shardsim/core/error.h"
#include "shardsim/core/value_codec.h"

namespace {

int fuzz_value_codec(const uint8_t* data, size_t size) {
  using namespace shardsim;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  Value value;
  try {
    value = decode_value(bytes);
  } catch (const Error&) {
    // Only the type is the contract: the codec is a protocol between ranks,
    // and its messages may quote the bytes they choked on.
    return 0;
  }
  const std::string once = encode_value(value);
  std::string twice;
  try {
    twice = encode_value(decode_value(once));
  } catch (const Error& e) {
    fuzz::finding(std::string("an encoded value does not decode: ") + e.what());
  }
  if (once != twice) fuzz::finding("encode(decode(encode(v))) differs from encode(v)");
  return 0;
}

}  // namespace

SHARDSIM_FUZZ_TARGET("value_codec", fuzz_value_codec)
