// PosixEnv: the Env over the real file system.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "shardsim/checkpoint/env.h"
#include "shardsim/core/checked.h"

namespace shardsim::checkpoint {

namespace {

// "<operation> '<path>'<after>: <strerror(error_number)>"
[[noreturn]] void throw_os_error(const std::string& operation, const std::string& path,
                                 int error_number, const std::string& after = "") {
  throw IoError(operation + " '" + path + "'" + after + ": " +
                    std::error_code(error_number, std::generic_category()).message(),
                error_number);
}

// Closes the descriptor on every path out of a function.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and returns close's errno (0 on success).
  int close_now() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

int open_for_reading(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_os_error("open", path, errno, " for reading");
  return fd;
}

// Reads `length` bytes from `offset` into `out`; returns how many it got
// before the end of the file.
int64_t pread_fully(int fd, const std::string& path, char* out, int64_t offset, int64_t length) {
  int64_t done = 0;
  while (done < length) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(length - done, int64_t{1} << 30));
    ssize_t got = ::pread(fd, out + done, want, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_os_error("read", path, errno);
    }
    if (got == 0) break;
    done += got;
  }
  return done;
}

void write_fully(int fd, const std::string& path, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const size_t want = std::min<size_t>(data.size() - done, size_t{1} << 30);
    ssize_t put = ::write(fd, data.data() + done, want);
    if (put < 0) {
      if (errno == EINTR) continue;
      throw_os_error("write", path, errno);
    }
    done += static_cast<size_t>(put);
  }
}

struct stat stat_or_throw(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_os_error("stat", path, errno);
  return st;
}

}  // namespace

std::string PosixEnv::read_file(const std::string& path) {
  FileDescriptor fd(open_for_reading(path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_os_error("stat", path, errno);
  if (S_ISDIR(st.st_mode)) throw_os_error("read", path, EISDIR);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  int64_t got = pread_fully(fd.get(), path, out.data(), 0, static_cast<int64_t>(out.size()));
  out.resize(static_cast<size_t>(got));
  // A file that grew since fstat: read the rest.
  char buffer[65536];
  for (;;) {
    int64_t more = pread_fully(fd.get(), path, buffer, static_cast<int64_t>(out.size()),
                               sizeof(buffer));
    if (more == 0) break;
    out.append(buffer, static_cast<size_t>(more));
  }
  return out;
}

void PosixEnv::read_range_into(const std::string& path, int64_t offset, int64_t length, void* out) {
  SHARDSIM_CHECK_ARG(offset >= 0 && length >= 0, "read_range '", path, "': offset ", offset,
                     " and length ", length, " must not be negative");
  const int64_t end = checked_add(offset, length, "read_range '" + path + "': offset + length");
  FileDescriptor fd(open_for_reading(path));
  int64_t got = pread_fully(fd.get(), path, static_cast<char*>(out), offset, length);
  if (got != length) {
    throw IoError("read '" + path + "': bytes [" + std::to_string(offset) + ", " +
                      std::to_string(end) + ") run past the end of the file (got " +
                      std::to_string(got) + " of " + std::to_string(length) + " bytes)",
                  0);
  }
}

std::string PosixEnv::read_range(const std::string& path, int64_t offset, int64_t length) {
  SHARDSIM_CHECK_ARG(length >= 0, "read_range '", path, "': length ", length, " must not be negative");
  std::string out(static_cast<size_t>(length), '\0');
  read_range_into(path, offset, length, out.data());
  return out;
}

int64_t PosixEnv::file_size(const std::string& path) {
  struct stat st = stat_or_throw(path);
  if (S_ISDIR(st.st_mode)) throw_os_error("file_size", path, EISDIR);
  return static_cast<int64_t>(st.st_size);
}

bool PosixEnv::exists(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  throw_os_error("stat", path, errno);
}

void PosixEnv::write_file_atomic(const std::string& path, std::string_view data) {
  std::string temp = path + ".tmp-XXXXXX";
  int raw_fd = ::mkstemp(temp.data());
  if (raw_fd < 0) throw_os_error("create a temporary file beside", path, errno);
  FileDescriptor fd(raw_fd);
  try {
    write_fully(fd.get(), temp, data);
    if (::fchmod(fd.get(), 0644) != 0) throw_os_error("chmod", temp, errno);
    if (::fsync(fd.get()) != 0) throw_os_error("fsync", temp, errno);
    if (int error_number = fd.close_now()) throw_os_error("close", temp, error_number);
    if (::rename(temp.c_str(), path.c_str()) != 0) throw_os_error("rename '" + temp + "' to", path, errno);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  // Make the rename itself durable.
  std::string dir = parent_dir(path);
  if (dir.empty()) dir = ".";
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) throw_os_error("open directory", dir, errno);
  FileDescriptor dir_guard(dir_fd);
  if (::fsync(dir_fd) != 0 && errno != EINVAL) throw_os_error("fsync directory", dir, errno);
}

std::vector<std::string> PosixEnv::list_dir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) throw_os_error("list directory", path, errno);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      int error_number = errno;
      ::closedir(dir);
      if (error_number != 0) throw_os_error("list directory", path, error_number);
      break;
    }
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

void PosixEnv::create_dirs(const std::string& path) {
  SHARDSIM_CHECK_ARG(!path.empty(), "create_dirs: the path is empty");
  // Each prefix ending before a '/', then the whole path.
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const std::string prefix = path.substr(0, end);
    if (::mkdir(prefix.c_str(), 0755) != 0) {
      int error_number = errno;
      struct stat st {};
      if (error_number != EEXIST) throw_os_error("create directory", prefix, error_number);
      if (::stat(prefix.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        throw_os_error("create directory", prefix, ENOTDIR);
      }
    }
    if (end == std::string::npos) break;
  }
}

void PosixEnv::remove(const std::string& path) {
  if (::remove(path.c_str()) != 0) throw_os_error("remove", path, errno);
}

}  // namespace shardsim::checkpoint
