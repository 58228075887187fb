// shardsim layout: each rank's mesh coordinate, local shape and global offset
// for a global shape split over a mesh by placements (PyTorch's
// compute_local_shape_and_global_offset, reference-semantics §4).
#include <algorithm>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "shardsim/core/error.h"
#include "shardsim/core/mesh.h"
#include "shardsim/core/placement.h"
#include "shardsim/core/shape.h"
#include "shardsim/core/sharding.h"

namespace shardsim::cli {

namespace {

constexpr const char* kName = "shardsim layout";

// "[4,2]": the compact JSON form.
std::string json_ints(const Shape& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + std::to_string(values[i]);
  return out + "]";
}

// "(0, 1)": a mesh coordinate in the table.
std::string coord_str(const Shape& coord) {
  std::string out = "(";
  for (size_t i = 0; i < coord.size(); ++i) out += (i ? ", " : "") + std::to_string(coord[i]);
  return out + ")";
}

struct Row {
  int64_t rank;
  Shape coord;
  LocalLayout layout;
};

void print_json(const std::vector<Row>& rows) {
  for (const Row& r : rows) {
    std::cout << "{\"rank\":" << r.rank << ",\"coord\":" << json_ints(r.coord)
              << ",\"local_shape\":" << json_ints(r.layout.shape)
              << ",\"global_offset\":" << json_ints(r.layout.offset) << "}\n";
  }
}

// Left-aligned columns two spaces apart, a header row first.
void print_table(const std::vector<Row>& rows) {
  std::vector<std::vector<std::string>> cells = {{"rank", "coord", "local_shape", "global_offset"}};
  for (const Row& r : rows) {
    cells.push_back({std::to_string(r.rank), coord_str(r.coord), shape_str(r.layout.shape),
                     shape_str(r.layout.offset)});
  }
  std::vector<size_t> width(4, 0);
  for (const auto& line : cells) {
    for (size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], line[c].size());
  }
  for (const auto& line : cells) {
    std::string out;
    for (size_t c = 0; c < line.size(); ++c) {
      out += line[c];
      if (c + 1 < line.size()) out += std::string(width[c] - line[c].size() + 2, ' ');
    }
    std::cout << out << "\n";
  }
}

// Runs `parse`, re-throwing its InvalidArgument with `option` in front unless
// the message already names it.
template <typename Fn>
auto naming(const std::string& option, Fn parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const InvalidArgument& e) {
    const std::string msg = e.what();
    if (msg.compare(0, option.size(), option) == 0) throw;
    throw InvalidArgument(option + ": " + msg);
  }
}

}  // namespace

int layout_command(int argc, char** argv) {
  CLI::App app(
      "Print each rank's mesh coordinate, local shape and global offset for a tensor of --shape "
      "split over --mesh by --placements, exactly as PyTorch's DTensor computes them (uneven and "
      "empty shards included; an empty shard reports the global size as its offset).",
      kName);
  std::string shape_text, mesh_text, placements_text;
  bool json = false;
  app.add_option(
         "--shape", shape_text,
         "global shape, sizes separated by commas: 7,5 (zero sizes allowed; \"\" for 0-dim)")
      ->required();
  app.add_option("--mesh", mesh_text, "mesh shape, sizes separated by x: 8, 2x4, 2x2x2")
      ->required();
  app.add_option("--placements", placements_text,
                 "one placement per mesh dim, separated by commas: S<d> (shard tensor dim d), "
                 "R (replicate), P (partial sum)")
      ->required();
  app.add_flag("--json", json,
               "one JSON object per rank and line: "
               "{\"rank\":0,\"coord\":[0,0],\"local_shape\":[4,2],\"global_offset\":[0,0]}");
  app.footer("example: shardsim layout --shape 7,5 --mesh 2x3 --placements S0,S1");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  try {
    const Shape shape = naming("--shape", [&] { return parse_shape(shape_text, "--shape"); });
    const Shape mesh_shape =
        naming("--mesh", [&] { return parse_mesh_shape(mesh_text, "--mesh"); });
    const Placements placements =
        naming("--placements", [&] { return parse_placements(placements_text); });
    if (placements.size() != mesh_shape.size()) {
      return usage_error(kName, "--placements: " + std::to_string(placements.size()) +
                                    " placements for a " + std::to_string(mesh_shape.size()) +
                                    "-dim mesh (--mesh " + mesh_text +
                                    "); give one per mesh dimension");
    }
    for (const Placement& p : placements) {
      if (p.is_shard() && p.dim() >= static_cast<int64_t>(shape.size())) {
        const int64_t n = static_cast<int64_t>(shape.size());
        return usage_error(kName, "--placements: " + p.word() + " is out of range for --shape " +
                                      shape_str(shape) + " (" + std::to_string(n) + " dims" +
                                      (n > 0 ? ": 0.." + std::to_string(n - 1) : "") + ")");
      }
    }
    const DeviceMesh mesh(c10::kCPU, mesh_shape);
    std::vector<Row> rows;
    rows.reserve(static_cast<size_t>(mesh.size()));
    for (int64_t rank = 0; rank < mesh.size(); ++rank) {
      const Shape coord = mesh.coordinate(rank);
      rows.push_back({rank, coord,
                      compute_local_shape_and_global_offset(shape, mesh_shape, coord, placements)});
    }
    if (json) {
      print_json(rows);
    } else {
      print_table(rows);
    }
  } catch (const InvalidArgument& e) {
    return usage_error(kName, e.what());
  }
  return 0;
}

}  // namespace shardsim::cli
