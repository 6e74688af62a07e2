#include "ps/param_store.h"

#include <algorithm>
#include <set>

namespace pst {

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
