// shardsim: simulation and testing harness for distributed state dicts.
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include "commands.h"
#include "shardsim/core/error.h"

namespace shardsim::cli {

namespace {

const CommandInfo kCommands[] = {
    {"run", "run scenarios or suites on simulated ranks (or real backends)", run_command},
    {"list", "list every scenario with the world sizes it accepts", list_command},
    {"layout", "print each rank's local shape and global offset for a sharding", layout_command},
    {"replay", "rerun saved case files of the property laws", replay_command},
    {"fuzz", "run the property laws on generated cases; failures become case files", fuzz_command},
    {"bench", "benchmarks of the fiber world: throughput, scale, cost curve", bench_command},
};

void print_usage(std::ostream& os) {
  os << "shardsim: simulation and testing harness for distributed state dicts\n\n"
     << "usage: shardsim <command> [options]   (shardsim <command> --help for its options)\n\n"
     << "commands:\n";
  size_t n = 0;
  const CommandInfo* cmds = commands(&n);
  for (size_t i = 0; i < n; ++i) {
    std::string name = cmds[i].name;
    name.resize(10, ' ');
    os << "  " << name << cmds[i].summary << "\n";
  }
  os << "\nexit status: 0 success, 1 something failed, 2 bad usage or input\n";
}

}  // namespace

const CommandInfo* commands(size_t* count) {
  *count = sizeof(kCommands) / sizeof(kCommands[0]);
  return kCommands;
}

int parse_args(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp& e) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    return usage_error(app.get_name(), e.what());
  }
  return -1;
}

int usage_error(const std::string& command, const std::string& message) {
  std::cerr << command << ": " << message << "\n";
  return 2;
}

}  // namespace shardsim::cli

int main(int argc, char** argv) {
  using namespace shardsim::cli;
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    std::cout << "shardsim 0.1.0\n";
    return 0;
  }
  size_t n = 0;
  const CommandInfo* cmds = commands(&n);
  for (size_t i = 0; i < n; ++i) {
    if (name != cmds[i].name) continue;
    std::string program = std::string("shardsim ") + cmds[i].name;
    std::vector<char> arg0(program.begin(), program.end());
    arg0.push_back('\0');
    argv[1] = arg0.data();
    try {
      return cmds[i].run(argc - 1, argv + 1);
    } catch (const shardsim::InvalidArgument& e) {
      return usage_error(program, e.what());
    } catch (const c10::Error& e) {
      std::cerr << program << ": error: " << e.what_without_backtrace() << "\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << program << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << "shardsim: unknown command '" << name << "' (see shardsim --help)\n";
  return 2;
}
