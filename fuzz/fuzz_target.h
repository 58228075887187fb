// Fuzz targets for shardsim's input parsers. Each target is one function
// (bytes in, 0 out) that feeds the bytes to a parser and checks what the
// command line relies on: bad input is only ever InvalidArgument (or Error
// for the binary value codec), its message names the source and fits on one
// line, and what parses round-trips. Anything else (another exception, a
// crash, a sanitizer report, a hang) is a finding: finding() aborts.
//
// The same sources build two ways: with clang and SHARDSIM_BUILD_FUZZERS,
// one libFuzzer executable per target (SHARDSIM_LIBFUZZER defined: the
// target becomes LLVMFuzzerTestOneInput); always, one replay executable
// that runs every file of the corpus through its target (replay_main.cpp),
// so every regression input is rerun by every build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace shardsim::fuzz {

using TargetFn = int (*)(const uint8_t* data, size_t size);

// The targets linked into this executable, by name (the replay driver's table).
std::map<std::string, TargetFn>& targets();

struct TargetRegistration {
  TargetRegistration(const char* name, TargetFn fn) { targets()[name] = fn; }
};

// Reports a broken expectation on stderr and aborts (libFuzzer saves the input).
[[noreturn]] void finding(const std::string& what);

// An expected parse error: its message must start with `source` and be one line.
void check_message(const std::string& message, const std::string& source);

}  // namespace shardsim::fuzz

#if defined(SHARDSIM_LIBFUZZER)
#define SHARDSIM_FUZZ_TARGET(name, fn)                                             \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {        \
    return fn(data, size);                                                         \
  }
#else
#define SHARDSIM_FUZZ_TARGET(name, fn) \
  static const ::shardsim::fuzz::TargetRegistration fuzz_registration_##fn(name, fn);
#endif
