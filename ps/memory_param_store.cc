#include "ps/memory_param_store.h"

#include <iterator>
#include <string>

namespace pst {

Status MemoryParamStore::WriteCheckpoint(const CheckpointManifest& m, BlockSource& source,
                                         const std::vector<SparseRowsDelta>& sparse) {
  PST_ASSIGN_OR_RETURN(std::vector<BlockState> blocks, source.ReadAll());
  PST_RETURN_IF_ERROR(ValidateCheckpoint(m, blocks, sparse));
  std::vector<SparseRowsDelta> rows = sparse;
  for (SparseRowsDelta& d : rows) PST_RETURN_IF_ERROR(d.Materialize());
  return TEST_WriteCheckpointUnchecked(m, blocks, rows);
}

Status MemoryParamStore::TEST_WriteCheckpointUnchecked(const CheckpointManifest& m,
                                                       const std::vector<BlockState>& blocks,
                                                       const std::vector<SparseRowsDelta>& sparse) {
  if (checkpoints_.count(m.checkpoint_id) != 0) {
    return Status::AlreadyExists("checkpoint " + std::to_string(m.checkpoint_id) +
                                 " already exists");
  }
  if (m.sparse_parent != 0 && checkpoints_.count(m.sparse_parent) == 0) {
    return Status::FailedPrecondition("checkpoint " + std::to_string(m.checkpoint_id) +
                                      ": sparse parent " + std::to_string(m.sparse_parent) +
                                      " was never written (or was deleted)");
  }
  checkpoints_.emplace(m.checkpoint_id, Entry{m, blocks, sparse, false});
  return Status::OK();
}

Status MemoryParamStore::ReadSparseChain(uint64_t checkpoint_id, bool require_commit,
                                         const SparseChainFn& fn) {
  auto it = checkpoints_.find(checkpoint_id);
  if (it == checkpoints_.end() || (require_commit && !it->second.committed)) {
    return Status::NotFound("no " + std::string(require_commit ? "committed " : "") +
                            "checkpoint " + std::to_string(checkpoint_id));
  }
  auto read = [this](uint64_t id) -> StatusOr<CheckpointManifest> {
    auto e = checkpoints_.find(id);
    if (e == checkpoints_.end()) return Status::NotFound("checkpoint " + std::to_string(id));
    return e->second.manifest;
  };
  PST_ASSIGN_OR_RETURN(std::vector<CheckpointManifest> chain,
                       ResolveSparseChain(it->second.manifest, read));
  for (const CheckpointManifest& link : chain) {
    const Entry& e = checkpoints_.at(link.checkpoint_id);
    for (size_t t = 0; t < e.sparse.size(); ++t) {
      SparseChainPiece removed{link.checkpoint_id, t, {}};
      removed.rows.removed = e.sparse[t].removed;
      if (!removed.rows.removed.empty()) PST_RETURN_IF_ERROR(fn(removed));
      SparseChainPiece rows{link.checkpoint_id, t, {}};
      rows.rows.ids = e.sparse[t].ids;
      rows.rows.last_steps = e.sparse[t].last_steps;
      rows.rows.data = e.sparse[t].data;
      if (!rows.rows.ids.empty()) PST_RETURN_IF_ERROR(fn(rows));
    }
  }
  const Entry& target = it->second;
  for (size_t t = 0; t < target.sparse.size(); ++t) {
    if (target.sparse[t].sketch.empty()) continue;
    SparseChainPiece sketch{checkpoint_id, t, {}};
    sketch.rows.sketch = target.sparse[t].sketch;
    PST_RETURN_IF_ERROR(fn(sketch));
  }
  return Status::OK();
}

Status MemoryParamStore::CommitCheckpoint(uint64_t checkpoint_id) {
  auto it = checkpoints_.find(checkpoint_id);
  if (it == checkpoints_.end()) {
    return Status::NotFound("cannot commit checkpoint " + std::to_string(checkpoint_id) +
                            ": it was never written");
  }
  it->second.committed = true;
  return Status::OK();
}

Status MemoryParamStore::DeleteCheckpoint(uint64_t checkpoint_id) {
  checkpoints_.erase(checkpoint_id);
  return Status::OK();
}

StatusOr<std::vector<uint64_t>> MemoryParamStore::ListCommitted() {
  std::vector<uint64_t> ids;
  for (const auto& [id, e] : checkpoints_)
    if (e.committed) ids.push_back(id);
  return ids;
}

StatusOr<std::vector<uint64_t>> MemoryParamStore::ListUncommitted() {
  std::vector<uint64_t> ids;
  for (const auto& [id, e] : checkpoints_)
    if (!e.committed) ids.push_back(id);
  return ids;
}

StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> MemoryParamStore::ReadCheckpoint(
    uint64_t checkpoint_id) {
  auto it = checkpoints_.find(checkpoint_id);
  if (it == checkpoints_.end() || !it->second.committed) {
    return Status::NotFound("no committed checkpoint " + std::to_string(checkpoint_id));
  }
  return ReadWrittenCheckpoint(checkpoint_id);
}

StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>>
MemoryParamStore::ReadWrittenCheckpoint(uint64_t checkpoint_id) {
  auto it = checkpoints_.find(checkpoint_id);
  if (it == checkpoints_.end()) {
    return Status::NotFound("no checkpoint " + std::to_string(checkpoint_id) + " was written");
  }
  const Entry& e = it->second;
  Status valid = ValidateCheckpoint(e.manifest, e.blocks);
  if (!valid.ok()) return Status::DataLoss("inconsistent " + valid.message());
  return std::make_pair(e.manifest, e.blocks);
}

Status MemoryParamStore::Prune(size_t keep) {
  if (keep == 0) return Status::InvalidArgument("Prune: keep must be at least 1");
  PST_ASSIGN_OR_RETURN(std::vector<uint64_t> committed, ListCommitted());
  if (committed.empty()) return Status::OK();
  const uint64_t newest = committed.back();
  size_t committed_seen = 0;
  std::vector<uint64_t> candidates, kept;
  // Walk newest to oldest so the first `keep` committed ones survive.
  for (auto it = checkpoints_.rbegin(); it != checkpoints_.rend(); ++it) {
    const bool drop = it->second.committed ? ++committed_seen > keep : it->first < newest;
    (drop ? candidates : kept).push_back(it->first);
  }
  auto parent_of = [this](uint64_t id) {
    auto e = checkpoints_.find(id);
    return e == checkpoints_.end() ? 0 : e->second.manifest.sparse_parent;
  };
  for (uint64_t id : DroppableCheckpoints(candidates, kept, parent_of)) checkpoints_.erase(id);
  return Status::OK();
}

}  // namespace pst
