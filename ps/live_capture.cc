#include "ps/live_capture.h"

#include <cstddef>
#include <utility>

namespace pst {
namespace {

std::span<const std::byte> Bytes(const float* p, size_t n) {
  return {reinterpret_cast<const std::byte*>(p), n * sizeof(float)};
}
std::span<const float> Floats(std::span<const std::byte> b) {
  return {reinterpret_cast<const float*>(b.data()), b.size() / sizeof(float)};
}

}  // namespace

void LiveCapture::Mark(size_t i, LiveBlock live) {
  const size_t n = live.keys.size();
  CopyOnWrite::Spans spans{Bytes(live.values, n)};
  for (const float* slot : live.slots) spans.push_back(Bytes(slot, n));
  blocks_[i] = std::move(live);
  cow_.Mark(i, std::move(spans));
}

Status LiveCapture::Read(size_t i, const VisitFn& fn) {
  const LiveBlock& b = blocks_[i];
  return cow_.Read(i, [&](const CopyOnWrite::Spans& spans) {
    BlockView v{b.keys, b.version, b.optimizer_steps, Floats(spans[0]), {}};
    for (size_t s = 1; s < spans.size(); ++s) v.slots.push_back(Floats(spans[s]));
    return fn(v);
  });
}

}  // namespace pst
