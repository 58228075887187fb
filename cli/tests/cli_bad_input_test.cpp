// Runs the shardsim executable (SHARDSIM_CLI) on bad input of every kind:
// unknown commands and flags, bad option values, malformed and absurd suite
// files, worlds beyond the machine. Each must end with exit status 2, nothing
// on stdout, exactly one line on stderr that names the command and what was
// wrong (the file and line, the field or the option), no signal (no crash,
// abort or core dump) and within a bounded time (no hang).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Result {
  int status = -1;                  // exit status; -1 when it did not exit normally
  int signal = 0;                   // the signal that ended it, if one did
  bool timed_out = false;           // still running at the deadline (then killed)
  double seconds = 0;               // wall time
  std::vector<std::string> out;     // stdout lines
  std::vector<std::string> err;     // stderr lines
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// A scratch directory for suite files and captured output, removed at exit.
class Scratch {
 public:
  Scratch() {
    char pattern[] = "/tmp/shardsim_cli_bad_XXXXXX";
    const char* made = mkdtemp(pattern);
    EXPECT_NE(made, nullptr);
    dir_ = made != nullptr ? made : "/tmp";
  }
  ~Scratch() {
    const std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir_.c_str());
  }
  // Writes `text` to `name` in the scratch directory; its path.
  std::string file(const std::string& name, const std::string& text) const {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

Scratch& scratch() {
  static Scratch s;
  return s;
}

// Runs shardsim with `args` (no shell), killing it after `limit_s` seconds.
Result run(const std::vector<std::string>& args, double limit_s = 60) {
  const std::string out_path = scratch().dir() + "/stdout";
  const std::string err_path = scratch().dir() + "/stderr";
  std::vector<char*> argv;
  std::string program = SHARDSIM_CLI;
  argv.push_back(program.data());
  std::vector<std::string> copies(args);
  for (std::string& a : copies) argv.push_back(a.data());
  argv.push_back(nullptr);

  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  Result r;
  EXPECT_GT(pid, 0);
  if (pid <= 0) return r;
  int status = 0;
  while (true) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (done == pid) break;
    if (r.seconds > limit_s) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = lines_of(out_path);
  r.err = lines_of(err_path);
  return r;
}

std::string shown(const std::vector<std::string>& args) {
  std::string out = "shardsim";
  for (const std::string& a : args) out += " '" + a + "'";
  return out;
}

// Status 2, no stdout, one stderr line starting with "shardsim" that
// contains every needle, no signal, no hang.
void expect_bad_input(const std::vector<std::string>& args, const std::vector<std::string>& needles,
                      double limit_s = 60) {
  const Result r = run(args, limit_s);
  const std::string what = shown(args) + "\nstderr:\n" + joined(r.err) + "stdout:\n" + joined(r.out);
  EXPECT_FALSE(r.timed_out) << "hung (killed after " << limit_s << " s): " << what;
  EXPECT_EQ(r.signal, 0) << "killed by signal " << r.signal << ": " << what;
  EXPECT_EQ(r.status, 2) << what;
  EXPECT_TRUE(r.out.empty()) << what;
  ASSERT_EQ(r.err.size(), 1u) << what;
  EXPECT_EQ(r.err[0].rfind("shardsim", 0), 0u) << what;
  for (const std::string& needle : needles) {
    EXPECT_NE(r.err[0].find(needle), std::string::npos) << "expected '" << needle << "' in: " << what;
  }
}

// The commands `shardsim --help` lists.
std::vector<std::string> commands() {
  const Result r = run({"--help"});
  EXPECT_EQ(r.status, 0);
  std::vector<std::string> names;
  bool in_list = false;
  for (const std::string& line : r.out) {
    if (line == "commands:") {
      in_list = true;
    } else if (in_list && line.rfind("  ", 0) == 0) {
      std::istringstream words(line);
      std::string name;
      words >> name;
      names.push_back(name);
    } else if (in_list) {
      break;
    }
  }
  return names;
}

TEST(CliBadInput, EveryCommandRefusesUnknownFlagsAndGarbage) {
  const std::vector<std::string> names = commands();
  ASSERT_GE(names.size(), 3u) << "shardsim --help lists too few commands";
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    expect_bad_input({name, "--definitely-not-a-flag"}, {"shardsim " + name});
    expect_bad_input({name, "--definitely-not-a-flag=3", "-Z"}, {"shardsim " + name});
    expect_bad_input({name, "\x01\x02\xff"}, {"shardsim " + name});
    const Result help = run({name, "--help"});
    EXPECT_EQ(help.status, 0) << name << " --help";
    EXPECT_FALSE(help.out.empty()) << name << " --help";
  }
}

TEST(CliBadInput, UnknownCommands) {
  expect_bad_input({"bogus"}, {"unknown command 'bogus'"});
  expect_bad_input({"--bogus"}, {"unknown command '--bogus'"});
  expect_bad_input({""}, {"unknown command ''"});
  expect_bad_input({std::string(100000, 'x')}, {"unknown command"});
  // No command at all: the usage, on stderr, and status 2.
  const Result r = run({});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.signal, 0);
  EXPECT_TRUE(r.out.empty());
  EXPECT_FALSE(r.err.empty());
}

TEST(CliBadInput, RunOptionValues) {
  expect_bad_input({"run", "--world", "0"}, {"--world", "at least 1"});
  expect_bad_input({"run", "--world", "-3"}, {"--world", "negative"});
  expect_bad_input({"run", "--world", "abc"}, {"--world", "not an integer"});
  expect_bad_input({"run", "--world", "99999999999999999999"}, {"--world"});
  expect_bad_input({"run", "--world", "2000000"}, {"--world", "1048576"});
  expect_bad_input({"run", "--world", ""}, {"--world"});
  expect_bad_input({"run", "--world", ","}, {"--world"});
  expect_bad_input({"run", "--mesh", ""}, {"--mesh"});
  expect_bad_input({"run", "--mesh", "0x2"}, {"--mesh", "at least 1"});
  expect_bad_input({"run", "--mesh", "2xx"}, {"--mesh"});
  expect_bad_input({"run", "--mesh", "4096x4096x4096"}, {"--mesh"});
  expect_bad_input({"run", "--seed", "abc"}, {"--seed"});
  expect_bad_input({"run", "--seed", "-1"}, {"--seed"});
  expect_bad_input({"run", "--schedule-seed", "-5"}, {"--schedule-seed"});
  expect_bad_input({"run", "--seed", "18446744073709551615", "--seeds", "3", "--scenario",
                    "complicated_dict"},
                   {"--seed", "largest seed"});
  expect_bad_input({"run", "--seeds", "0"}, {"--seeds"});
  expect_bad_input({"run", "--seeds", "99999999999"}, {"--seeds"});
  expect_bad_input({"run", "--backend", "cuda"}, {"--backend", "cuda"});
  expect_bad_input({"run", "--backend", ""}, {"--backend"});
  expect_bad_input({"run", "--scenario", ""}, {"--scenario"});
  expect_bad_input({"run", "--scenario", "no_such_*"}, {"no_such_*", "matches no scenario"});
  expect_bad_input({"run", "--scenario", "complicated_dict", "--world", "3", "--mesh", "2x4"},
                   {"--mesh", "2x4", "8 ranks"});
  expect_bad_input({"run", "--scenario", "complicated_dict", "--mesh", "3x7"},
                   {"--mesh", "3x7", "21 ranks"});
  expect_bad_input({"run", "--seeds", "1000000", "--world", "1,2,3"},
                   {"command line", "more than 1000000 runs"});
}

// A fault naming a rank outside the run's world would only "not fire": it is
// bad input, named with the fault, the rank, the world and the scenario.
TEST(CliBadInput, FaultOutsideTheWorldIsRefused) {
  expect_bad_input({"run", "--scenario", "complicated_dict", "--world", "4", "--fault",
                    "exit:rank=99,collective=1"},
                   {"exit:rank=99,collective=1", "rank 99", "world 4", "complicated_dict"});
  expect_bad_input({"run", "--scenario", "complicated_dict", "--world", "4", "--backend", "gloo",
                    "--fault", "exit:rank=99,collective=1"},
                   {"rank 99", "world 4"});
  // complicated_dict's default world is 4.
  expect_bad_input({"run", "--scenario", "complicated_dict", "--fault", "crash:rank=4,collective=1"},
                   {"crash:rank=4,collective=1", "rank 4", "world 4"});
  expect_bad_input({"run", "--scenario", "complicated_dict", "--fault", "explode:rank=1"},
                   {"--fault", "explode"});
}

TEST(CliBadInput, LayoutOptionValues) {
  expect_bad_input({"layout", "--shape", "7,5", "--mesh", "2x3"}, {"--placements"});
  expect_bad_input({"layout", "--shape", "7,x", "--mesh", "2", "--placements", "S0"}, {"--shape"});
  expect_bad_input({"layout", "--shape", "7", "--mesh", "2", "--placements", "S9"}, {"S9"});
  expect_bad_input({"layout", "--shape", "7", "--mesh", "2", "--placements", "S99999999999"},
                   {"--placements"});
  expect_bad_input({"layout", "--shape", "7", "--mesh", "0", "--placements", "R"}, {"--mesh"});
  expect_bad_input({"layout", "--shape", "7", "--mesh", "2", "--placements", "Q"}, {"Q"});
  expect_bad_input({"layout", "--shape", "-7", "--mesh", "2", "--placements", "R"}, {"--shape"});
}

TEST(CliBadInput, ListOptionValues) {
  expect_bad_input({"list", "--scenario", "zzz*"}, {"zzz*"});
}

// A suite file with `body`, run; the message must name the file (and more).
void expect_bad_suite(const std::string& name, const std::string& body,
                      std::vector<std::string> needles) {
  const std::string path = scratch().file(name, body);
  needles.push_back(name);
  expect_bad_input({"run", path}, needles);
}

TEST(CliBadInput, MalformedSuiteFiles) {
  expect_bad_suite("syntax.toml", "[[test]\nscenario = \"x\"\n", {"syntax.toml:1", "syntax error"});
  expect_bad_suite("unterminated.toml", "[[test]]\nscenario = \"complicated_dict\nworlds = [1\n",
                   {"unterminated.toml:", "syntax error"});
  expect_bad_suite("binary.toml", std::string("\x00\xff\xfe[[test]]\x01", 8), {"binary.toml"});
  expect_bad_suite("empty.toml", "", {"no [[test]] entries"});
  expect_bad_suite("unknown_field.toml", "[[test]]\nscenario = \"complicated_dict\"\ncolour = 3\n",
                   {"unknown_field.toml:3", "'colour'", "unknown field"});
  expect_bad_suite("unknown_top.toml", "tilte = \"x\"\n[[test]]\nscenario = \"complicated_dict\"\n",
                   {"unknown_top.toml:1", "'tilte'"});
  expect_bad_suite("wrong_type.toml", "[[test]]\nscenario = \"complicated_dict\"\nworlds = \"8\"\n",
                   {"wrong_type.toml:3", "'worlds'", "expected an integer"});
  expect_bad_suite("scenario_type.toml", "[[test]]\nscenario = 42\n", {"'scenario'", "string"});
  expect_bad_suite("tests_not_tables.toml", "test = [1, 2]\n", {"'test'"});
  expect_bad_suite("negative_world.toml", "[[test]]\nscenario = \"complicated_dict\"\nworlds = [-4]\n",
                   {"negative_world.toml:3", "'worlds'", "out of range"});
  expect_bad_suite("absurd_world.toml",
                   "[[test]]\nscenario = \"complicated_dict\"\nworlds = [4294967296]\n",
                   {"'worlds'", "out of range"});
  expect_bad_suite("bad_mesh.toml", "[[test]]\nscenario = \"complicated_dict\"\nmeshes = [\"2x0\"]\n",
                   {"bad_mesh.toml:3", "'meshes'"});
  expect_bad_suite("mesh_misfit.toml",
                   "[[test]]\nscenario = \"complicated_dict\"\nworlds = [3]\nmeshes = [\"2x4\"]\n",
                   {"mesh_misfit.toml:1", "'meshes'", "2x4", "8 ranks"});
  expect_bad_suite("unknown_scenario.toml", "[[test]]\nscenario = \"no_such_scenario\"\n",
                   {"unknown_scenario.toml:1", "no_such_scenario", "matches no scenario"});
  expect_bad_suite("no_scenario.toml", "[[test]]\nworlds = [2]\n", {"'scenario'", "missing"});
  expect_bad_suite("bad_backend.toml",
                   "[[test]]\nscenario = \"complicated_dict\"\nbackends = [\"tpu\"]\n",
                   {"'backends'", "tpu"});
  expect_bad_suite("bad_expect.toml", "[[test]]\nscenario = \"complicated_dict\"\nexpect = \"sideways\"\n",
                   {"'expect'", "sideways"});
  expect_bad_suite("bad_timeout.toml", "[[test]]\nscenario = \"complicated_dict\"\ntimeout = -1\n",
                   {"'timeout'"});
  expect_bad_suite("bad_seed_count.toml",
                   "[[test]]\nscenario = \"complicated_dict\"\nseed_count = 0\n",
                   {"'seed_count'", "out of range"});
  expect_bad_suite("bad_fault.toml",
                   "[[test]]\nscenario = \"complicated_dict\"\nfaults = [\"explode:rank=1\"]\n",
                   {"bad_fault.toml", "explode"});
  expect_bad_suite("fault_rank.toml",
                   "[[test]]\nscenario = \"complicated_dict\"\nworlds = [4, 2]\n"
                   "faults = [\"crash:rank=3,collective=1\"]\n",
                   {"fault_rank.toml:1", "crash:rank=3,collective=1", "rank 3", "world 2"});
  expect_bad_suite("deep.toml", "x = " + std::string(5000, '[') + std::string(5000, ']') + "\n",
                   {"deep.toml:1"});
  // A few lines asking for 10^5 seeds x 20 worlds of every scenario.
  expect_bad_suite("too_many_runs.toml",
                   "[[test]]\nscenario = \"*\"\nseed = 1\nseed_count = 100000\n"
                   "worlds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]\n",
                   {"too_many_runs.toml:1", "more than 1000000 runs"});
  expect_bad_input({"run", scratch().dir() + "/does_not_exist.toml"}, {"does_not_exist.toml"});
  expect_bad_input({"run", scratch().dir()}, {scratch().dir()});
}

// A world whose fiber stacks alone exceed the machine's memory is refused
// before any of it is allocated (2^20 ranks of the fiber backend's 256 KiB
// stacks: 256 GiB).
TEST(CliBadInput, WorldsBeyondTheMachineAreRefused) {
  expect_bad_suite("huge_world.toml", "[[test]]\nscenario = \"complicated_dict\"\nworlds = [1048576]\n",
                   {"1048576 ranks", "fiber stacks", "available"});
  expect_bad_input({"run", "--scenario", "complicated_dict", "--world", "1048576"},
                   {"1048576 ranks", "fiber stacks"});
}

}  // namespace
