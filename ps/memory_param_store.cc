#include "ps/memory_param_store.h"

#include <iterator>
#include <string>

namespace pst {

Status MemoryParamStore::WriteCheckpoint(const CheckpointManifest& m,
                                         const std::vector<BlockState>& blocks) {
  PST_RETURN_IF_ERROR(ValidateCheckpoint(m, blocks));
  return TEST_WriteCheckpointUnchecked(m, blocks);
}

Status MemoryParamStore::TEST_WriteCheckpointUnchecked(const CheckpointManifest& m,
                                                       const std::vector<BlockState>& blocks) {
  if (checkpoints_.count(m.checkpoint_id) != 0) {
    return Status::AlreadyExists("checkpoint " + std::to_string(m.checkpoint_id) +
                                 " already exists");
  }
  checkpoints_.emplace(m.checkpoint_id, Entry{m, blocks, false});
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
  // Walk newest to oldest so the first `keep` committed ones survive.
  for (auto it = checkpoints_.rbegin(); it != checkpoints_.rend();) {
    bool drop;
    if (it->second.committed) {
      drop = ++committed_seen > keep;
    } else {
      drop = it->first < newest;
    }
    if (drop) {
      it = std::make_reverse_iterator(checkpoints_.erase(std::next(it).base()));
    } else {
      ++it;
    }
  }
  return Status::OK();
}

}  // namespace pst
