#include "shardsim/core/shape.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "shardsim/core/error.h"

namespace shardsim {

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    SHARDSIM_CHECK_ARG(!__builtin_mul_overflow(n, s, &n), "shape ", shape_str(shape),
                       " has more elements than a 64-bit integer holds");
  }
  return n;
}

bool extent_fits_int64(const Shape& shape) {
  int64_t extent = 1;
  for (int64_t s : shape) {
    if (__builtin_mul_overflow(extent, std::max<int64_t>(s, 1), &extent)) return false;
  }
  return true;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = acc;
    if (i == 0) break;  // the outermost size never enters a stride
    SHARDSIM_CHECK_ARG(!__builtin_mul_overflow(acc, std::max<int64_t>(shape[i], 1), &acc),
                       "shape ", shape_str(shape), ": its strides do not fit in a 64-bit integer");
  }
  return strides;
}

namespace {

// Parses one decimal integer (optionally signed) spanning all of `word`.
bool parse_int(const std::string& word, int64_t* out) {
  if (word.empty() || word.size() > 20) return false;
  size_t i = 0;
  if (word[0] == '-' || word[0] == '+') i = 1;
  if (i == word.size()) return false;
  for (size_t j = i; j < word.size(); ++j) {
    if (word[j] < '0' || word[j] > '9') return false;
  }
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(word.c_str(), &end, 10);
  if (errno == ERANGE || end != word.c_str() + word.size()) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (char ch : text) {
    if (ch == sep) {
      parts.push_back(cur);
      cur.clear();
    } else if (ch != ' ') {
      cur.push_back(ch);
    }
  }
  parts.push_back(cur);
  return parts;
}

// Sizes beyond this are certainly a mistake (and would overflow products).
constexpr int64_t kMaxDimSize = int64_t{1} << 40;

// A mesh larger than this is certainly a mistake.
constexpr int64_t kMaxRanks = int64_t{1} << 24;

}  // namespace

Shape parse_shape(const std::string& text, const std::string& what) {
  if (text.empty() || text == "-" || text == "[]" || text == "()") return {};
  Shape shape;
  for (const std::string& word : split(text, ',')) {
    int64_t v = 0;
    SHARDSIM_CHECK_ARG(parse_int(word, &v), what, " '", text, "': '", word,
                       "' is not an integer (expected sizes separated by commas, e.g. 7,5)");
    SHARDSIM_CHECK_ARG(v >= 0, what, " '", text, "': size ", v, " is negative");
    SHARDSIM_CHECK_ARG(v <= kMaxDimSize, what, " '", text, "': size ", v, " is too large");
    shape.push_back(v);
  }
  SHARDSIM_CHECK_ARG(shape.size() <= 16, what, " '", text, "' has more than 16 dimensions");
  SHARDSIM_CHECK_ARG(extent_fits_int64(shape), what, " '", text,
                     "' has more elements than a 64-bit integer holds");
  return shape;
}

Shape parse_mesh_shape(const std::string& text, const std::string& what) {
  SHARDSIM_CHECK_ARG(!text.empty(), what, " is empty (expected sizes separated by 'x', e.g. 2x4)");
  Shape shape;
  int64_t ranks = 1;
  for (const std::string& word : split(text, 'x')) {
    int64_t v = 0;
    SHARDSIM_CHECK_ARG(parse_int(word, &v), what, " '", text, "': '", word,
                       "' is not an integer (expected sizes separated by 'x', e.g. 2x4)");
    SHARDSIM_CHECK_ARG(v >= 1, what, " '", text, "': mesh size ", v, " must be at least 1");
    SHARDSIM_CHECK_ARG(v <= kMaxRanks, what, " '", text, "': mesh size ", v, " is too large");
    SHARDSIM_CHECK_ARG(shape.size() < 8, what, " '", text, "' has more than 8 dimensions");
    // Each size is at most 2^24 and the running product is kept at most 2^24,
    // so the product below stays far from overflowing.
    ranks *= v;
    SHARDSIM_CHECK_ARG(ranks <= kMaxRanks, what, " '", text, "' has more than 2^24 ranks");
    shape.push_back(v);
  }
  return shape;
}

std::string mesh_shape_str(const Shape& shape) {
  std::ostringstream os;
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "x" : "") << shape[i];
  return os.str();
}

}  // namespace shardsim
