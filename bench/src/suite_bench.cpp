// shardsim bench suite: the same suite, worlds and seeds on fibers and on Gloo
// processes, each as one `shardsim run` child process, timed side by side.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <string>
#include <vector>

#include "shardsim/bench/bench.h"
#include "shardsim/core/error.h"

extern char** environ;

namespace shardsim::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout+stderr
};

Child start(const std::vector<std::string>& args) {
  int fds[2];
  SHARDSIM_CHECK(::pipe(fds) == 0, "bench suite: pipe: ", std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  Child c;
  const int rc = ::posix_spawn(&c.pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw Error(std::string("bench suite: cannot start ") + args[0] + ": " + std::strerror(rc));
  }
  c.out = fds[0];
  return c;
}

// Reads the child's output to its end, waits for it; its exit status.
int finish(Child& c, std::string* output) {
  char buf[65536];
  for (ssize_t n; (n = ::read(c.out, buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (output != nullptr) output->append(buf, static_cast<size_t>(n));
  }
  ::close(c.out);
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double best(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// Start-up of `processes` fresh processes of this executable started at once,
// after one more started alone (a launcher, then its workers): the time a
// process linking libtorch takes before any of our code runs.
double startup_seconds(const std::string& exe, int64_t workers, int64_t repeat) {
  std::vector<double> times;
  for (int64_t i = 0; i < repeat; ++i) {
    const auto t0 = Clock::now();
    Child alone = start({exe, "--version"});
    finish(alone, nullptr);
    std::vector<Child> children;
    for (int64_t w = 0; w < workers; ++w) children.push_back(start({exe, "--version"}));
    for (Child& c : children) finish(c, nullptr);
    times.push_back(seconds_since(t0));
  }
  return best(times);
}

// The closing line of a run ("N passed, M failed[, K skipped]"), or "".
std::string closing_line(const std::string& output) {
  size_t end = output.size();
  while (end > 0 && output[end - 1] == '\n') --end;
  const size_t begin = output.rfind('\n', end == 0 ? 0 : end - 1);
  const std::string line = output.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1));
  return line.find(" passed, ") != std::string::npos ? line : std::string();
}

// The sum of the runs' own `time=` fields: the scenarios' bodies alone.
double sum_of_run_times(const std::string& output) {
  double sum = 0;
  for (size_t at = output.find(" time="); at != std::string::npos;
       at = output.find(" time=", at + 1)) {
    sum += std::strtod(output.c_str() + at + 6, nullptr);
  }
  return sum;
}

struct Timed {
  double seconds = 0;      // the best whole wall time of the repetitions
  double run_seconds = 0;  // the sum of its runs' time= fields
  int status = 0;
  std::string summary;
};

Timed time_run(const std::vector<std::string>& args, int64_t repeat, std::ostream& out) {
  Timed t;
  for (int64_t i = 0; i < repeat; ++i) {
    std::string output;
    const auto t0 = Clock::now();
    Child c = start(args);
    const int status = finish(c, &output);
    const double seconds = seconds_since(t0);
    const std::string summary = closing_line(output);
    if (status != 0 || summary.empty()) {
      out << "  (exit status " << status << "; last output follows)\n";
      const size_t from = output.size() > 2000 ? output.size() - 2000 : 0;
      out << output.substr(from) << "\n";
      t.status = status != 0 ? status : 1;
    }
    if (i == 0 || seconds < t.seconds) {
      t.seconds = seconds;
      t.run_seconds = sum_of_run_times(output);
      t.summary = summary;
    }
  }
  return t;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

int run_suite_bench(const SuiteBenchOptions& o, std::ostream& out) {
  const std::string exe = self_exe();
  SHARDSIM_CHECK_ARG(::access(o.suite.c_str(), R_OK) == 0, "--suite '", o.suite,
                     "': cannot read it");
  out << std::fixed << std::setprecision(3);
  out << "suite file=" << o.suite << " seeds=" << o.seed << ".." << o.seed + o.seeds - 1
      << " backends=fiber,gloo (each run is one `shardsim run` process; Gloo starts its "
         "workers once per run)\n";
  int status = 0;
  for (int64_t world : o.worlds) {
    const std::vector<std::string> base = {exe,      "run",    o.suite,
                                           "--world", std::to_string(world),
                                           "--seed",  std::to_string(o.seed),
                                           "--seeds", std::to_string(o.seeds)};
    std::vector<std::string> gloo = base;
    for (const char* a : {"--backend", "gloo", "--max-procs"}) gloo.push_back(a);
    gloo.push_back(std::to_string(world));
    out << "world=" << world << " running: " << quoted("shardsim run " + o.suite + " --world " +
                                                       std::to_string(world) + " --seeds " +
                                                       std::to_string(o.seeds))
        << " [--backend gloo]\n"
        << std::flush;
    const Timed fiber = time_run(base, o.repeat, out);
    const Timed real = time_run(gloo, o.repeat, out);
    const double startup_fiber = startup_seconds(exe, 0, o.startup_repeat);
    const double startup_gloo = startup_seconds(exe, world, o.startup_repeat);
    const double after_fiber = std::max(1e-6, fiber.seconds - startup_fiber);
    const double after_gloo = std::max(1e-6, real.seconds - startup_gloo);
    out << "world=" << world << " fiber_s=" << fiber.seconds << " gloo_s=" << real.seconds
        << " whole_ratio=" << std::setprecision(1) << real.seconds / fiber.seconds
        << std::setprecision(3) << " startup_fiber_s=" << startup_fiber
        << " startup_gloo_s=" << startup_gloo << " after_startup_fiber_s=" << after_fiber
        << " after_startup_gloo_s=" << after_gloo << " after_startup_ratio=" << std::setprecision(1)
        << after_gloo / after_fiber << std::setprecision(3)
        << " runs_fiber_s=" << fiber.run_seconds << " runs_gloo_s=" << real.run_seconds
        << " runs_ratio=" << std::setprecision(1)
        << real.run_seconds / std::max(1e-6, fiber.run_seconds) << std::setprecision(3)
        << " fiber_results=\""
        << fiber.summary << "\" gloo_results=\"" << real.summary << "\"" << std::endl;
    if (fiber.status != 0 || real.status != 0) status = 1;
  }
  return status;
}

}  // namespace shardsim::bench
