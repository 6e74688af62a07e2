// pst::MemoryParamStore: a ParamStore that keeps checkpoints in memory, for
// tests. Same semantics and validation as RocksDbParamStore, nothing durable:
// the data lives as long as the object. Not thread-safe (see ps/param_store.h).
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "common/status.h"
#include "ps/param_store.h"

namespace pst {

class MemoryParamStore final : public ParamStore {
 public:
  MemoryParamStore() = default;
  MemoryParamStore(const MemoryParamStore&) = delete;
  MemoryParamStore& operator=(const MemoryParamStore&) = delete;

  using ParamStore::WriteCheckpoint;
  // Copies every block and live sparse row (the store keeps them in memory).
  Status WriteCheckpoint(const CheckpointManifest& m, BlockSource& blocks,
                         const std::vector<SparseRowsDelta>& sparse) override;
  Status ReadSparseChain(uint64_t checkpoint_id, bool require_commit,
                         const SparseChainFn& fn) override;
  Status CommitCheckpoint(uint64_t checkpoint_id) override;
  Status DeleteCheckpoint(uint64_t checkpoint_id) override;
  StatusOr<std::vector<uint64_t>> ListCommitted() override;
  StatusOr<std::vector<uint64_t>> ListUncommitted() override;
  StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> ReadCheckpoint(
      uint64_t checkpoint_id) override;
  StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> ReadWrittenCheckpoint(
      uint64_t checkpoint_id) override;
  Status Prune(size_t keep) override;

  // Stores a checkpoint without validating it (kAlreadyExists still applies),
  // so tests can check that ReadCheckpoint reports inconsistent data.
  Status TEST_WriteCheckpointUnchecked(const CheckpointManifest& m,
                                       const std::vector<BlockState>& blocks,
                                       const std::vector<SparseRowsDelta>& sparse = {});

 private:
  struct Entry {
    CheckpointManifest manifest;
    std::vector<BlockState> blocks;
    std::vector<SparseRowsDelta> sparse;
    bool committed = false;
  };
  std::map<uint64_t, Entry> checkpoints_;
};

}  // namespace pst
