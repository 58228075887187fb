// Where a rank finds its world: torchrun's variables, Slurm's, or values given
// explicitly (the local launcher). Parsing only; connect() in c10d_comm.h uses
// the result.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include <optional>

namespace shardsim::c10d {

struct RendezvousInfo {
  int64_t rank = 0;        // this process's rank in the world
  int64_t world_size = 1;  // number of ranks
  int64_t local_rank = 0;  // rank among the processes on this host (the GPU index on NCCL)
  std::string master_addr = "127.0.0.1";  // host of rank 0, which serves the TCPStore
  int master_port = 29500;                // port of that TCPStore
  std::string source = "explicit";        // "torchrun", "slurm" or "explicit"

  friend bool operator==(const RendezvousInfo& a, const RendezvousInfo& b);
  friend bool operator!=(const RendezvousInfo& a, const RendezvousInfo& b) { return !(a == b); }
};
// "rank 1 of 4 (local 1) via 127.0.0.1:29500 from torchrun"
std::ostream& operator<<(std::ostream& os, const RendezvousInfo& info);

// Looks up one environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (std::getenv).
EnvLookup process_env();

// Reads the rendezvous from `env`:
// - torchrun when RANK is set: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
//   MASTER_PORT are all required;
// - Slurm when SLURM_PROCID is set: SLURM_PROCID, SLURM_NTASKS (or
//   SLURM_NPROCS), SLURM_LOCALID; MASTER_ADDR if set, else the first host of
//   SLURM_STEP_NODELIST, SLURM_JOB_NODELIST or SLURM_NODELIST (the first set);
//   MASTER_PORT if set, else slurm_default_port(SLURM_JOB_ID).
// Throws InvalidArgument naming the variable that is missing or malformed,
// and when neither RANK nor SLURM_PROCID is set.
RendezvousInfo rendezvous_from_env(const EnvLookup& env = process_env());

// The port a Slurm job uses when MASTER_PORT is unset: 15000 + job_id % 17000,
// the same on every task of the job and below Linux's ephemeral range.
int slurm_default_port(int64_t job_id);

// Checks the invariants (0 <= rank < world_size, 0 <= local_rank < world_size,
// 1 <= master_port <= 65535, non-empty master_addr); throws InvalidArgument.
void validate(const RendezvousInfo& info);

}  // namespace shardsim::c10d
