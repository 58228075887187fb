// Case files (JSON): any text either parses into a valid case that survives
// a round trip through case_to_json unchanged, or is rejected with
// InvalidArgument naming the file (and field) on one line.
#include <string>

#include "fuzz_target.h"
#include "shardsim/core/error.h"
#include "shardsim/properties/case_json.h"

namespace {

constexpr const char* kSource = "fuzz.json";

int fuzz_case_parser(const uint8_t* data, size_t size) {
  using namespace shardsim;
  using namespace shardsim::fuzz;
  const std::string text(reinterpret_cast<const char*>(data), size);
  properties::CaseFile parsed;
  try {
    parsed = properties::parse_case(text, kSource);
  } catch (const InvalidArgument& e) {
    check_message(e.what(), kSource);
    return 0;
  }
  for (bool pretty : {true, false}) {
    const std::string written = properties::case_to_json(parsed, pretty);
    properties::CaseFile again;
    try {
      again = properties::parse_case(written, "roundtrip.json");
    } catch (const InvalidArgument& e) {
      finding(std::string("a parsed case does not read back: ") + e.what() + "\n" + written);
    }
    if (!(again == parsed)) finding("a case changed in a round trip:\n" + written);
  }
  return 0;
}

}  // namespace

SHARDSIM_FUZZ_TARGET("case_parser", fuzz_case_parser)
