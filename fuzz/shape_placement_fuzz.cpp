// The textual forms of `shardsim layout` and suite files: a shape ("7,5"), a
// mesh ("2x3") and placements ("S0,R"), one per line of the input. Each
// parses or is rejected with InvalidArgument on one line; when all three fit
// together, every rank's local shape and offset stay inside the global shape
// (PyTorch's rule: an empty shard's offset is the global size).
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_target.h"
#include "shardsim/core/error.h"
#include "shardsim/core/mesh.h"
#include "shardsim/core/placement.h"
#include "shardsim/core/shape.h"
#include "shardsim/core/sharding.h"

namespace {

// Parses with `parse`; false (after checking the message) on InvalidArgument.
template <typename T, typename Fn>
bool parsed(Fn parse, const std::string& what, T* out) {
  try {
    *out = parse();
    return true;
  } catch (const shardsim::InvalidArgument& e) {
    shardsim::fuzz::check_message(e.what(), what);
    return false;
  }
}

void check_layout(const shardsim::Shape& shape, const shardsim::Shape& mesh_shape,
                  const shardsim::Shape& coord, const shardsim::Placements& placements) {
  using namespace shardsim;
  const LocalLayout layout =
      compute_local_shape_and_global_offset(shape, mesh_shape, coord, placements);
  if (layout.shape.size() != shape.size() || layout.offset.size() != shape.size()) {
    fuzz::finding("layout rank mismatch for " + shape_str(shape));
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t size = layout.shape[d], offset = layout.offset[d];
    const bool ok = size >= 0 && size <= shape[d] && offset >= 0 &&
                    (size == 0 ? offset <= shape[d] : offset + size <= shape[d]);
    if (!ok) {
      fuzz::finding("layout out of bounds: shape " + shape_str(shape) + " mesh " +
                    mesh_shape_str(mesh_shape) + " coord " + shape_str(coord) + " placements " +
                    placements_str(placements) + " -> local " + shape_str(layout.shape) +
                    " offset " + shape_str(layout.offset));
    }
  }
}

int fuzz_shape_placement(const uint8_t* data, size_t size) {
  using namespace shardsim;
  std::vector<std::string> lines;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  for (std::string line; std::getline(in, line) && lines.size() < 3;) lines.push_back(line);
  lines.resize(3);
  Shape shape, mesh_shape;
  Placements placements;
  const bool have_shape =
      parsed([&] { return parse_shape(lines[0], "--shape"); }, "--shape", &shape);
  const bool have_mesh =
      parsed([&] { return parse_mesh_shape(lines[1], "--mesh"); }, "--mesh", &mesh_shape);
  const bool have_placements =
      parsed([&] { return parse_placements(lines[2]); }, "placement", &placements);
  if (!have_shape || !have_mesh || !have_placements) return 0;
  if (placements.size() != mesh_shape.size()) return 0;
  for (const Placement& p : placements) {
    if (p.is_shard() && p.dim() >= static_cast<int64_t>(shape.size())) return 0;
  }
  const DeviceMesh mesh(c10::kCPU, mesh_shape);
  // Every rank of a small mesh; the first, middle and last of a large one.
  std::vector<int64_t> ranks;
  if (mesh.size() <= 512) {
    for (int64_t r = 0; r < mesh.size(); ++r) ranks.push_back(r);
  } else {
    ranks = {0, mesh.size() / 2, mesh.size() - 1};
  }
  for (int64_t r : ranks) check_layout(shape, mesh_shape, mesh.coordinate(r), placements);
  return 0;
}

}  // namespace

SHARDSIM_FUZZ_TARGET("shape_placement", fuzz_shape_placement)
