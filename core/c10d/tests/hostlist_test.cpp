#include "shardsim/c10d/hostlist.h"

#include <gtest/gtest.h>

#include "shardsim/core/error.h"

namespace shardsim::c10d {
namespace {

using Hosts = std::vector<std::string>;

TEST(Hostlist, PlainNames) {
  EXPECT_EQ(expand_hostlist("gpu5"), Hosts({"gpu5"}));
  EXPECT_EQ(expand_hostlist("a,b,c"), Hosts({"a", "b", "c"}));
  EXPECT_EQ(first_host("gpu5"), "gpu5");
}

TEST(Hostlist, RangesKeepZeroPadding) {
  EXPECT_EQ(expand_hostlist("node[01-04,07],gpu5"),
            Hosts({"node01", "node02", "node03", "node04", "node07", "gpu5"}));
  EXPECT_EQ(first_host("node[01-04,07],gpu5"), "node01");
  EXPECT_EQ(expand_hostlist("n[08-11]"), Hosts({"n08", "n09", "n10", "n11"}));
  EXPECT_EQ(expand_hostlist("n[8-11]"), Hosts({"n8", "n9", "n10", "n11"}));
  EXPECT_EQ(expand_hostlist("n[007-008]"), Hosts({"n007", "n008"}));
  EXPECT_EQ(expand_hostlist("n[0]"), Hosts({"n0"}));
}

TEST(Hostlist, FirstHostIsTheFirstOfTheFirstGroup) {
  EXPECT_EQ(first_host("x[3,1-2]"), "x3");
  EXPECT_EQ(first_host("cn-[100-200]-ib,login1"), "cn-100-ib");
  EXPECT_EQ(first_host("huge[000000-999999]"), "huge000000");
}

TEST(Hostlist, SeveralGroupsInOneName) {
  EXPECT_EQ(expand_hostlist("r[1-2]n[1-2]"), Hosts({"r1n1", "r1n2", "r2n1", "r2n2"}));
  EXPECT_EQ(expand_hostlist("r[1-2]-n[3]-x"), Hosts({"r1-n3-x", "r2-n3-x"}));
  EXPECT_EQ(first_host("r[2-3]n[5-6],z"), "r2n5");
}

TEST(Hostlist, MalformedListsNameTheText) {
  for (const std::string bad : {"", "node[1-2", "node1-2]", "node[]", "node[a-b]", "node[3-1]",
                                "a,,b", ",a", "a,", "n[[1]]", "n[1,,2]", "n[1-2-3]", "n[-1]"}) {
    SCOPED_TRACE(bad);
    try {
      expand_hostlist(bad, "SLURM_JOB_NODELIST");
      ADD_FAILURE() << "no error for '" << bad << "'";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("SLURM_JOB_NODELIST '" + bad + "'"), std::string::npos)
          << e.what();
    }
    EXPECT_THROW(first_host(bad), InvalidArgument);
  }
}

TEST(Hostlist, ExpansionIsBounded) {
  EXPECT_THROW(expand_hostlist("n[0-99999999999]"), InvalidArgument);
  EXPECT_EQ(first_host("n[0-99999999999]"), "n0");
}

}  // namespace
}  // namespace shardsim::c10d
