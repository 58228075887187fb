#include "cli_test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace shardsim::cli_test {

namespace {

// Reads `pipe` to its end and closes it; the exit status (-1 unless normal).
int drain(FILE* pipe, std::string& out) {
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

CliRun run_shardsim(const std::string& args) {
  char err_path[] = "/tmp/shardsim_cli_err_XXXXXX";
  const int fd = mkstemp(err_path);
  if (fd < 0) throw std::runtime_error("cli test: mkstemp failed");
  ::close(fd);
  const std::string command = std::string("'") + SHARDSIM_CLI + "' " + args + " 2>" + err_path;
  CliRun r;
  const auto start = std::chrono::steady_clock::now();
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    std::remove(err_path);
    throw std::runtime_error("cli test: cannot run " + command);
  }
  r.status = drain(pipe, r.out);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.err = read_file(err_path);
  std::remove(err_path);
  return r;
}

CliRun run_shell(const std::string& command) {
  CliRun r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cli test: cannot run " + command);
  r.status = drain(pipe, r.out);
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string write_temp_file(const std::string& text) {
  char path[] = "/tmp/shardsim_cli_file_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("cli test: mkstemp failed");
  ::close(fd);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string make_temp_dir() {
  char path[] = "/tmp/shardsim_cli_dir_XXXXXX";
  if (mkdtemp(path) == nullptr) throw std::runtime_error("cli test: mkdtemp failed");
  return path;
}

}  // namespace shardsim::cli_test
