// The poison pattern fresh host memory is filled with (see host_memory.h).
#include <cstdint>
#include <cstring>

#include <ATen/ATen.h>

#include "host_memory_poison.h"
#include "shardsim/core/host_memory.h"

namespace shardsim {
namespace detail {
namespace {

// One element's poison in `out` (element size bytes); returns the element size.
size_t poison_element(c10::ScalarType dtype, uint8_t* out) {
  const size_t size = c10::elementSize(dtype);
  auto put = [&](auto bits, size_t at) { std::memcpy(out + at, &bits, sizeof(bits)); };
  switch (dtype) {
    case c10::kFloat:
      put(uint32_t{0x7FE5A5A5u}, 0);
      break;
    case c10::kDouble:
      put(uint64_t{0x7FFCA5A5A5A5A5A5ull}, 0);
      break;
    case c10::kHalf:
      put(uint16_t{0x7EA5u}, 0);
      break;
    case c10::kBFloat16:
      put(uint16_t{0x7FE5u}, 0);
      break;
    case c10::kComplexHalf:
      put(uint16_t{0x7EA5u}, 0);
      put(uint16_t{0x7EA5u}, 2);
      break;
    case c10::kComplexFloat:
      put(uint32_t{0x7FE5A5A5u}, 0);
      put(uint32_t{0x7FE5A5A5u}, 4);
      break;
    case c10::kComplexDouble:
      put(uint64_t{0x7FFCA5A5A5A5A5A5ull}, 0);
      put(uint64_t{0x7FFCA5A5A5A5A5A5ull}, 8);
      break;
    case c10::kBool:
      out[0] = 1;
      break;
    default:
      std::memset(out, 0xA5, size);
      break;
  }
  return size;
}

template <typename Word>
void fill_words(void* data, size_t count, const uint8_t* element) {
  Word word;
  std::memcpy(&word, element, sizeof(Word));
  Word* p = static_cast<Word*>(data);
  for (size_t i = 0; i < count; ++i) p[i] = word;
}

}  // namespace

void fill_poison_bytes(void* data, size_t nbytes, c10::ScalarType dtype) {
  if (nbytes == 0) return;
  uint8_t element[16];
  const size_t size = poison_element(dtype, element);
  // Patterns are periodic in 1, 2, 4 or 8 bytes (complex: two equal halves).
  size_t period = size;
  if (c10::isComplexType(dtype)) period = size / 2;
  bool bytewise = true;
  for (size_t i = 1; i < size; ++i) bytewise = bytewise && element[i] == element[0];
  if (bytewise) {
    std::memset(data, element[0], nbytes);
  } else if (period == 2) {
    fill_words<uint16_t>(data, nbytes / 2, element);
  } else if (period == 4) {
    fill_words<uint32_t>(data, nbytes / 4, element);
  } else {
    fill_words<uint64_t>(data, nbytes / 8, element);
  }
}

}  // namespace detail

void fill_poison(const at::Tensor& t) {
  SHARDSIM_CHECK_ARG(t.device().is_cpu(), "fill_poison: tensor on ", t.device(), ", expected CPU");
  if (t.numel() == 0) return;
  if (t.is_contiguous()) {
    detail::fill_poison_bytes(t.data_ptr(), t.numel() * t.element_size(), t.scalar_type());
    return;
  }
  at::Tensor poisoned = at::empty(t.sizes(), t.options());
  detail::fill_poison_bytes(poisoned.data_ptr(), poisoned.nbytes(), t.scalar_type());
  t.copy_(poisoned);
}

bool is_poisoned(const at::Tensor& t) {
  SHARDSIM_CHECK_ARG(t.device().is_cpu(), "is_poisoned: tensor on ", t.device(), ", expected CPU");
  if (t.numel() == 0) return true;
  const at::Tensor c = t.contiguous();
  uint8_t element[16];
  const size_t size = detail::poison_element(c.scalar_type(), element);
  const auto* p = static_cast<const uint8_t*>(c.data_ptr());
  for (int64_t i = 0; i < c.numel(); ++i) {
    if (std::memcmp(p + i * size, element, size) != 0) return false;
  }
  return true;
}

}  // namespace shardsim
