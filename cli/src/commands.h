// The shardsim command-line tool: one function per subcommand. Each parses
// its own arguments (argv[0] is "shardsim <name>"), prints its own --help,
// and returns the exit status: 0 success, 1 something failed, 2 bad usage
// or input.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace shardsim::cli {

int layout_command(int argc, char** argv);
int list_command(int argc, char** argv);
int run_command(int argc, char** argv);
int replay_command(int argc, char** argv);
int fuzz_command(int argc, char** argv);
int bench_command(int argc, char** argv);

struct CommandInfo {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};
// Every subcommand, in the order `shardsim --help` lists them.
const CommandInfo* commands(size_t* count);

// Parses argv into `app`. Returns -1 when the command should go on, or the
// exit status to return at once: 0 after --help, 2 (with a one-line message
// naming the command and the bad argument on stderr) on a parse error.
int parse_args(CLI::App& app, int argc, char** argv);

// Prints "shardsim <command>: <message>" to stderr and returns 2.
int usage_error(const std::string& command, const std::string& message);

}  // namespace shardsim::cli
