// pst::Shard: the state of one PS shard, free of any networking: the values of
// its key range, the optimizer state beside them, and the gradient
// accumulators of bulk-synchronous training. pst::Server feeds it decoded
// requests.
//
// The range is split into blocks of job.train.block_keys keys (the last may be
// shorter). Each block has its own version and optimizer state, and is updated
// as soon as every worker has pushed it for the block's next clock, so a
// worker can receive the first updated blocks while it is still sending the
// last gradients. Every method validates its arguments (range, worker count,
// clock window, sizes) and leaves the state untouched when it returns an
// error. Not thread-safe.
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
  // The blocks, in key order; they tile range() (none if it is empty).
  std::vector<KeyRange> blocks() const;
  // Number of clocks applied to every block (the smallest block version).
  uint64_t version() const;
  // Optimizer steps taken by the block holding `key` (clocks with at least one
  // sample). REQUIRES: range() contains key.
  uint64_t optimizer_steps(uint64_t key) const;

  // Adds one push from worker `rank` for `clock`: gradient sums over
  // `sample_count` samples for exactly one block (`keys` equal to a block), or,
  // with sample_count 0, empty keys and no values, "nothing from this worker at
  // this clock" for every block (an idle worker under BSP). A block whose push
  // completes clock == its version applies the mean gradient (sum over workers /
  // total samples) with the job's optimizer and advances its version
  // (repeatedly, if later clocks are complete too).
  // Errors (state unchanged): kInvalidArgument (rank, keys not a block, sizes,
  // values with no samples), kFailedPrecondition (clock already applied),
  // kOutOfRange (clock too far ahead), kAlreadyExists (this worker already
  // pushed this block for this clock).
  Status Push(uint32_t rank, uint64_t clock, KeyRange keys, uint32_t sample_count,
              const float* vals, size_t num_vals);

  // Checks a pull of `keys` for `min_version`: OK if every block overlapping
  // keys has reached it, kUnavailable if it must wait, kInvalidArgument /
  // kOutOfRange if it can never be answered.
  Status CheckPull(KeyRange keys, uint64_t min_version) const;
  // The smallest version among the blocks overlapping `keys`.
  // REQUIRES: range().Contains(keys), keys not empty.
  uint64_t VersionOf(KeyRange keys) const;
  // The current values of keys. REQUIRES: range().Contains(keys).
  const float* values(KeyRange keys) const { return params_.data() + (keys.begin - range_.begin); }

 private:
  struct ClockAccum {
    std::vector<float> grad_sum;  // allocated on first data
    uint64_t samples = 0;
    std::set<uint32_t> ranks;     // workers that pushed this block for this clock
  };
  struct Block {
    KeyRange keys;
    uint64_t version = 0;
    uint64_t optimizer_steps = 0;
    std::unique_ptr<Optimizer> optimizer;
    std::map<uint64_t, ClockAccum> pending;  // clock -> accumulator
  };

  Shard(KeyRange range, uint32_t num_workers, uint64_t max_ahead)
      : range_(range), num_workers_(num_workers), max_ahead_(max_ahead) {}
  // The block that starts at `begin`, or nullptr.
  Block* FindBlock(uint64_t begin);
  const Block* FindBlock(uint64_t begin) const;
  Status CheckClock(const Block& b, uint32_t rank, uint64_t clock) const;
  void ApplyReadyClocks(Block& b);

  KeyRange range_;
  uint32_t num_workers_;
  uint64_t max_ahead_;
  std::vector<float> params_;
  std::vector<Block> blocks_;
  std::vector<std::vector<float>> spare_sums_;  // accumulators for reuse
};

}  // namespace pst
