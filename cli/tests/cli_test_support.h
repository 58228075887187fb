// What the CLI tests share: running the shardsim executable (SHARDSIM_CLI,
// the binary this build made) and looking at what it left.
#pragma once

#include <string>
#include <vector>

namespace shardsim::cli_test {

// What one run of a command left.
struct CliRun {
  int status = -1;     // exit status; -1 when the program did not exit normally
  std::string out;     // everything it wrote to stdout
  std::string err;     // everything it wrote to stderr
  double seconds = 0;  // wall time
};

// Runs `shardsim <args>` through the shell (args are shell words).
CliRun run_shardsim(const std::string& args);
// Runs a shell command; its stdout in `out` (stderr goes where the test's goes).
CliRun run_shell(const std::string& command);

// The lines of `text`, without their newlines.
std::vector<std::string> lines_of(const std::string& text);
// Whether `part` occurs in `text`.
bool contains(const std::string& text, const std::string& part);
// A new file under /tmp holding `text`; its path (the caller removes it).
std::string write_temp_file(const std::string& text);
// A new empty directory under /tmp; its path (the caller removes it).
std::string make_temp_dir();

}  // namespace shardsim::cli_test
