#include "scheduler/checkpoint_coordinator.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/job_tables.h"

namespace pst {

uint64_t CheckpointShardBytes(const JobSpec& job) {
  auto tables = JobTables(job);
  if (!tables.ok() || job.num_servers == 0) return 0;
  const uint64_t keys = (DenseKeyCount(*tables) + job.num_servers - 1) / job.num_servers;
  return keys * 3 * sizeof(float);
}

std::chrono::milliseconds CheckpointRoundWait(const CheckpointWaitOptions& options, uint64_t margin,
                                              double clocks_per_second, uint64_t shard_bytes) {
  double seconds = 0;
  if (clocks_per_second > 0) seconds += options.pace_factor * double(margin) / clocks_per_second;
  if (options.write_bytes_per_second > 0)
    seconds += double(shard_bytes) / options.write_bytes_per_second;
  // Capped at a day, so that a pace near zero cannot overflow the duration.
  const auto derived = std::chrono::milliseconds(
      static_cast<int64_t>(std::ceil(std::min(seconds, 86400.0) * 1000.0)));
  return std::max(options.min_wait, derived);
}

void CheckpointCoordinator::SetPace(double clocks_per_second, std::chrono::milliseconds latency) {
  // Three times the latency: the pace estimate lags, and a busy machine
  // delays the shards' loop turns.
  const double ahead = clocks_per_second * 3.0 * latency.count() / 1000.0;
  paced_margin_ = std::max<uint64_t>(kMinMargin, static_cast<uint64_t>(ahead) + kMinMargin);
  margin_ = paced_margin_ << std::min<uint32_t>(misses_, 16);
}

uint64_t CheckpointCoordinator::Begin(uint64_t fastest_clock, TimePoint now,
                                      std::chrono::milliseconds wait) {
  active_ = true;
  clock_ = fastest_clock + margin_;
  started_ = now;
  wait_ = wait;
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
    std::string behind;
    for (size_t i = 0; i < shards.size(); ++i) {
      const ShardReport& s = shards[i];
      if (s.written >= last_id_) continue;
      behind += behind.empty() ? "" : "; ";
      behind += s.clock < clock_
                    ? fmt::format("PS {} was at clock {}, {} clock{} short of {}", i, s.clock,
                                  clock_ - s.clock, clock_ - s.clock == 1 ? "" : "s", clock_)
                    : fmt::format("PS {} had reached clock {} (at {}) but not finished writing",
                                  i, clock_, s.clock);
    }
    *why = fmt::format("not every PS wrote it within {:.1f} s: {}", timeout.count() / 1000.0,
                       behind);
    active_ = false;
    ++misses_;
    margin_ = paced_margin_ << std::min<uint32_t>(misses_, 16);
    return Outcome::kFailed;
  }
  return Outcome::kPending;
}

}  // namespace pst
