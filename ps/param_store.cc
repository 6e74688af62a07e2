#include "ps/param_store.h"

#include <algorithm>
#include <set>
#include <unordered_set>

namespace pst {

Status ValidateCheckpointStart(const CheckpointManifest& m, size_t num_blocks) {
  const std::string id = "checkpoint " + std::to_string(m.checkpoint_id) + ": ";
  if (m.range.end < m.range.begin) return Status::InvalidArgument(id + "inverted key range");
  if ((m.sparse_parent == 0) != (m.sparse_chain == 0) || m.sparse_chain > kMaxSparseChain ||
      (m.sparse_parent != 0 && m.sparse_parent >= m.checkpoint_id)) {
    return Status::InvalidArgument(id + "sparse parent " + std::to_string(m.sparse_parent) +
                                   " at chain length " + std::to_string(m.sparse_chain) +
                                   " (a parent is an older checkpoint, chains hold 1.." +
                                   std::to_string(kMaxSparseChain) + " increments)");
  }
  std::unordered_set<std::string> names;
  for (const std::string& name : m.slot_names) {
    if (name.empty()) return Status::InvalidArgument(id + "empty slot name");
    if (!names.insert(name).second)
      return Status::InvalidArgument(id + "duplicate slot name '" + name + "'");
  }
  if (num_blocks != m.num_blocks) {
    return Status::InvalidArgument(id + "manifest says " + std::to_string(m.num_blocks) +
                                   " blocks, got " + std::to_string(num_blocks));
  }
  return Status::OK();
}

Status ValidateBlock(const CheckpointManifest& m, size_t i, const BlockView& b, uint64_t* next) {
  const std::string where = "checkpoint " + std::to_string(m.checkpoint_id) + ": block " +
                            std::to_string(i) + " [" + std::to_string(b.keys.begin) + ", " +
                            std::to_string(b.keys.end) + "): ";
  if (b.keys.empty()) return Status::InvalidArgument(where + "empty or inverted");
  if (b.keys.begin != *next) {
    return Status::InvalidArgument(where + "expected to start at " + std::to_string(*next) +
                                   " (blocks must tile the shard range in order)");
  }
  if (b.keys.end > m.range.end) return Status::InvalidArgument(where + "past the shard range");
  if (b.values.size() != b.keys.size()) {
    return Status::InvalidArgument(where + std::to_string(b.values.size()) + " values, want " +
                                   std::to_string(b.keys.size()));
  }
  if (b.slots.size() != m.slot_names.size()) {
    return Status::InvalidArgument(where + std::to_string(b.slots.size()) + " slots, want " +
                                   std::to_string(m.slot_names.size()));
  }
  for (size_t s = 0; s < b.slots.size(); ++s) {
    if (b.slots[s].size() != b.keys.size()) {
      return Status::InvalidArgument(where + "slot '" + m.slot_names[s] + "' has " +
                                     std::to_string(b.slots[s].size()) + " floats, want " +
                                     std::to_string(b.keys.size()));
    }
  }
  *next = b.keys.end;
  return Status::OK();
}

Status ValidateCheckpointEnd(const CheckpointManifest& m, uint64_t next) {
  if (next == m.range.end) return Status::OK();
  return Status::InvalidArgument("checkpoint " + std::to_string(m.checkpoint_id) +
                                 ": blocks end at " + std::to_string(next) +
                                 ", shard range ends at " + std::to_string(m.range.end));
}

Status ValidateCheckpoint(const CheckpointManifest& m, const std::vector<BlockState>& blocks) {
  PST_RETURN_IF_ERROR(ValidateCheckpointStart(m, blocks.size()));
  uint64_t next = m.range.begin;
  for (size_t i = 0; i < blocks.size(); ++i)
    PST_RETURN_IF_ERROR(ValidateBlock(m, i, BlockView::Of(blocks[i]), &next));
  return ValidateCheckpointEnd(m, next);
}

StatusOr<std::vector<CheckpointManifest>> ResolveSparseChain(
    const CheckpointManifest& target,
    const std::function<StatusOr<CheckpointManifest>(uint64_t)>& read) {
  std::vector<CheckpointManifest> chain{target};
  while (chain.back().sparse_parent != 0) {
    const CheckpointManifest& child = chain.back();
    const std::string what = "checkpoint " + std::to_string(target.checkpoint_id) +
                             ": sparse chain link " + std::to_string(child.sparse_parent);
    if (chain.size() > kMaxSparseChain) return Status::DataLoss(what + ": chain too long");
    StatusOr<CheckpointManifest> parent = read(child.sparse_parent);
    if (parent.status().code() == StatusCode::kNotFound)
      return Status::DataLoss(what + " is missing: " + parent.status().message());
    if (!parent.ok()) return parent.status().WithContext(what);
    if (parent->checkpoint_id != child.sparse_parent ||
        parent->sparse_chain + 1 != child.sparse_chain)
      return Status::DataLoss(what + ": chain lengths " + std::to_string(parent->sparse_chain) +
                              " -> " + std::to_string(child.sparse_chain) + " do not step by one");
    const auto& a = parent->sparse_tables;
    const auto& b = target.sparse_tables;
    bool same = a.size() == b.size();
    for (size_t i = 0; same && i < a.size(); ++i)
      same =
          a[i].name == b[i].name && a[i].dim == b[i].dim && a[i].state_floats == b[i].state_floats;
    if (!same) return Status::DataLoss(what + " holds other sparse tables than the target");
    chain.push_back(std::move(parent).value());
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

std::vector<uint64_t> DroppableCheckpoints(const std::vector<uint64_t>& candidates,
                                           const std::vector<uint64_t>& kept,
                                           const std::function<uint64_t(uint64_t)>& parent_of) {
  std::set<uint64_t> needed;
  for (uint64_t id : kept) {
    // Parents are strictly older, so the walk ends; the bound guards bad data.
    uint64_t p = parent_of(id);
    for (uint32_t i = 0; p != 0 && i <= kMaxSparseChain && needed.insert(p).second; ++i)
      p = parent_of(p);
  }
  std::vector<uint64_t> out;
  for (uint64_t id : candidates)
    if (!needed.count(id)) out.push_back(id);
  return out;
}

}  // namespace pst
