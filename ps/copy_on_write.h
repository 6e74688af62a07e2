// pst::CopyOnWrite: units of live memory that a reader thread reads in place
// while their owner's thread goes on changing them; a unit is copied only if
// its owner is about to change it before the reader has read it. Checkpoints
// use it so a PS holds no second copy of its whole state (ps/live_capture.h
// for dense blocks, ps/live_rows.h for sparse table chunks).
//
// At the capture point the owner marks each unit (Mark: the spans of bytes
// that hold it). Before it changes a marked unit's memory it calls
// BeforeChange: the unit is copied first, unless the reader has it already.
// Each unit goes: live -> (reading -> done) or (copying -> copied -> done).
// Read waits while the owner copies that unit; BeforeChange waits while the
// reader reads it (the reader holds a unit only for as long as it takes to
// encode it). A unit is handed to the reader once; its copy is freed once
// read.
//
// Lifetime: the marked memory belongs to the owner; before it frees or
// overwrites that memory other than through BeforeChange, it calls Detach,
// which copies every unit not read yet.
//
// Thread-safety: Mark, BeforeChange and Detach on the owner's thread; Read,
// Close on one reader thread, concurrently with them. Marking must be
// complete before the reader starts. Nothing throws.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "common/status.h"

namespace pst {

class CopyOnWrite {
 public:
  using Spans = std::vector<std::span<const std::byte>>;
  // What copying has cost so far.
  struct Stats {
    uint64_t units_copied = 0;
    uint64_t bytes_copied = 0;
    double copy_ms = 0;  // time the owner's thread spent copying (and waiting)
  };

  explicit CopyOnWrite(size_t num_units);
  CopyOnWrite(const CopyOnWrite&) = delete;
  CopyOnWrite& operator=(const CopyOnWrite&) = delete;

  size_t size() const { return live_.size(); }

  // Owner: unit i's state at the capture point is `live`. REQUIRES: i <
  // size(), not marked before, before the reader starts.
  void Mark(size_t i, Spans live);
  bool marked(size_t i) const { return marked_[i] != 0; }
  // Owner: unit i's memory is about to change. Copies it first unless the
  // reader has it already (waits while the reader reads it). A no-op for an
  // unmarked unit and after Close.
  void BeforeChange(size_t i);
  // Owner: copies every unit not read yet (its memory goes away).
  void Detach();

  // Reader: fn sees unit i's spans as marked (the live memory, or the copy,
  // which is freed after fn) and its result is returned. kFailedPrecondition
  // if unit i was not marked or was read before.
  Status Read(size_t i, const std::function<Status(const Spans&)>& fn);
  // Reader: no more reads; the owner stops copying.
  void Close() { closed_.store(true, std::memory_order_release); }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  Stats stats() const;

 private:
  enum State : uint8_t { kLive, kReading, kCopying, kCopied, kDone };
  void Copy(size_t i);

  std::vector<Spans> live_;     // written by Mark only
  std::vector<uint8_t> marked_;  // written by Mark only
  std::unique_ptr<std::atomic<uint8_t>[]> state_;
  // copies_[i]: the owner's until kCopied, the reader's after.
  std::vector<std::vector<std::byte>> copies_;
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> units_copied_{0};
  std::atomic<uint64_t> bytes_copied_{0};
  std::atomic<int64_t> copy_ns_{0};
};

// For an owner that hands out captures (weak_ptrs to them in `readers`):
// calls fn(capture) for each one still held by someone and not closed, and
// forgets the others.
template <typename Capture, typename Fn>
void ForEachOpenCapture(std::vector<std::weak_ptr<Capture>>& readers, Fn fn) {
  for (size_t i = 0; i < readers.size();) {
    std::shared_ptr<Capture> c = readers[i].lock();
    if (c == nullptr || c->closed()) {
      readers.erase(readers.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    fn(*c);
    ++i;
  }
}

}  // namespace pst
