#include "scheduler/shard_pool.h"

#include <algorithm>

namespace pst {

ShardPool::ShardPool(uint64_t num_samples, uint32_t batch_size, uint32_t batches_per_shard,
                     uint32_t epochs, bool lockstep)
    : num_samples_(num_samples),
      shard_samples_(uint64_t{batch_size} * batches_per_shard),
      batch_size_(batch_size),
      epochs_(epochs),
      shards_per_epoch_(static_cast<uint32_t>((num_samples + shard_samples_ - 1) / shard_samples_)),
      lockstep_(lockstep),
      completed_(epochs, 0) {}

void ShardPool::Complete(uint32_t epoch) {
  if (lockstep_ || epoch >= epochs_ || completed_[epoch] >= shards_per_epoch_) return;
  ++completed_[epoch];
  // Epochs close in order, so an evaluation always sees all earlier epochs.
  while (closed_ < epochs_ && completed_[closed_] == shards_per_epoch_) ++closed_;
}

ShardGrant ShardPool::NextFree() {
  ShardGrant g;
  if (next_shard_ >= shards_per_epoch_ && epoch_ + 1 < epochs_) {
    ++epoch_;
    next_shard_ = 0;
  }
  if (next_shard_ < shards_per_epoch_) {
    g = Lease(0);
  } else {
    g.kind = ShardGrant::Kind::kDone;
  }
  if (eval_handed_out_ < closed_) {
    g.evaluate = true;
    g.eval_epoch = eval_handed_out_++;
    g.eval_version = 0;  // no exact version without lockstep: the current model
    if (g.eval_epoch + 1 == epochs_) finished_ = true;
  }
  return g;
}

ShardGrant ShardPool::Lease(uint64_t clock) {
  ShardGrant g;
  g.kind = ShardGrant::Kind::kLease;
  g.epoch = epoch_;
  g.shard = next_shard_++;
  g.sample_begin = g.shard * shard_samples_;
  g.sample_end = std::min(num_samples_, g.sample_begin + shard_samples_);
  const uint64_t batches = (g.sample_end - g.sample_begin + batch_size_ - 1) / batch_size_;
  epoch_end_clock_ = std::max(epoch_end_clock_, clock + batches);
  return g;
}

ShardGrant ShardPool::Next(uint64_t clock) {
  if (!lockstep_) return NextFree();
  ShardGrant g;
  if (finished_) {
    // A worker still behind the last clock (its last lease ended early) must
    // keep pushing empty clocks until then, or the others' final clocks never
    // complete.
    if (clock < epoch_end_clock_) {
      g.kind = ShardGrant::Kind::kIdle;
      g.idle_until = epoch_end_clock_;
    } else {
      g.kind = ShardGrant::Kind::kDone;
    }
    return g;
  }
  if (clock < epoch_start_clock_) {
    g.kind = ShardGrant::Kind::kIdle;
    g.idle_until = epoch_start_clock_;
    return g;
  }
  if (next_shard_ < shards_per_epoch_) return Lease(clock);
  if (clock < epoch_end_clock_) {
    g.kind = ShardGrant::Kind::kIdle;
    g.idle_until = epoch_end_clock_;
    return g;
  }
  // Every lease of this epoch has ended by `clock`: close the epoch.
  const uint32_t closed = epoch_;
  const uint64_t version = epoch_end_clock_;
  if (epoch_ + 1 >= epochs_) {
    finished_ = true;
    g.kind = ShardGrant::Kind::kDone;
  } else {
    ++epoch_;
    next_shard_ = 0;
    epoch_start_clock_ = version;
    epoch_end_clock_ = version;
    g = Lease(clock);
  }
  g.evaluate = true;
  g.eval_epoch = closed;
  g.eval_version = version;
  return g;
}

}  // namespace pst
