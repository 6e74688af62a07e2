#include "ps/sparse_chain.h"

namespace pst {

SparseChain::Next SparseChain::Plan(uint64_t changed_rows, uint64_t live_rows) const {
  if (broken_ || parent_ == 0 || chain_ >= max_chain_ ||
      increment_rows_ + changed_rows >= live_rows) {
    return Next{};
  }
  return Next{false, parent_, chain_ + 1};
}

void SparseChain::Captured(uint64_t id, const Next& next, uint64_t stored_rows) {
  parent_ = id;
  chain_ = next.chain;
  increment_rows_ = next.full ? 0 : increment_rows_ + stored_rows;
  broken_ = false;
}

void SparseChain::Lost(uint64_t id) {
  if (id == 0 || id == parent_) broken_ = true;
}

void SparseChain::Restored(uint64_t id, uint32_t chain, uint64_t increment_rows) {
  parent_ = id;
  chain_ = chain;
  increment_rows_ = increment_rows;
  broken_ = id == 0;
}

}  // namespace pst
