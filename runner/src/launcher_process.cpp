#include "launcher_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>

#include "shardsim/c10d/c10d_comm.h"
#include "shardsim/core/error.h"

extern char** environ;

namespace shardsim::runner::launcher {

namespace {

using ::shardsim::detail::concat;

// The process group of the running world, for the signal handler: the one
// piece of process-wide state here, because a signal handler can reach no
// other.
std::atomic<pid_t> g_running_group{0};

void kill_group_and_die(int sig) {
  const pid_t group = g_running_group.load();
  if (group > 0) ::kill(-group, SIGKILL);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_signal_handlers() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    ::sigaction(sig, nullptr, &old);
    if (old.sa_handler == SIG_IGN) continue;  // nohup and friends: keep ignoring
    struct sigaction act {};
    act.sa_handler = kill_group_and_die;
    ::sigemptyset(&act.sa_mask);
    ::sigaction(sig, &act, nullptr);
  }
}

// Variables a worker must not inherit: the launcher sets the rendezvous.
bool inherited(const char* entry) {
  for (const char* name :
       {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=", "GROUP_RANK=", "MASTER_ADDR=",
        "MASTER_PORT=", "SLURM_PROCID=", "TORCHELASTIC_"}) {
    if (std::strncmp(entry, name, std::strlen(name)) == 0) return false;
  }
  return true;
}

int make_pipe(int fds[2]) { return ::pipe2(fds, O_CLOEXEC); }

// In the child: `from` becomes `to` and survives exec.
void move_fd(int from, int to) {
  if (from == to) {
    ::fcntl(to, F_SETFD, 0);
  } else {
    ::dup2(from, to);
  }
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGKILL:
      return "SIGKILL";
    case SIGTERM:
      return "SIGTERM";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGABRT:
      return "SIGABRT";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    case SIGPIPE:
      return "SIGPIPE";
    default:
      return "signal";
  }
}

constexpr size_t kTailLines = 8;

}  // namespace

std::string describe_status(int status) {
  if (WIFEXITED(status)) return concat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return concat("was killed by signal ", WTERMSIG(status), " (", signal_name(WTERMSIG(status)),
                  ")");
  }
  return concat("ended with wait status ", status);
}

bool clean_exit(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

void announce_death(const WorldLaunch& launch, const std::string& reason,
                    std::chrono::milliseconds timeout) {
  // A child of its own: a store client whose server dies under it can end
  // its process (libtorch 1.13), and the launcher must live on.
  const pid_t pid = ::fork();
  if (pid < 0) return;
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const bool told = c10d::announce_death(launch.master_addr, launch.master_port, reason, timeout);
    ::_exit(told ? 0 : 1);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(1);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return;
    }
    ::usleep(5000);
  }
}

LocalWorld::LocalWorld(const WorldLaunch& launch) : launch_(launch) {
  install_signal_handlers();
  const auto n = static_cast<size_t>(launch.size);
  SHARDSIM_CHECK(n >= 1, "a local world needs at least one worker");

  // Everything the children need is built before fork: after it, a child
  // calls only async-signal-safe functions.
  std::vector<std::string> args = {launch.executable};
  args.insert(args.end(), launch.args.begin(), launch.args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  std::vector<std::vector<std::string>> envs(n);
  bool omp_set = false;
  for (char** e = environ; *e != nullptr; ++e)
    omp_set = omp_set || std::strncmp(*e, "OMP_NUM_THREADS=", 16) == 0;
  for (size_t r = 0; r < n; ++r) {
    for (char** e = environ; *e != nullptr; ++e) {
      if (inherited(*e)) envs[r].emplace_back(*e);
    }
    envs[r].push_back(concat("RANK=", r));
    envs[r].push_back(concat("WORLD_SIZE=", n));
    envs[r].push_back(concat("LOCAL_RANK=", r));
    envs[r].push_back(concat("LOCAL_WORLD_SIZE=", n));
    envs[r].push_back(concat("MASTER_ADDR=", launch.master_addr));
    envs[r].push_back(concat("MASTER_PORT=", launch.master_port));
    // As torchrun does: N processes on shared cores, one thread each.
    if (!omp_set) envs[r].push_back("OMP_NUM_THREADS=1");
  }
  std::vector<std::vector<char*>> envps(n);
  for (size_t r = 0; r < n; ++r) {
    for (std::string& e : envs[r]) envps[r].push_back(&e[0]);
    envps[r].push_back(nullptr);
  }

  int report[2];
  SHARDSIM_CHECK(make_pipe(report) == 0, "launcher: pipe failed: ", std::strerror(errno));
  report_fd_ = report[0];
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  workers_.resize(n);
  for (size_t r = 0; r < n; ++r) {
    int out[2];
    if (make_pipe(out) != 0) {
      kill_all();
      throw Error(concat("launcher: pipe failed: ", std::strerror(errno)));
    }
    const pid_t group = group_;
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(out[0]);
      ::close(out[1]);
      kill_all();
      throw Error(concat("launcher: fork failed: ", std::strerror(errno)));
    }
    if (pid == 0) {
      ::setpgid(0, group);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);  // the launcher died before prctl
      if (null_fd >= 0) move_fd(null_fd, 0);
      move_fd(out[1], 1);
      move_fd(out[1], 2);
      if (r == 0) move_fd(report[1], 3);
      ::execve(launch.executable.c_str(), argv.data(), envps[r].data());
      static const char kFailed[] = "launcher: cannot execute the worker program\n";
      (void)!::write(2, kFailed, sizeof(kFailed) - 1);
      ::_exit(127);
    }
    if (group_ == 0) {
      group_ = pid;
      g_running_group.store(pid);
    }
    ::setpgid(pid, group_);  // also done by the child; whichever runs first wins
    ::close(out[1]);
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    workers_[r].pid = pid;
    workers_[r].out_fd = out[0];
  }
  ::close(report[1]);
  if (null_fd >= 0) ::close(null_fd);
  ::fcntl(report_fd_, F_SETFL, O_NONBLOCK);
}

LocalWorld::~LocalWorld() {
  kill_all();
  for (Worker& w : workers_) {
    if (w.out_fd >= 0) ::close(w.out_fd);
  }
  if (report_fd_ >= 0) ::close(report_fd_);
}

pid_t LocalWorld::pid(int64_t rank) const { return workers_.at(static_cast<size_t>(rank)).pid; }

bool LocalWorld::all_ended() const {
  for (const Worker& w : workers_) {
    if (!w.ended) return false;
  }
  return true;
}

std::string LocalWorld::tail(int64_t rank) const {
  const Worker& w = workers_.at(static_cast<size_t>(rank));
  std::string text;
  for (const std::string& line : w.tail) text += (text.empty() ? "" : "\n") + line;
  if (!w.partial.empty()) text += (text.empty() ? "" : "\n") + w.partial;
  return text;
}

void LocalWorld::read_output(Worker& w, int64_t rank) {
  char buffer[4096];
  while (w.out_fd >= 0) {
    const ssize_t got = ::read(w.out_fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) {
        ::close(w.out_fd);
        w.out_fd = -1;
      }
      break;
    }
    w.partial.append(buffer, static_cast<size_t>(got));
    size_t newline;
    while ((newline = w.partial.find('\n')) != std::string::npos) {
      const std::string line = w.partial.substr(0, newline);
      w.partial.erase(0, newline + 1);
      std::cerr << "[" << launch_.label << " rank " << rank << "] " << line << "\n";
      w.tail.push_back(line);
      if (w.tail.size() > kTailLines) w.tail.pop_front();
    }
  }
  std::cerr.flush();
}

void LocalWorld::read_report() {
  char buffer[4096];
  while (report_fd_ >= 0) {
    const ssize_t got = ::read(report_fd_, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) {
        ::close(report_fd_);
        report_fd_ = -1;
      }
      break;
    }
    report_partial_.append(buffer, static_cast<size_t>(got));
    size_t newline;
    while ((newline = report_partial_.find('\n')) != std::string::npos) {
      Event e;
      e.kind = Event::Kind::kLine;
      e.line = report_partial_.substr(0, newline);
      report_partial_.erase(0, newline + 1);
      queued_.push_back(std::move(e));
    }
  }
}

void LocalWorld::reap() {
  for (size_t r = 0; r < workers_.size(); ++r) {
    Worker& w = workers_[r];
    if (w.ended) continue;
    int status = 0;
    const pid_t got = ::waitpid(w.pid, &status, WNOHANG);
    if (got != w.pid) continue;
    w.ended = true;
    // Whatever it wrote before it ended comes first.
    read_output(w, static_cast<int64_t>(r));
    if (r == 0) read_report();
    Event e;
    e.kind = Event::Kind::kExit;
    e.rank = static_cast<int64_t>(r);
    e.status = status;
    queued_.push_back(e);
  }
}

void LocalWorld::pump(std::chrono::milliseconds wait) {
  std::vector<pollfd> fds;
  std::vector<int64_t> ranks;  // -1: the report pipe
  if (report_fd_ >= 0) {
    fds.push_back({report_fd_, POLLIN, 0});
    ranks.push_back(-1);
  }
  for (size_t r = 0; r < workers_.size(); ++r) {
    if (workers_[r].out_fd >= 0) {
      fds.push_back({workers_[r].out_fd, POLLIN, 0});
      ranks.push_back(static_cast<int64_t>(r));
    }
  }
  // Short slices: exits are found by waitpid, not by the pipes.
  const int slice = static_cast<int>(std::min<int64_t>(wait.count(), 20));
  if (fds.empty()) {
    ::usleep(static_cast<useconds_t>(slice) * 1000);
  } else if (::poll(fds.data(), fds.size(), slice) > 0) {
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (ranks[i] < 0) {
        read_report();
      } else {
        read_output(workers_[static_cast<size_t>(ranks[i])], ranks[i]);
      }
    }
  }
  reap();
}

Event LocalWorld::next(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (queued_.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Event{};
    pump(left);
  }
  Event e = std::move(queued_.front());
  queued_.pop_front();
  return e;
}

void LocalWorld::kill_all() {
  bool any_running = false;
  for (const Worker& w : workers_) any_running = any_running || (!w.ended && w.pid > 0);
  // While one of them is unreaped the group id cannot have been reused.
  if (any_running && group_ > 0) ::kill(-group_, SIGKILL);
  for (size_t r = 0; r < workers_.size(); ++r) {
    Worker& w = workers_[r];
    if (w.ended || w.pid <= 0) continue;
    ::kill(w.pid, SIGKILL);
    int status = 0;
    while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
    }
    w.ended = true;
    read_output(w, static_cast<int64_t>(r));
  }
  if (g_running_group.load() == group_) g_running_group.store(0);
}

}  // namespace shardsim::runner::launcher
