// pst::Shard: the state of one PS shard, free of any networking: the values of
// its key range, the optimizer state beside them, and the per-clock gradient
// accumulators of bulk-synchronous training. pst::Server feeds it decoded
// requests. Every method validates its arguments against the shard's range,
// the worker count and the clock window, and leaves the state untouched when it
// returns an error. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/status.h"
#include "ps/optimizer.h"

namespace pst {

class Shard {
 public:
  // Initialises keys `range` of the model described by job.model (same values
  // as any other split would give). kInvalidArgument for a bad job or range.
  static StatusOr<std::unique_ptr<Shard>> Create(const JobSpec& job, KeyRange range,
                                                 uint32_t num_workers, uint64_t max_clocks_ahead);

  KeyRange range() const { return range_; }
  // Number of clocks applied so far.
  uint64_t version() const { return version_; }
  // Number of optimizer steps taken (clocks with at least one sample).
  uint64_t optimizer_steps() const { return optimizer_steps_; }

  // Adds one push: gradient sums over `sample_count` samples for keys `keys` at
  // `clock`, from worker `rank`, which sends `chunks` pushes for this clock (all
  // with the same sample_count and chunk count). When every worker has sent all
  // its chunks for clock == version(), the mean gradient is applied and the
  // version advances (repeatedly, if later clocks are complete too).
  // Errors (state unchanged): kInvalidArgument (rank, range, sizes, chunk
  // count), kFailedPrecondition (clock already applied), kOutOfRange (clock too
  // far ahead), kAlreadyExists (this chunk or worker was already counted).
  Status Push(uint32_t rank, uint64_t clock, KeyRange keys, uint32_t sample_count, uint32_t chunks,
              const float* vals, size_t num_vals);

  // Checks a pull of `keys` for `min_version`: OK if it can be answered now,
  // kUnavailable if it must wait for the version, kInvalidArgument /
  // kOutOfRange if it can never be answered.
  Status CheckPull(KeyRange keys, uint64_t min_version) const;
  // The current values of keys. REQUIRES: range().Contains(keys).
  const float* values(KeyRange keys) const { return params_.data() + (keys.begin - range_.begin); }

 private:
  struct ClockAccum {
    std::vector<float> grad_sum;  // allocated on first data
    uint64_t samples = 0;
    uint32_t workers_complete = 0;
    std::map<uint32_t, uint32_t> chunks_expected;   // rank -> chunk count
    std::map<uint32_t, std::set<uint64_t>> chunks_seen;  // rank -> chunk begin keys
  };

  Shard(const JobSpec& job, KeyRange range, uint32_t num_workers, uint64_t max_ahead)
      : job_(job), range_(range), num_workers_(num_workers), max_ahead_(max_ahead) {}
  void ApplyReadyClocks();

  JobSpec job_;
  KeyRange range_;
  uint32_t num_workers_;
  uint64_t max_ahead_;
  uint64_t version_ = 0;
  uint64_t optimizer_steps_ = 0;
  std::vector<float> params_;
  std::unique_ptr<Optimizer> optimizer_;
  std::map<uint64_t, ClockAccum> pending_;  // clock -> accumulator
};

}  // namespace pst
