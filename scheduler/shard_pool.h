// pst::ShardPool: hands out data shards (contiguous slices of each epoch's
// sample order) to workers as leases, epoch after epoch.
//
// Clocks make the schedule deterministic. A worker asks at clock c, the clock of
// its next step; a lease of L batches granted at c keeps it busy for clocks
// [c, c + L). When every shard of the epoch is leased, askers idle until the
// epoch's last lease ends (clock X); the first ask at clock >= X closes the
// epoch (and asks for its evaluation at model version X) and opens the next.
// With BSP and at least 2 batches per shard, which samples are trained at which
// clock therefore does not depend on message timing.
//
// Without lockstep (ASP and SSP, where workers' clocks drift apart) nobody
// idles: once an epoch is fully leased, the next epoch's shards are leased
// right away, and an epoch closes (with an evaluation order for whoever asks
// next) once the scheduler has reported every one of its shards Complete().
// When every epoch is leased, askers get kDone. Not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace pst {

struct ShardGrant {
  enum class Kind { kLease, kIdle, kDone };
  Kind kind = Kind::kIdle;
  uint32_t epoch = 0;
  uint32_t shard = 0;
  uint64_t sample_begin = 0;  // positions in the epoch's sample order
  uint64_t sample_end = 0;
  uint64_t idle_until = 0;    // kIdle: ask again at this clock
  bool evaluate = false;      // evaluate epoch eval_epoch's model (version eval_version)
  uint32_t eval_epoch = 0;
  uint64_t eval_version = 0;
};

class ShardPool {
 public:
  // REQUIRES: num_samples, batch_size, batches_per_shard, epochs >= 1.
  ShardPool(uint64_t num_samples, uint32_t batch_size, uint32_t batches_per_shard,
            uint32_t epochs, bool lockstep = true);

  // Without lockstep: a shard of `epoch` was trained to its end. Ignored with
  // lockstep (clocks say when leases end) and for epochs out of range.
  void Complete(uint32_t epoch);

  // The next piece of work for a worker that is at `clock`.
  ShardGrant Next(uint64_t clock);

  uint64_t num_samples() const { return num_samples_; }
  uint32_t shards_per_epoch() const { return shards_per_epoch_; }
  // Epoch currently being leased out.
  uint32_t epoch() const { return epoch_; }
  // True once the last epoch is closed.
  bool finished() const { return finished_; }

 private:
  ShardGrant Lease(uint64_t clock);
  ShardGrant NextFree();

  uint64_t num_samples_;
  uint64_t shard_samples_;
  uint32_t batch_size_;
  uint32_t epochs_;
  uint32_t shards_per_epoch_;
  uint32_t epoch_ = 0;
  uint32_t next_shard_ = 0;
  uint64_t epoch_start_clock_ = 0;
  uint64_t epoch_end_clock_ = 0;  // max end clock over the epoch's leases
  bool finished_ = false;
  bool lockstep_;
  // Without lockstep: shards completed per epoch, and epochs closed but not
  // yet handed out for evaluation.
  std::vector<uint32_t> completed_;
  uint32_t closed_ = 0;           // epochs [0, closed_) are closed
  uint32_t eval_handed_out_ = 0;  // evaluation orders given for epochs [0, this)
};

}  // namespace pst
