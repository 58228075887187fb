// The Hugging Face sharded safetensors form: an index JSON plus shards.
#include "shardsim/checkpoint/safetensors_index.h"

#include <cstdio>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "safetensors_detail.h"
#include "shardsim/core/checked.h"
#include "shardsim/core/error.h"

namespace shardsim::checkpoint {

namespace {

// A shard name must stay inside the index's directory.
void check_shard_name(const std::string& name, const std::string& tensor,
                      const std::string& index_path) {
  SHARDSIM_CHECK_ARG(!name.empty() && name != "." && name != ".." &&
                         name.find('/') == std::string::npos && name.find('\0') == std::string::npos,
                     index_path, ": weight_map puts tensor '", tensor, "' in '", name,
                     "', which is not a file name in the index's directory");
}

}  // namespace

std::string safetensors_index_name(const std::string& prefix) {
  return prefix + ".safetensors.index.json";
}

std::string safetensors_shard_name(const std::string& prefix, int64_t index, int64_t count) {
  char numbers[64];
  std::snprintf(numbers, sizeof(numbers), "-%05lld-of-%05lld", static_cast<long long>(index),
                static_cast<long long>(count));
  return prefix + numbers + ".safetensors";
}

SafetensorsContents read_safetensors_index(Env& env, const std::string& index_path) {
  const std::string text = env.read_file(index_path);
  const nlohmann::json index = detail::parse_json_without_duplicates(text, index_path + ": the index");
  SHARDSIM_CHECK_ARG(index.is_object(), index_path, ": the index is not a JSON object");
  SHARDSIM_CHECK_ARG(index.contains("weight_map") && index.at("weight_map").is_object(),
                     index_path, ": the index has no \"weight_map\" object");

  SafetensorsContents contents;
  if (index.contains("metadata") && !index.at("metadata").is_null()) {
    const nlohmann::json& m = index.at("metadata");
    SHARDSIM_CHECK_ARG(m.is_object(), index_path, ": \"metadata\" is not an object");
    for (auto it = m.begin(); it != m.end(); ++it) {
      contents.metadata[it.key()] =
          it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    }
  }

  // shard file name -> the tensors the weight map puts there
  std::map<std::string, std::set<std::string>> tensors_of_shard;
  std::map<std::string, std::string> shard_of_tensor;
  const nlohmann::json& weight_map = index.at("weight_map");
  for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
    SHARDSIM_CHECK_ARG(it.value().is_string(), index_path, ": weight_map entry '", it.key(),
                       "' is not a file name string but ", it.value().dump());
    const std::string shard = it.value().get<std::string>();
    check_shard_name(shard, it.key(), index_path);
    tensors_of_shard[shard].insert(it.key());
    shard_of_tensor[it.key()] = shard;
  }

  const std::string dir = parent_dir(index_path);
  for (const auto& [shard, expected] : tensors_of_shard) {
    const std::string shard_path = join_file_path(dir, shard);
    SafetensorsContents part = read_safetensors(env, shard_path);
    std::set<std::string> found;
    for (size_t i = 0; i < part.tensors.size(); ++i) {
      const std::string& name = part.tensors.key(i);
      auto owner = shard_of_tensor.find(name);
      SHARDSIM_CHECK_ARG(owner != shard_of_tensor.end(), shard_path, ": tensor '", name,
                         "' is not in the weight_map of ", index_path);
      SHARDSIM_CHECK_ARG(owner->second == shard, shard_path, ": tensor '", name,
                         "' is in this shard but the weight_map of ", index_path, " puts it in ",
                         owner->second);
      found.insert(name);
      contents.tensors.set(name, part.tensors.value(i));
    }
    for (const std::string& name : expected) {
      SHARDSIM_CHECK_ARG(found.count(name), index_path, ": weight_map puts tensor '", name,
                         "' in ", shard, ", which does not hold it (", shard_path, " has ",
                         part.tensors.size(), " tensors)");
    }
  }
  return contents;
}

std::vector<std::string> write_safetensors_sharded(Env& env, const std::string& dir,
                                                   const Mapping& tensors,
                                                   const ShardedWriteOptions& options) {
  SHARDSIM_CHECK_ARG(options.max_shard_bytes >= 1, "write_safetensors_sharded '", dir,
                     "': max_shard_bytes ", options.max_shard_bytes, " must be at least 1");
  SHARDSIM_CHECK_ARG(!options.prefix.empty() && options.prefix.find('/') == std::string::npos,
                     "write_safetensors_sharded '", dir, "': prefix '", options.prefix,
                     "' is not a plain file name");

  // Validate every value and plan the shards before writing anything.
  std::vector<Mapping> shards;
  int64_t shard_bytes = 0;
  int64_t total_bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const int64_t bytes = detail::checked_tensor_bytes(tensors.key(i), tensors.value(i), dir);
    total_bytes = checked_add(total_bytes, bytes, dir + ": total tensor bytes");
    const bool alone = bytes > options.max_shard_bytes;
    if (shards.empty() || alone || shard_bytes + bytes > options.max_shard_bytes ||
        shard_bytes > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().set(tensors.key(i), tensors.value(i));
    shard_bytes += bytes;
  }
  if (shards.empty()) shards.emplace_back();  // an empty state dict still gets one shard

  env.create_dirs(dir);
  const int64_t count = static_cast<int64_t>(shards.size());
  std::vector<std::string> written;
  nlohmann::json weight_map = nlohmann::json::object();
  for (int64_t s = 0; s < count; ++s) {
    const std::string name = safetensors_shard_name(options.prefix, s + 1, count);
    const Mapping& shard = shards[static_cast<size_t>(s)];
    write_safetensors(env, join_file_path(dir, name), shard, {{"format", "pt"}});
    for (const std::string& key : shard.keys()) weight_map[key] = name;
    written.push_back(name);
  }
  nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}},
                          {"weight_map", std::move(weight_map)}};
  const std::string index_name = safetensors_index_name(options.prefix);
  // Python's json.dumps(index, indent=2, sort_keys=True) + "\n", as transformers writes it.
  env.write_file_atomic(join_file_path(dir, index_name), index.dump(2, ' ', true) + "\n");
  written.push_back(index_name);
  return written;
}

}  // namespace shardsim::checkpoint
