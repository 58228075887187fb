// The battery: every collective of the Comm seam on every dtype, with uneven
// and zero counts, on the world and on sub-groups, each result compared bit
// for bit with data this worker computes itself from the known inputs of the
// ranks involved (known_input), never with another collective's result.
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "shardsim/core/error.h"
#include "shardsim/core/mesh.h"
#include "worker.h"
#include "worker_support.h"

namespace shardsim::c10d::testing {
namespace {

std::string dtype_name(at::ScalarType dtype) { return c10::toString(dtype); }

// Uneven counts with zeros: member r of the group gets pattern[(r + salt) % 5].
std::vector<int64_t> uneven_counts(const Comm& g, const std::vector<int64_t>& pattern,
                                   int64_t salt) {
  std::vector<int64_t> counts;
  for (int64_t r = 0; r < g.size(); ++r) counts.push_back(pattern[(r + salt) % pattern.size()]);
  return counts;
}

int64_t me(const Comm& g) { return g.members()[g.rank()]; }

void check_all_gather(Checks& c, Comm& g, at::ScalarType dtype, int64_t salt) {
  for (const bool all_zero : {false, true}) {
    const std::vector<int64_t> counts =
        all_zero ? std::vector<int64_t>(g.size(), 0) : uneven_counts(g, {3, 0, 5, 1, 2}, salt);
    const at::Tensor input = known_input(me(g), dtype, counts[g.rank()], salt);
    std::vector<int64_t> order;
    g.all_gather(input, counts, [&](int64_t src, const at::Tensor& piece) {
      order.push_back(src);
      const at::Tensor expected = known_input(g.members()[src], dtype, counts[src], salt);
      c.expect(piece.dim() == 1 && piece.device().is_cpu() && bit_equal(piece, expected),
               "all_gather on ", g.name(), " dtype ", dtype_name(dtype), " piece of ",
               g.members()[src], ": got ", piece.sizes(), " ", dtype_name(piece.scalar_type()),
               all_zero ? " (all counts zero)" : "");
    });
    std::vector<int64_t> ranks;
    for (int64_t r = 0; r < g.size(); ++r) ranks.push_back(r);
    c.expect(order == ranks, "all_gather on ", g.name(), " dtype ", dtype_name(dtype),
             ": sink called out of group-rank order or not once per member");
  }
}

void check_broadcast(Checks& c, Comm& g, at::ScalarType dtype, int64_t salt) {
  for (int64_t root = 0; root < g.size(); ++root) {
    const at::Tensor expected = known_input(g.members()[root], dtype, 6, salt).view({2, 3});
    at::Tensor t = g.rank() == root ? expected.clone() : at::zeros({2, 3}, expected.options());
    g.broadcast(t, root);
    c.expect(bit_equal(t, expected), "broadcast on ", g.name(), " dtype ", dtype_name(dtype),
             " from root ", root);
  }
  // A non-contiguous destination is written in place, through its view.
  const int64_t root = g.size() - 1;
  const at::Tensor expected = known_input(g.members()[root], dtype, 6, salt + 1).view({2, 3});
  at::Tensor base =
      g.rank() == root ? expected.t().contiguous() : at::zeros({3, 2}, expected.options());
  at::Tensor view = base.t();
  g.broadcast(view, root);
  c.expect(bit_equal(base.t().contiguous(), expected), "broadcast on ", g.name(), " dtype ",
           dtype_name(dtype), " into a transposed view");
  // Zero elements and zero dims.
  at::Tensor empty = at::empty({0, 4}, expected.options());
  g.broadcast(empty, 0);
  c.expect(empty.sizes() == at::IntArrayRef({0, 4}), "broadcast of an empty tensor");
  const at::Tensor scalar = known_input(g.members()[0], dtype, 1, salt + 2).reshape({});
  at::Tensor s = g.rank() == 0 ? scalar.clone() : at::zeros({}, scalar.options());
  g.broadcast(s, 0);
  c.expect(bit_equal(s, scalar), "broadcast of a 0-dim ", dtype_name(dtype));
}

void check_scatter(Checks& c, Comm& g, at::ScalarType dtype, int64_t salt) {
  const int64_t root = salt % g.size();
  const std::vector<int64_t> counts = uneven_counts(g, {2, 0, 3, 1, 4}, salt);
  std::vector<at::Tensor> inputs;
  if (g.rank() == root) {
    for (int64_t r = 0; r < g.size(); ++r) {
      inputs.push_back(known_input(g.members()[r], dtype, counts[r], salt + 100));
    }
  }
  at::Tensor output = at::zeros({counts[g.rank()]}, at::TensorOptions().dtype(dtype));
  g.scatter(output, inputs, counts, root);
  c.expect(bit_equal(output, known_input(me(g), dtype, counts[g.rank()], salt + 100)),
           "scatter on ", g.name(), " dtype ", dtype_name(dtype), " from root ", root,
           " with counts ", shape_str(counts));
}

// The rank-order sum of the known inputs of every member, computed here.
at::Tensor rank_order_sum(const Comm& g, at::ScalarType dtype, int64_t count, int64_t salt) {
  at::Tensor sum = known_input(g.members()[0], dtype, count, salt);
  for (int64_t r = 1; r < g.size(); ++r) {
    sum = at::add(sum, known_input(g.members()[r], dtype, count, salt));
  }
  return sum;
}

void check_all_reduce(Checks& c, Comm& g, at::ScalarType dtype, int64_t salt) {
  at::Tensor t = known_input(me(g), dtype, 12, salt + 200).view({3, 4});
  g.all_reduce_sum(t);
  c.expect(bit_equal(t, rank_order_sum(g, dtype, 12, salt + 200).view({3, 4})),
           "all_reduce_sum on ", g.name(), " dtype ", dtype_name(dtype));
  at::Tensor empty = at::empty({0}, at::TensorOptions().dtype(dtype));
  g.all_reduce_sum(empty);
  c.expect(empty.numel() == 0, "all_reduce_sum of an empty tensor");
}

void check_dtype(Checks& c, Comm& g, at::ScalarType dtype, int64_t salt) {
  check_all_gather(c, g, dtype, salt);
  check_broadcast(c, g, dtype, salt);
  check_scatter(c, g, dtype, salt);
  check_all_reduce(c, g, dtype, salt);
}

// float32 inputs whose sum depends on the association: rank order gives
// (1 + 1e8) - 1e8 = 0, any order that adds 1e8 and -1e8 first gives 1.
void check_sum_order(Checks& c, Comm& g) {
  const float parts[] = {1.0f, 1e8f, -1e8f, 0.0f};
  const int64_t mine = me(g);
  at::Tensor t = at::full({2}, g.rank() < 4 ? parts[g.rank()] : 0.0f, at::kFloat);
  t[1] = static_cast<float>(mine) * 0.1f + 0.3f;
  g.all_reduce_sum(t);
  float expected0 = parts[0];
  float expected1 = static_cast<float>(g.members()[0]) * 0.1f + 0.3f;
  for (int64_t r = 1; r < g.size(); ++r) {
    expected0 = expected0 + (r < 4 ? parts[r] : 0.0f);
    expected1 = expected1 + (static_cast<float>(g.members()[r]) * 0.1f + 0.3f);
  }
  c.expect(t[0].item<float>() == expected0 && t[1].item<float>() == expected1,
           "all_reduce_sum is not the rank-order sum: got ", t[0].item<float>(), ", ",
           t[1].item<float>(), " expected ", expected0, ", ", expected1);
  if (g.size() >= 3) c.expect(expected0 == 0.0f, "the order probe lost its meaning");
}

void check_all_gather_cat(Checks& c, Comm& g) {
  const int64_t pattern[] = {2, 0, 3, 1};
  std::vector<int64_t> sizes;
  std::vector<at::Tensor> expected_parts;
  for (int64_t r = 0; r < g.size(); ++r) {
    sizes.push_back(pattern[r % 4]);
    expected_parts.push_back(
        known_input(g.members()[r], at::kFloat, 2 * sizes[r], 7).view({2, sizes[r]}));
  }
  const at::Tensor local = expected_parts[g.rank()];
  const at::Tensor out = all_gather_cat(g, local, 1, sizes);
  c.expect(bit_equal(out, at::cat(expected_parts, 1)), "all_gather_cat along dim 1 on ", g.name());
}

std::string byte_pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) % 256);
  return s;
}

void check_bytes(Checks& c, Comm& g) {
  std::string empty = g.rank() == 0 ? "" : "junk";
  g.broadcast_bytes(empty, 0);
  c.expect(empty.empty(), "broadcast_bytes of an empty string left ", empty.size(), " bytes");
  const std::string small("hello\0world", 11);
  std::string s = g.rank() == 1 % g.size() ? small : "x";
  g.broadcast_bytes(s, 1 % g.size());
  c.expect(s == small, "broadcast_bytes with an embedded NUL");
  const std::string large = byte_pattern((3u << 20) + 17, 7);
  std::string l = g.rank() == g.size() - 1 ? large : "y";
  g.broadcast_bytes(l, g.size() - 1);
  c.expect(l == large, "broadcast_bytes of ", large.size(), " bytes: got ", l.size());
}

void check_identity(Checks& c, C10dComm& comm) {
  const RendezvousInfo& info = comm.rendezvous();
  c.expect(comm.rank() == info.rank && comm.size() == info.world_size, "rank/size");
  std::vector<int64_t> all;
  for (int64_t r = 0; r < comm.size(); ++r) all.push_back(r);
  c.expect(comm.members() == all, "world members ", shape_str(comm.members()));
  c.expect(comm.name() == "world", "world name '", comm.name(), "'");
  c.expect(comm.device() == c10::Device(c10::kCPU), "device ", comm.device());
  c.expect(comm.backend() == "gloo", "backend ", comm.backend());
  c.expect(info.source == "torchrun", "rendezvous source ", info.source);
}

// Contract violations are local errors, not communication failures, and the
// group stays usable after them.
void check_local_errors(Checks& c, Comm& g) {
  const at::Tensor x = at::zeros({2});
  bool threw = false;
  try {
    g.all_gather(x, {2}, [](int64_t, const at::Tensor&) {});
  } catch (const CommError&) {
  } catch (const Error&) {
    threw = true;
  }
  c.expect(threw || g.size() == 1, "all_gather with too few counts did not throw Error");
  threw = false;
  try {
    at::Tensor y = at::zeros({2});
    g.broadcast(y, g.size());
  } catch (const CommError&) {
  } catch (const Error&) {
    threw = true;
  }
  c.expect(threw, "broadcast from a root outside the group did not throw Error");
  g.barrier();
}

void check_group(Checks& c, Comm& g, int64_t salt) {
  for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kComplexFloat, at::kBool}) {
    check_dtype(c, g, dtype, ++salt);
  }
  check_sum_order(c, g);
}

// Members {n-1, 0}: the list's order, not the ranks', defines group ranks.
void check_unsorted_subgroup(Checks& c, C10dComm& comm) {
  const int64_t n = comm.size();
  const std::vector<int64_t> members = {n - 1, 0};
  if (comm.rank() != 0 && comm.rank() != n - 1) {
    bool threw = false;
    try {
      comm.subgroup(members);
    } catch (const Error&) {
      threw = true;
    }
    c.expect(threw, "a non-member built sub-group ", shape_str(members));
    return;
  }
  const std::shared_ptr<Comm> g = comm.subgroup(members);
  c.expect(g->rank() == (comm.rank() == n - 1 ? 0 : 1) && g->size() == 2 && g->members() == members,
           "sub-group ", shape_str(members), " has rank ", g->rank(), " size ", g->size());
  c.expect(g->name() == "[" + std::to_string(n - 1) + ",0]", "sub-group name '", g->name(), "'");
  c.expect(comm.subgroup(members).get() == g.get(), "sub-groups are cached");
  check_group(c, *g, 40);
}

// A 2x2 mesh: dim 0 groups {0,2} {1,3}, dim 1 groups {0,1} {2,3}.
void check_mesh_groups(Checks& c, C10dComm& comm) {
  const DeviceMesh mesh(c10::kCPU, {2, 2});
  const int64_t r = comm.rank();
  const std::vector<int64_t> expected[2] = {{r % 2, r % 2 + 2}, {r / 2 * 2, r / 2 * 2 + 1}};
  std::shared_ptr<Comm> groups[2];
  for (int64_t dim = 0; dim < 2; ++dim) {
    groups[dim] = comm.mesh_group(mesh, dim);
    const Comm& g = *groups[dim];
    c.expect(g.members() == expected[dim], "mesh dim ", dim, " group ", shape_str(g.members()));
    c.expect(g.members()[g.rank()] == r, "mesh dim ", dim, " group rank ", g.rank());
    c.expect(comm.mesh_group(mesh, dim).get() == groups[dim].get(), "mesh groups are cached");
  }
  // Interleaved: each group's collectives match only their own.
  check_group(c, *groups[0], 50);
  check_dtype(c, comm, at::kDouble, 60);
  check_group(c, *groups[1], 70);
  check_dtype(c, *groups[0], at::kHalf, 80);
  // The same member list built again from another group is a distinct group.
  const std::shared_ptr<Comm> again = groups[1]->subgroup(groups[1]->members());
  c.expect(again.get() != groups[1].get(), "a rebuilt group is a new group");
  check_dtype(c, *again, at::kComplexDouble, 90);
  check_sum_order(c, *again);
}

}  // namespace

int run_battery() {
  std::shared_ptr<C10dComm> comm = connect_from_env();
  Checks c(comm->rank());
  check_identity(c, *comm);
  int64_t salt = 0;
  for (const at::ScalarType dtype : all_dtypes()) check_dtype(c, *comm, dtype, ++salt);
  check_sum_order(c, *comm);
  check_all_gather_cat(c, *comm);
  check_bytes(c, *comm);
  check_local_errors(c, *comm);
  if (comm->size() >= 3) check_unsorted_subgroup(c, *comm);
  if (comm->size() == 4) check_mesh_groups(c, *comm);
  comm->barrier();
  comm->finish();
  bool refused = false;
  try {
    comm->barrier();
  } catch (const CommError& e) {
    refused = std::string(e.what()).find("finished") != std::string::npos;
  }
  c.expect(refused, "a collective after finish() was not refused");
  std::cerr << "rank " << comm->rank() << ": " << c.count() << " checks, " << c.failed()
            << " failed" << std::endl;
  return c.failed() == 0 ? kWorkerOk : kWorkerCheckFailed;
}

}  // namespace shardsim::c10d::testing
