// shardsim list: every scenario with the world sizes it accepts.
#include <iomanip>
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "shardsim/runner/scenario.h"
#include "shardsim/scenarios/builtin.h"

namespace shardsim::cli {

int list_command(int argc, char** argv) {
  CLI::App app("List every scenario with the world sizes it accepts and its default world.",
               "shardsim list");
  std::string glob = "*";
  app.add_option("--scenario", glob, "only scenarios matching this glob");
  bool names_only = false;
  app.add_flag("--names", names_only, "print names only, one per line");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  const auto matched = scenarios::builtin_scenarios().match(glob);
  if (matched.empty()) return usage_error(app.get_name(), "--scenario '" + glob + "' matches no scenario");
  size_t width = 8;
  for (const auto* s : matched) width = std::max(width, s->name.size());
  if (!names_only) {
    std::cout << std::left << std::setw(static_cast<int>(width) + 2) << "scenario" << std::setw(18) << "worlds"
              << std::setw(9) << "default" << "summary\n";
  }
  for (const auto* s : matched) {
    if (names_only) {
      std::cout << s->name << "\n";
      continue;
    }
    std::string worlds = s->worlds_str();
    if (s->needs_scheduler) worlds += " fiber";
    std::cout << std::left << std::setw(static_cast<int>(width) + 2) << s->name << std::setw(18) << worlds
              << std::setw(9) << s->default_world << s->summary << "\n";
  }
  return 0;
}

}  // namespace shardsim::cli
