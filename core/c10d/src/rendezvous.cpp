#include "shardsim/c10d/rendezvous.h"

#include <cerrno>
#include <cstdlib>
#include <ostream>

#include "shardsim/c10d/hostlist.h"
#include "shardsim/core/error.h"

namespace shardsim::c10d {
namespace {

using ::shardsim::detail::concat;

std::string required(const EnvLookup& env, const std::string& name, const std::string& source) {
  const std::optional<std::string> value = env(name);
  SHARDSIM_CHECK_ARG(value.has_value(), "rendezvous (", source, "): ", name, " is not set");
  SHARDSIM_CHECK_ARG(!value->empty(), "rendezvous (", source, "): ", name, " is empty");
  return *value;
}

int64_t parse_int(const std::string& name, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  SHARDSIM_CHECK_ARG(!text.empty() && end == text.c_str() + text.size() && errno == 0 &&
                         (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-'),
                     "rendezvous: ", name, "='", text, "' is not an integer");
  return value;
}

int64_t required_int(const EnvLookup& env, const std::string& name, const std::string& source) {
  return parse_int(name, required(env, name, source));
}

// The first of `names` that is set and non-empty.
std::optional<std::pair<std::string, std::string>> first_set(
    const EnvLookup& env, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    std::optional<std::string> value = env(name);
    if (value && !value->empty()) return std::make_pair(name, *value);
  }
  return std::nullopt;
}

int parse_port(const std::string& name, const std::string& text) {
  const int64_t port = parse_int(name, text);
  SHARDSIM_CHECK_ARG(port >= 1 && port <= 65535, "rendezvous: ", name, "=", port,
                     " is not a TCP port (1..65535)");
  return static_cast<int>(port);
}

RendezvousInfo from_torchrun(const EnvLookup& env) {
  const std::string source = "torchrun";
  RendezvousInfo info;
  info.source = source;
  info.rank = required_int(env, "RANK", source);
  info.world_size = required_int(env, "WORLD_SIZE", source);
  info.local_rank = required_int(env, "LOCAL_RANK", source);
  info.master_addr = required(env, "MASTER_ADDR", source);
  info.master_port = parse_port("MASTER_PORT", required(env, "MASTER_PORT", source));
  return info;
}

RendezvousInfo from_slurm(const EnvLookup& env) {
  const std::string source = "slurm";
  RendezvousInfo info;
  info.source = source;
  info.rank = required_int(env, "SLURM_PROCID", source);
  const auto ntasks = first_set(env, {"SLURM_NTASKS", "SLURM_NPROCS"});
  SHARDSIM_CHECK_ARG(ntasks.has_value(), "rendezvous (slurm): SLURM_NTASKS is not set");
  info.world_size = parse_int(ntasks->first, ntasks->second);
  info.local_rank = required_int(env, "SLURM_LOCALID", source);
  if (auto addr = first_set(env, {"MASTER_ADDR"})) {
    info.master_addr = addr->second;
  } else {
    const auto nodes =
        first_set(env, {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"});
    SHARDSIM_CHECK_ARG(nodes.has_value(),
                       "rendezvous (slurm): MASTER_ADDR is not set and neither is "
                       "SLURM_STEP_NODELIST, SLURM_JOB_NODELIST or SLURM_NODELIST");
    info.master_addr = first_host(nodes->second, "rendezvous (slurm): " + nodes->first);
  }
  if (auto port = first_set(env, {"MASTER_PORT"})) {
    info.master_port = parse_port("MASTER_PORT", port->second);
  } else {
    const auto job = first_set(env, {"SLURM_JOB_ID", "SLURM_JOBID"});
    SHARDSIM_CHECK_ARG(job.has_value(),
                       "rendezvous (slurm): MASTER_PORT is not set and neither is SLURM_JOB_ID "
                       "to derive it from");
    const int64_t job_id = parse_int(job->first, job->second);
    SHARDSIM_CHECK_ARG(job_id >= 0, "rendezvous (slurm): ", job->first, "=", job_id,
                       " is negative");
    info.master_port = slurm_default_port(job_id);
  }
  return info;
}

}  // namespace

bool operator==(const RendezvousInfo& a, const RendezvousInfo& b) {
  return a.rank == b.rank && a.world_size == b.world_size && a.local_rank == b.local_rank &&
         a.master_addr == b.master_addr && a.master_port == b.master_port && a.source == b.source;
}

std::ostream& operator<<(std::ostream& os, const RendezvousInfo& info) {
  return os << "rank " << info.rank << " of " << info.world_size << " (local " << info.local_rank
            << ") via " << info.master_addr << ":" << info.master_port << " from " << info.source;
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

int slurm_default_port(int64_t job_id) {
  SHARDSIM_CHECK_ARG(job_id >= 0, "slurm_default_port: negative job id ", job_id);
  return static_cast<int>(15000 + job_id % 17000);
}

void validate(const RendezvousInfo& info) {
  const std::string where = concat("rendezvous (", info.source, "): ");
  SHARDSIM_CHECK_ARG(info.world_size >= 1, where, "world size ", info.world_size,
                     " (WORLD_SIZE / SLURM_NTASKS) must be at least 1");
  SHARDSIM_CHECK_ARG(info.rank >= 0 && info.rank < info.world_size, where, "rank ", info.rank,
                     " (RANK / SLURM_PROCID) is outside 0..", info.world_size - 1);
  SHARDSIM_CHECK_ARG(info.local_rank >= 0 && info.local_rank < info.world_size, where,
                     "local rank ", info.local_rank, " (LOCAL_RANK / SLURM_LOCALID) is outside 0..",
                     info.world_size - 1);
  SHARDSIM_CHECK_ARG(!info.master_addr.empty(), where, "MASTER_ADDR is empty");
  SHARDSIM_CHECK_ARG(info.master_port >= 1 && info.master_port <= 65535, where, "MASTER_PORT ",
                     info.master_port, " is not a TCP port (1..65535)");
}

RendezvousInfo rendezvous_from_env(const EnvLookup& env) {
  RendezvousInfo info;
  if (auto rank = env("RANK"); rank && !rank->empty()) {
    info = from_torchrun(env);
  } else if (auto procid = env("SLURM_PROCID"); procid && !procid->empty()) {
    info = from_slurm(env);
  } else {
    throw InvalidArgument(
        "rendezvous: no world in the environment: set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR "
        "and MASTER_PORT (as torchrun does), or run under srun (SLURM_PROCID, SLURM_NTASKS, "
        "SLURM_LOCALID)");
  }
  validate(info);
  return info;
}

}  // namespace shardsim::c10d
