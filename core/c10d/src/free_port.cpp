#include "shardsim/c10d/free_port.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shardsim/core/error.h"

namespace shardsim::c10d {

int pick_free_port(const std::string& address) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  SHARDSIM_CHECK_ARG(inet_pton(AF_INET, address.c_str(), &addr.sin_addr) == 1, "pick_free_port: '",
                     address, "' is not an IPv4 address");
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SHARDSIM_CHECK_T(CommError, fd >= 0, "pick_free_port: socket() failed: ", std::strerror(errno));
  socklen_t len = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int error = errno;
  ::close(fd);
  SHARDSIM_CHECK_T(CommError, ok, "pick_free_port: could not bind a port on ", address, ": ",
                   std::strerror(error));
  return ntohs(addr.sin_port);
}

}  // namespace shardsim::c10d
