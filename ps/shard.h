// pst::Shard: the state of one PS shard, free of any networking: the values of
// its key range, the optimizer state beside them, and the gradient
// accumulators of bulk-synchronous training. pst::Server feeds it decoded
// requests.
//
// The range is split into blocks of job.train.block_keys keys (the last may be
// shorter), each with its own version and optimizer state, so a worker can
// receive the first updated blocks while it is still sending the last
// gradients. How pushes become updates depends on job.train.consistency:
//  - BSP: a block is updated once every worker has pushed it for the block's
//    next clock, with the mean gradient over all their samples;
//  - ASP and SSP: every push is applied on arrival (its own mean gradient).
//    Each worker's pushes come in clock order; SSP pulls wait until every live
//    (not retired) worker has pushed the clocks the puller may not miss.
// Every method validates its arguments (range, worker count, clock window,
// sizes) and leaves the state untouched when it returns an error.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
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
  // Under ASP/SSP pushes of one worker must come in clock order (per block):
  // kFailedPrecondition for a repeated or skipped clock.
  Status Push(uint32_t rank, uint64_t clock, KeyRange keys, uint32_t sample_count,
              const float* vals, size_t num_vals);

  // ASP/SSP: worker `rank` will push no more (it ran out of data); SSP pulls
  // stop waiting for it. kInvalidArgument for a bad rank or under BSP.
  Status Retire(uint32_t rank);

  // ASP/SSP: the number of clocks every live worker has pushed for all blocks
  // overlapping `keys` (UINT64_MAX when no worker is live). BSP: VersionOf(keys).
  uint64_t SlowestClock(KeyRange keys) const;

  // Checks a pull of `keys` for `min_version`: OK if it can be answered now
  // (BSP: every block overlapping keys has that version; SSP: every live worker
  // has pushed min_version clocks of them; ASP: always), kUnavailable if it must
  // wait, kInvalidArgument / kOutOfRange if it can never be answered.
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
    uint64_t version = 0;          // BSP: clocks applied; ASP/SSP: pushes applied
    std::vector<uint64_t> next_clock;  // ASP/SSP: per worker, clocks pushed (UINT64_MAX: retired)
    uint64_t optimizer_steps = 0;
    std::unique_ptr<Optimizer> optimizer;
    std::map<uint64_t, ClockAccum> pending;  // clock -> accumulator
  };

  Shard(KeyRange range, uint32_t num_workers, uint64_t max_ahead, Consistency consistency)
      : range_(range), num_workers_(num_workers), max_ahead_(max_ahead), consistency_(consistency) {}
  Status PushAsync(Block& b, uint32_t rank, uint64_t clock, uint32_t sample_count,
                   const float* vals, size_t num_vals);
  uint64_t SlowestOf(const Block& b) const;
  // The block that starts at `begin`, or nullptr.
  Block* FindBlock(uint64_t begin);
  const Block* FindBlock(uint64_t begin) const;
  Status CheckClock(const Block& b, uint32_t rank, uint64_t clock) const;
  void ApplyReadyClocks(Block& b);

  KeyRange range_;
  uint32_t num_workers_;
  uint64_t max_ahead_;
  Consistency consistency_;
  std::vector<float> params_;
  std::vector<Block> blocks_;
  std::vector<std::vector<float>> spare_sums_;  // accumulators for reuse
};

}  // namespace pst
