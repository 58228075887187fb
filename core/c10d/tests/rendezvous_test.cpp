#include "shardsim/c10d/rendezvous.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include <gtest/gtest.h>

#include "shardsim/c10d/free_port.h"
#include "shardsim/core/error.h"

namespace shardsim::c10d {
namespace {

using Env = std::map<std::string, std::string>;

EnvLookup lookup(const Env& env) {
  return [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

// The message of the InvalidArgument that reading `env` throws ("" if none).
std::string error_of(const Env& env) {
  try {
    rendezvous_from_env(lookup(env));
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

const Env kTorchrun = {{"RANK", "3"},
                       {"WORLD_SIZE", "8"},
                       {"LOCAL_RANK", "1"},
                       {"MASTER_ADDR", "h0"},
                       {"MASTER_PORT", "29400"}};

const Env kSlurm = {{"SLURM_PROCID", "5"},
                    {"SLURM_NTASKS", "16"},
                    {"SLURM_LOCALID", "1"},
                    {"SLURM_JOB_NODELIST", "gpu[007-010],cpu1"},
                    {"SLURM_JOB_ID", "123456"}};

TEST(Rendezvous, Torchrun) {
  RendezvousInfo expected;
  expected.rank = 3;
  expected.world_size = 8;
  expected.local_rank = 1;
  expected.master_addr = "h0";
  expected.master_port = 29400;
  expected.source = "torchrun";
  EXPECT_EQ(rendezvous_from_env(lookup(kTorchrun)), expected);
}

TEST(Rendezvous, TorchrunWinsOverSlurm) {
  Env env = kSlurm;
  env.insert(kTorchrun.begin(), kTorchrun.end());
  EXPECT_EQ(rendezvous_from_env(lookup(env)).source, "torchrun");
}

TEST(Rendezvous, TorchrunNamesTheMissingVariable) {
  for (const auto& [name, value] : kTorchrun) {
    if (name == "RANK") continue;  // without RANK it is not torchrun at all
    Env env = kTorchrun;
    env.erase(name);
    EXPECT_NE(error_of(env).find(name + " is not set"), std::string::npos) << error_of(env);
    env[name] = "";
    EXPECT_NE(error_of(env).find(name + " is empty"), std::string::npos) << error_of(env);
  }
}

TEST(Rendezvous, MalformedValuesAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"RANK", "x"},        {"RANK", "1.5"},         {"WORLD_SIZE", "4 "},
      {"LOCAL_RANK", "+1"}, {"MASTER_PORT", "http"}, {"MASTER_PORT", "70000"},
      {"MASTER_PORT", "0"}, {"RANK", "8"},           {"RANK", "-1"},
      {"WORLD_SIZE", "0"},  {"LOCAL_RANK", "9"},     {"RANK", "99999999999999999999"}};
  for (const auto& [name, value] : cases) {
    Env env = kTorchrun;
    env[name] = value;
    const std::string message = error_of(env);
    SCOPED_TRACE(name + "=" + value);
    EXPECT_FALSE(message.empty());
    EXPECT_NE(message.find(name), std::string::npos) << message;
  }
}

TEST(Rendezvous, Slurm) {
  const RendezvousInfo info = rendezvous_from_env(lookup(kSlurm));
  EXPECT_EQ(info.source, "slurm");
  EXPECT_EQ(info.rank, 5);
  EXPECT_EQ(info.world_size, 16);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.master_addr, "gpu007");
  EXPECT_EQ(info.master_port, 15000 + 123456 % 17000);
  EXPECT_EQ(info.master_port, 19456);
}

TEST(Rendezvous, SlurmPrefersExplicitMasterAndStepNodes) {
  Env env = kSlurm;
  env["SLURM_STEP_NODELIST"] = "gpu[009-010]";
  EXPECT_EQ(rendezvous_from_env(lookup(env)).master_addr, "gpu009");
  env["MASTER_ADDR"] = "10.0.0.1";
  env["MASTER_PORT"] = "4242";
  const RendezvousInfo info = rendezvous_from_env(lookup(env));
  EXPECT_EQ(info.master_addr, "10.0.0.1");
  EXPECT_EQ(info.master_port, 4242);
  env = kSlurm;
  env.erase("SLURM_JOB_NODELIST");
  env["SLURM_NODELIST"] = "a[2-3]";
  env.erase("SLURM_NTASKS");
  env["SLURM_NPROCS"] = "16";
  EXPECT_EQ(rendezvous_from_env(lookup(env)).master_addr, "a2");
}

TEST(Rendezvous, SlurmNamesWhatIsMissing) {
  for (const std::string name : {"SLURM_NTASKS", "SLURM_LOCALID"}) {
    Env env = kSlurm;
    env.erase(name);
    EXPECT_NE(error_of(env).find(name), std::string::npos) << error_of(env);
  }
  Env env = kSlurm;
  env.erase("SLURM_JOB_NODELIST");
  EXPECT_NE(error_of(env).find("SLURM_JOB_NODELIST"), std::string::npos) << error_of(env);
  env = kSlurm;
  env.erase("SLURM_JOB_ID");
  EXPECT_NE(error_of(env).find("SLURM_JOB_ID"), std::string::npos) << error_of(env);
  env = kSlurm;
  env["SLURM_JOB_NODELIST"] = "gpu[007-";
  EXPECT_NE(error_of(env).find("SLURM_JOB_NODELIST 'gpu[007-'"), std::string::npos)
      << error_of(env);
  env = kSlurm;
  env["SLURM_PROCID"] = "16";
  EXPECT_NE(error_of(env).find("SLURM_PROCID"), std::string::npos) << error_of(env);
}

TEST(Rendezvous, NoWorldAtAll) {
  const std::string message = error_of({{"PATH", "/bin"}});
  EXPECT_NE(message.find("RANK"), std::string::npos) << message;
  EXPECT_NE(message.find("SLURM_PROCID"), std::string::npos) << message;
}

TEST(Rendezvous, DefaultPortIsStableAndBelowEphemeralRange) {
  EXPECT_EQ(slurm_default_port(0), 15000);
  EXPECT_EQ(slurm_default_port(16999), 31999);
  EXPECT_EQ(slurm_default_port(17000), 15000);
  EXPECT_THROW(slurm_default_port(-1), InvalidArgument);
}

TEST(Rendezvous, Prints) {
  std::ostringstream os;
  os << rendezvous_from_env(lookup(kTorchrun));
  EXPECT_EQ(os.str(), "rank 3 of 8 (local 1) via h0:29400 from torchrun");
}

TEST(FreePort, ReturnsAPortThatCanBeBound) {
  const int port = pick_free_port();
  ASSERT_GT(port, 0);
  ASSERT_LE(port, 65535);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  EXPECT_THROW(pick_free_port("not-an-address"), InvalidArgument);
}

}  // namespace
}  // namespace shardsim::c10d
