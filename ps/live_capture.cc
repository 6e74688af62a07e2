#include "ps/live_capture.h"

#include <string>
#include <utility>

namespace pst {

LiveCapture::LiveCapture(size_t num_blocks)
    : blocks_(num_blocks),
      marked_(num_blocks, 0),
      state_(new std::atomic<uint8_t>[num_blocks]),
      copies_(num_blocks) {
  for (size_t i = 0; i < num_blocks; ++i) state_[i].store(kLive, std::memory_order_relaxed);
}

void LiveCapture::Mark(size_t i, LiveBlock live) {
  blocks_[i] = std::move(live);
  marked_[i] = 1;
}

void LiveCapture::CopyBlock(size_t i) {
  const LiveBlock& b = blocks_[i];
  const size_t n = b.keys.size();
  BlockState& c = copies_[i];
  c.keys = b.keys;
  c.version = b.version;
  c.optimizer_steps = b.optimizer_steps;
  c.values.assign(b.values, b.values + n);
  c.slots.resize(b.slots.size());
  for (size_t s = 0; s < b.slots.size(); ++s) c.slots[s].assign(b.slots[s], b.slots[s] + n);
  blocks_copied_.fetch_add(1, std::memory_order_relaxed);
  bytes_copied_.fetch_add(n * (1 + b.slots.size()) * sizeof(float), std::memory_order_relaxed);
}

void LiveCapture::BeforeChange(size_t i) {
  if (!marked_[i] || closed()) return;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    uint8_t s = state_[i].load(std::memory_order_acquire);
    if (s == kLive) {
      if (!state_[i].compare_exchange_strong(s, kCopying, std::memory_order_acq_rel)) continue;
      CopyBlock(i);
      state_[i].store(kCopied, std::memory_order_release);
      state_[i].notify_all();
      break;
    }
    if (s != kReading) return;  // copied before, or read: nothing to keep
    // The reader is encoding this block from the live memory: let it finish.
    state_[i].wait(kReading, std::memory_order_acquire);
  }
  copy_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now() - start)
                         .count(),
                     std::memory_order_relaxed);
}

void LiveCapture::Detach() {
  for (size_t i = 0; i < blocks_.size(); ++i) BeforeChange(i);
}

Status LiveCapture::Read(size_t i, const VisitFn& fn) {
  if (!marked_[i])
    return Status::FailedPrecondition("live capture: block " + std::to_string(i) +
                                      " was never captured");
  for (;;) {
    uint8_t s = state_[i].load(std::memory_order_acquire);
    if (s == kLive) {
      if (!state_[i].compare_exchange_strong(s, kReading, std::memory_order_acq_rel)) continue;
      const LiveBlock& b = blocks_[i];
      BlockView v{b.keys, b.version, b.optimizer_steps, {b.values, b.keys.size()}, {}};
      for (const float* slot : b.slots) v.slots.emplace_back(slot, b.keys.size());
      Status out = fn(v);
      state_[i].store(kDone, std::memory_order_release);
      state_[i].notify_all();
      return out;
    }
    if (s == kCopying) {
      state_[i].wait(kCopying, std::memory_order_acquire);
      continue;
    }
    if (s != kCopied)
      return Status::FailedPrecondition("live capture: block " + std::to_string(i) +
                                        " was read before");
    Status out = fn(BlockView::Of(copies_[i]));
    copies_[i] = BlockState();  // frees the copy: the reader owns it once kCopied
    state_[i].store(kDone, std::memory_order_release);
    return out;
  }
}

void LiveCapture::Close() { closed_.store(true, std::memory_order_release); }

LiveCapture::Stats LiveCapture::stats() const {
  return Stats{blocks_copied_.load(std::memory_order_relaxed),
               bytes_copied_.load(std::memory_order_relaxed),
               double(copy_ns_.load(std::memory_order_relaxed)) / 1e6};
}

}  // namespace pst
