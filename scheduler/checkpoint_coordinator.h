// pst::CheckpointCoordinator: the scheduler's side of two-phase checkpoints.
//
// A round asks every PS shard to capture its state at one clock boundary K
// (chosen ahead of the fastest shard's version, since shards learn of the
// round only with their next heartbeat) and write it durably (phase 1). The
// round completes when every shard reports it written; the scheduler then
// records it in its own store, which is the commit point, and tells the shards
// to commit (phase 2). A round fails when a shard could not take it (the
// cluster was already past K, a write failed), a shard is dead, or it times
// out; a failed round's partial writes are never restored (restores only use
// recorded checkpoints) and the shards prune them later.
//
// How far ahead K is set adapts: a missed round doubles the margin, a
// completed one shrinks it again. How long a round may take before it is
// abandoned is derived per round (CheckpointRoundWait) from the pace and the
// bytes each PS writes, so a large model or a slow job is not cut off by a
// wait sized for a small, fast one. Pure logic, no I/O; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/job_spec.h"

namespace pst {

// How long the scheduler waits for a checkpoint round (SchedulerOptions::
// checkpoint_wait).
struct CheckpointWaitOptions {
  // Every round may take at least this long. Default: 60 s.
  std::chrono::milliseconds min_wait{60000};
  // The rate at which a PS is assumed to capture and durably write its share,
  // in bytes per second: well below what a disk sustains, as the PS trains
  // meanwhile and the machine may be shared. Default: 20 MB/s.
  double write_bytes_per_second = 20e6;
  // The round also gets this many times the time the cluster needs, at its
  // measured pace, to reach the round's clock (a pace estimate lags, and
  // steps slow down while a PS writes). Default: 4.
  double pace_factor = 4.0;
};

// Bytes the largest PS shard of `job` captures and writes per round: its keys
// times 3 floats (the parameters plus the most optimizer state any optimizer
// keeps, Adam's two moments).
uint64_t CheckpointShardBytes(const JobSpec& job);

// The wait for a round whose clock lies `margin` clocks ahead of the fastest
// node: min_wait, or, when longer, pace_factor times the time to advance
// `margin` clocks at `clocks_per_second` plus the time to write `shard_bytes`
// at write_bytes_per_second. A pace of 0 (unknown, or a stalled cluster)
// counts only the write.
std::chrono::milliseconds CheckpointRoundWait(const CheckpointWaitOptions& options, uint64_t margin,
                                              double clocks_per_second, uint64_t shard_bytes);

class CheckpointCoordinator {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  enum class Outcome { kNone, kPending, kComplete, kFailed };

  // One shard's view of the round, from its latest heartbeat.
  struct ShardReport {
    bool alive = true;
    uint64_t clock = 0;    // the clock (version) it last reported, to say how far behind it is
    uint64_t written = 0;  // newest checkpoint id written durably
    uint64_t failed = 0;   // newest checkpoint id it could not take
    std::string error;     // why, for the log
  };

  // Ids start after `last_id` (ids stay increasing across scheduler restarts).
  explicit CheckpointCoordinator(uint64_t last_id = 0) : last_id_(last_id) {}

  // Starts a round at a clock `margin()` clocks past `fastest_clock` (the
  // largest clock any node reported), to be waited for up to `wait` (see
  // CheckpointRoundWait; the caller passes it to Update). REQUIRES: !active().
  uint64_t Begin(uint64_t fastest_clock, TimePoint now,
                 std::chrono::milliseconds wait = std::chrono::milliseconds(60000));
  bool active() const { return active_; }
  uint64_t id() const { return active_ ? last_id_ : 0; }
  uint64_t clock() const { return active_ ? clock_ : 0; }
  uint64_t last_id() const { return last_id_; }
  uint64_t margin() const { return margin_; }
  TimePoint started() const { return started_; }
  // The wait given to Begin for the round in flight (or the last one).
  std::chrono::milliseconds wait() const { return wait_; }

  // Decides the round from every shard's report: kComplete once all are alive
  // and wrote it; kFailed (with *why) when one failed it, one is dead, or
  // `timeout` passed since Begin; else kPending. A decided round is over
  // (active() becomes false). kNone when no round is in flight. A round
  // abandoned for time names every PS that had not written it and how far
  // it was behind: the clocks it still had to reach, or that it had reached
  // the round's clock and was still writing.
  Outcome Update(const std::vector<ShardReport>& shards, TimePoint now,
                 std::chrono::milliseconds timeout, std::string* why);

  // Drops the round in flight (e.g. the job rolls back).
  void Abort() { active_ = false; }

  // Clocks per second the cluster advances, to size the margin: K must lie
  // beyond what the shards reach before they hear of the round (`latency`
  // is how long that takes). Call with a fresh estimate before Begin.
  void SetPace(double clocks_per_second, std::chrono::milliseconds latency);

 private:
  uint64_t last_id_;
  bool active_ = false;
  uint64_t clock_ = 0;
  TimePoint started_{};
  std::chrono::milliseconds wait_{60000};
  uint64_t margin_ = kMinMargin;
  uint64_t paced_margin_ = kMinMargin;
  uint32_t misses_ = 0;  // consecutive missed rounds
  static constexpr uint64_t kMinMargin = 8;
};

}  // namespace pst
