#include "distribute_verify.h"

#include <algorithm>
#include <sstream>

#include <ATen/ATen.h>

#include "shardsim/core/comm.h"
#include "shardsim/core/digest.h"
#include "shardsim/core/error.h"
#include "shardsim/core/text.h"

namespace shardsim {

namespace {

uint64_t full_digest(const at::Tensor& full) {
  if (!full.defined()) return 0;
  Digest d;
  d.update_tensor(full);
  // 0 marks a skipped key.
  return d.value() == 0 ? 1 : d.value();
}

}  // namespace

void verify_same_full_tensors(Comm& comm, const std::vector<std::string>& keys,
                              const std::vector<at::Tensor>& fulls) {
  const int64_t k = static_cast<int64_t>(keys.size());
  if (k == 0) return;
  std::vector<int64_t> mine;
  for (const at::Tensor& full : fulls) mine.push_back(static_cast<int64_t>(full_digest(full)));
  const std::vector<int64_t> counts(static_cast<size_t>(comm.size()), k);
  const at::Tensor all =
      comm.all_gather_flat(at::tensor(mine, at::kLong).to(comm.device()), counts).to(c10::kCPU);
  const int64_t* d = all.data_ptr<int64_t>();
  for (int64_t i = 0; i < k; ++i) {
    // Digest -> world ranks holding it, in order of first appearance by rank.
    std::vector<std::pair<int64_t, std::vector<int64_t>>> sides;
    for (int64_t r = 0; r < comm.size(); ++r) {
      const int64_t v = d[r * k + i];
      auto it = sides.begin();
      while (it != sides.end() && it->first != v) ++it;
      if (it == sides.end()) it = sides.insert(sides.end(), {v, {}});
      it->second.push_back(comm.members()[r]);
    }
    if (sides.size() == 1) continue;
    for (auto& side : sides) std::sort(side.second.begin(), side.second.end());
    std::ostringstream os;
    os << "distribute_tensors(verify): the full tensor under '" << keys[static_cast<size_t>(i)]
       << "' differs across ranks:";
    for (const auto& side : sides) {
      const bool one = side.second.size() == 1;
      os << " " << ranks_str(side.second) << " "
         << (side.first == 0 ? std::string(one ? "skips the key" : "skip the key")
                             : (one ? "holds digest " : "hold digest ") +
                                   hex64(static_cast<uint64_t>(side.first)))
         << ";";
    }
    os << " every rank must pass the same full tensors";
    throw MismatchError(os.str());
  }
}

}  // namespace shardsim
