#include "world_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "shardsim/c10d/free_port.h"

extern char** environ;

namespace shardsim::c10d::testing {
namespace {

// Variables a worker must not inherit from the test's own environment.
bool inherited(const std::string& entry) {
  for (const char* name : {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "MASTER_ADDR=", "MASTER_PORT=",
                           "SLURM_PROCID=", "SHARDSIM_C10D_"}) {
    if (entry.rfind(name, 0) == 0) return false;
  }
  return true;
}

std::string self_path() {
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) throw std::runtime_error("readlink /proc/self/exe failed");
  return std::string(buffer, static_cast<size_t>(n));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Owns the workers' process group: kills and reaps whatever is left of it.
class ProcessGroupGuard {
 public:
  ~ProcessGroupGuard() { kill_all(); }
  void add(pid_t pid) {
    if (pgid_ == 0) pgid_ = pid;
    ::setpgid(pid, pgid_);  // also done by the child; whichever runs first wins
    pids_.push_back(pid);
  }
  pid_t pgid() const { return pgid_; }
  void kill_all() {
    // While one of them is unreaped the group id cannot have been reused.
    if (pgid_ != 0 && !pids_.empty()) ::kill(-pgid_, SIGKILL);
    for (pid_t pid : pids_) ::kill(pid, SIGKILL);
    for (pid_t pid : pids_) {
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    pids_.clear();
  }
  void forget(pid_t pid) {
    for (size_t i = 0; i < pids_.size(); ++i) {
      if (pids_[i] == pid) pids_.erase(pids_.begin() + static_cast<long>(i));
    }
  }

 private:
  pid_t pgid_ = 0;
  std::vector<pid_t> pids_;
};

}  // namespace

std::string describe(const WorkerOutcome& o) {
  std::ostringstream os;
  os << "rank " << o.rank << ": "
     << (o.killed   ? "killed by the launcher"
         : o.exited ? "exit " + std::to_string(o.code)
                    : "signal " + std::to_string(o.code))
     << " after " << o.seconds << " s\n"
     << o.output;
  return os.str();
}

std::string describe(const std::vector<WorkerOutcome>& outcomes) {
  std::string text;
  for (const WorkerOutcome& o : outcomes) text += "---- " + describe(o) + "\n";
  return text;
}

std::vector<WorkerOutcome> run_world(const WorldSpec& spec) {
  const std::string exe = self_path();
  const int port = spec.port != 0 ? spec.port : pick_free_port();
  char dir_template[] = "/tmp/shardsim-c10d-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
  const std::string dir = dir_template;

  // Everything the children need is built before fork: after it, a child
  // only calls async-signal-safe functions.
  const auto n = static_cast<size_t>(spec.world_size);
  std::vector<std::vector<std::string>> envs(n);
  std::vector<std::string> logs(n);
  for (size_t r = 0; r < n; ++r) {
    for (char** e = environ; *e != nullptr; ++e) {
      if (inherited(*e)) envs[r].emplace_back(*e);
    }
    std::map<std::string, std::string> vars = {
        {"RANK", std::to_string(r)},           {"WORLD_SIZE", std::to_string(n)},
        {"LOCAL_RANK", std::to_string(r)},     {"MASTER_ADDR", "127.0.0.1"},
        {"MASTER_PORT", std::to_string(port)}, {kWorkerVariable, spec.program}};
    for (const auto& [k, v] : spec.env) vars[k] = v;
    for (const auto& [k, v] : vars) envs[r].push_back(k + "=" + v);
    logs[r] = dir + "/rank" + std::to_string(r) + ".log";
  }
  std::vector<std::vector<char*>> envps(n);
  for (size_t r = 0; r < n; ++r) {
    for (std::string& e : envs[r]) envps[r].push_back(&e[0]);
    envps[r].push_back(nullptr);
  }
  std::string arg0 = exe;
  char* argv[] = {&arg0[0], nullptr};

  std::vector<WorkerOutcome> outcomes(n);
  std::vector<pid_t> pids(n, 0);
  ProcessGroupGuard guard;
  const pid_t parent = ::getpid();
  const auto start = std::chrono::steady_clock::now();
  for (size_t r = 0; r < n; ++r) {
    outcomes[r].rank = static_cast<int64_t>(r);
    const pid_t pgid = guard.pgid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) {
      ::setpgid(0, pgid);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);
      const int fd = ::open(logs[r].c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execve(exe.c_str(), argv, envps[r].data());
      ::_exit(127);
    }
    pids[r] = pid;
    guard.add(pid);
  }

  const auto outlives = [&](size_t r) {
    return std::find(spec.may_outlive.begin(), spec.may_outlive.end(), static_cast<int64_t>(r)) !=
           spec.may_outlive.end();
  };
  size_t needed = 0;  // ranks still running that are not in may_outlive
  for (size_t r = 0; r < n; ++r) needed += outlives(r) ? 0 : 1;
  const auto deadline = start + spec.deadline;
  while (needed > 0 && std::chrono::steady_clock::now() < deadline) {
    bool reaped = false;
    for (size_t r = 0; r < n; ++r) {
      if (pids[r] == 0) continue;
      int status = 0;
      if (::waitpid(pids[r], &status, WNOHANG) != pids[r]) continue;
      WorkerOutcome& o = outcomes[r];
      o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      o.exited = WIFEXITED(status);
      o.code = o.exited ? WEXITSTATUS(status) : WTERMSIG(status);
      guard.forget(pids[r]);
      pids[r] = 0;
      if (!outlives(r)) --needed;
      reaped = true;
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (size_t r = 0; r < n; ++r) {
    if (pids[r] == 0) continue;
    outcomes[r].killed = true;
    outcomes[r].code = SIGKILL;
    outcomes[r].seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  guard.kill_all();
  for (size_t r = 0; r < n; ++r) {
    outcomes[r].output = read_file(logs[r]);
    std::remove(logs[r].c_str());
  }
  ::rmdir(dir.c_str());
  return outcomes;
}

}  // namespace shardsim::c10d::testing
