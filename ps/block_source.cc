#include "ps/block_source.h"

namespace pst {

BlockView BlockView::Of(const BlockState& b) {
  BlockView v{b.keys, b.version, b.optimizer_steps, b.values, {}};
  v.slots.assign(b.slots.begin(), b.slots.end());
  return v;
}

BlockState BlockView::ToState() const {
  BlockState b{keys, version, optimizer_steps, {values.begin(), values.end()}, {}};
  b.slots.reserve(slots.size());
  for (std::span<const float> s : slots) b.slots.emplace_back(s.begin(), s.end());
  return b;
}

StatusOr<std::vector<BlockState>> BlockSource::ReadAll() {
  std::vector<BlockState> out;
  out.reserve(size());
  for (size_t i = 0; i < size(); ++i) {
    PST_RETURN_IF_ERROR(Read(i, [&out](const BlockView& v) {
      out.push_back(v.ToState());
      return Status::OK();
    }));
  }
  return out;
}

}  // namespace pst
