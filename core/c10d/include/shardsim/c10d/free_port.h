// A free local TCP port for a launcher that starts its own world.
#pragma once

#include <string>

namespace shardsim::c10d {

// A TCP port that was free on `address` a moment ago: the kernel's choice for
// a bind to port 0, released before returning. Another process may take it
// before it is used (the server then fails with a CommError naming the port).
// Throws CommError when no socket can be bound.
int pick_free_port(const std::string& address = "127.0.0.1");

}  // namespace shardsim::c10d
