// The Hugging Face sharded safetensors form: a directory holding
// `<prefix>.safetensors.index.json` and `<prefix>-0000N-of-0000M.safetensors`.
//
// The index is a JSON object {"metadata": {...}, "weight_map": {"<tensor>":
// "<file name>", ...}}; each file name is relative to the index's directory.
// Reading checks that the shards and the weight map agree exactly: every
// tensor a shard holds is mapped to that shard, and every mapped tensor is
// in its shard. Writing splits the tensors, in their order, into shards of
// at most `max_shard_bytes` of tensor data (a larger tensor gets a shard of
// its own, as Hugging Face does), writes every shard, and writes the index
// last, so a directory whose index exists has every shard it names. The
// index is always written, also for a single shard.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shardsim/checkpoint/env.h"
#include "shardsim/checkpoint/safetensors.h"

namespace shardsim::checkpoint {

// The index file name of `prefix`: "model" -> "model.safetensors.index.json".
std::string safetensors_index_name(const std::string& prefix = "model");
// The name of shard `index` (1-based) of `count`: "model-00001-of-00003.safetensors".
std::string safetensors_shard_name(const std::string& prefix, int64_t index, int64_t count);

// Reads the index at `index_path` and every shard it names. The tensors come
// shard by shard (in file-name order), each shard's in data-buffer order;
// `metadata` is the index's "metadata" object, a non-string value (such as
// "total_size") given as its JSON text.
SafetensorsContents read_safetensors_index(Env& env, const std::string& index_path);

// How write_safetensors_sharded splits and names.
struct ShardedWriteOptions {
  int64_t max_shard_bytes = int64_t{5} << 30;  // tensor bytes per shard (Hugging Face's 5 GB default)
  std::string prefix = "model";                // file names: <prefix>-0000N-of-0000M.safetensors
};

// Writes `tensors` into `dir` (created if missing) as shards plus an index
// whose metadata is {"total_size": <tensor bytes>}; each shard's
// __metadata__ is {"format": "pt"}, which transformers requires. Returns the
// names of the files written, shards first, the index last.
std::vector<std::string> write_safetensors_sharded(Env& env, const std::string& dir,
                                                   const Mapping& tensors,
                                                   const ShardedWriteOptions& options = {});

}  // namespace shardsim::checkpoint
