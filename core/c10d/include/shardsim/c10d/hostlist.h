// Slurm's compressed host lists: "node[01-04,07],gpu5" names node01, node02,
// node03, node04, node07 and gpu5. Bracket groups hold comma-separated numbers
// or inclusive ranges whose zero padding is kept ("n[08-10]" -> n08 n09 n10);
// one name may hold several groups ("r[1-2]n[1-2]" -> r1n1 r1n2 r2n1 r2n2).
#pragma once

#include <string>
#include <vector>

namespace shardsim::c10d {

// Every host of `hostlist`, in Slurm's order. Throws InvalidArgument (naming
// `what` and the text) on an empty list, an unbalanced or empty bracket, a
// non-numeric or descending range, or an empty name.
std::vector<std::string> expand_hostlist(const std::string& hostlist,
                                         const std::string& what = "host list");

// The first host of `hostlist` without expanding the rest (the host of task 0
// under Slurm's default block distribution). Same errors as expand_hostlist.
std::string first_host(const std::string& hostlist, const std::string& what = "host list");

}  // namespace shardsim::c10d
