#include "ps/copy_on_write.h"

#include <chrono>
#include <cstring>
#include <string>
#include <utility>

namespace pst {

CopyOnWrite::CopyOnWrite(size_t num_units)
    : live_(num_units),
      marked_(num_units, 0),
      state_(new std::atomic<uint8_t>[num_units]),
      copies_(num_units) {
  for (size_t i = 0; i < num_units; ++i) state_[i].store(kLive, std::memory_order_relaxed);
}

void CopyOnWrite::Mark(size_t i, Spans live) {
  live_[i] = std::move(live);
  marked_[i] = 1;
}

void CopyOnWrite::Copy(size_t i) {
  size_t bytes = 0;
  for (std::span<const std::byte> s : live_[i]) bytes += s.size();
  std::vector<std::byte>& c = copies_[i];
  c.resize(bytes);
  std::byte* out = c.data();
  for (std::span<const std::byte> s : live_[i]) {
    if (!s.empty()) std::memcpy(out, s.data(), s.size());
    out += s.size();
  }
  units_copied_.fetch_add(1, std::memory_order_relaxed);
  bytes_copied_.fetch_add(bytes, std::memory_order_relaxed);
}

void CopyOnWrite::BeforeChange(size_t i) {
  if (!marked_[i] || closed()) return;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    uint8_t s = state_[i].load(std::memory_order_acquire);
    if (s == kLive) {
      if (!state_[i].compare_exchange_strong(s, kCopying, std::memory_order_acq_rel)) continue;
      Copy(i);
      state_[i].store(kCopied, std::memory_order_release);
      state_[i].notify_all();
      break;
    }
    if (s != kReading) return;  // copied before, or read: nothing to keep
    // The reader is encoding this unit from the live memory: let it finish.
    state_[i].wait(kReading, std::memory_order_acquire);
  }
  copy_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now() - start)
                         .count(),
                     std::memory_order_relaxed);
}

void CopyOnWrite::Detach() {
  for (size_t i = 0; i < live_.size(); ++i) BeforeChange(i);
}

Status CopyOnWrite::Read(size_t i, const std::function<Status(const Spans&)>& fn) {
  if (!marked_[i])
    return Status::FailedPrecondition("copy-on-write: unit " + std::to_string(i) +
                                      " was never marked");
  for (;;) {
    uint8_t s = state_[i].load(std::memory_order_acquire);
    if (s == kLive) {
      if (!state_[i].compare_exchange_strong(s, kReading, std::memory_order_acq_rel)) continue;
      Status out = fn(live_[i]);
      state_[i].store(kDone, std::memory_order_release);
      state_[i].notify_all();
      return out;
    }
    if (s == kCopying) {
      state_[i].wait(kCopying, std::memory_order_acquire);
      continue;
    }
    if (s != kCopied)
      return Status::FailedPrecondition("copy-on-write: unit " + std::to_string(i) +
                                        " was read before");
    // The copy, cut like the live spans.
    Spans spans;
    const std::byte* p = copies_[i].data();
    for (std::span<const std::byte> l : live_[i]) {
      spans.emplace_back(p, l.size());
      p += l.size();
    }
    Status out = fn(spans);
    std::vector<std::byte>().swap(copies_[i]);  // the reader owns it once kCopied
    state_[i].store(kDone, std::memory_order_release);
    return out;
  }
}

CopyOnWrite::Stats CopyOnWrite::stats() const {
  return Stats{units_copied_.load(std::memory_order_relaxed),
               bytes_copied_.load(std::memory_order_relaxed),
               double(copy_ns_.load(std::memory_order_relaxed)) / 1e6};
}

}  // namespace pst
