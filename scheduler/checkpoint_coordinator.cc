#include "scheduler/checkpoint_coordinator.h"

#include <algorithm>

namespace pst {

void CheckpointCoordinator::SetPace(double clocks_per_second, std::chrono::milliseconds latency) {
  // Three times the latency: the pace estimate lags, and a busy machine
  // delays the shards' loop turns.
  const double ahead = clocks_per_second * 3.0 * latency.count() / 1000.0;
  paced_margin_ = std::max<uint64_t>(kMinMargin, static_cast<uint64_t>(ahead) + kMinMargin);
  margin_ = paced_margin_ << std::min<uint32_t>(misses_, 16);
}

uint64_t CheckpointCoordinator::Begin(uint64_t fastest_clock, TimePoint now) {
  active_ = true;
  clock_ = fastest_clock + margin_;
  started_ = now;
  return ++last_id_;
}

CheckpointCoordinator::Outcome CheckpointCoordinator::Update(
    const std::vector<ShardReport>& shards, TimePoint now, std::chrono::milliseconds timeout,
    std::string* why) {
  if (!active_) return Outcome::kNone;
  bool all_written = true;
  for (size_t i = 0; i < shards.size(); ++i) {
    const ShardReport& s = shards[i];
    if (!s.alive) {
      *why = "PS " + std::to_string(i) + " is not alive";
    } else if (s.failed >= last_id_) {
      *why = "PS " + std::to_string(i) + ": " + (s.error.empty() ? "failed" : s.error);
    } else {
      all_written = all_written && s.written >= last_id_;
      continue;
    }
    active_ = false;
    ++misses_;
    margin_ = paced_margin_ << std::min<uint32_t>(misses_, 16);
    return Outcome::kFailed;
  }
  if (all_written) {
    active_ = false;
    misses_ = 0;
    margin_ = paced_margin_;
    return Outcome::kComplete;
  }
  if (now - started_ > timeout) {
    *why = "not every PS wrote it within " + std::to_string(timeout.count()) + " ms";
    active_ = false;
    ++misses_;
    margin_ = paced_margin_ << std::min<uint32_t>(misses_, 16);
    return Outcome::kFailed;
  }
  return Outcome::kPending;
}

}  // namespace pst
