#include "ps/shard.h"

#include <algorithm>
#include <string>

#include "common/model_layout.h"

namespace pst {
namespace {

std::string RangeText(KeyRange r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

}  // namespace

StatusOr<std::unique_ptr<Shard>> Shard::Create(const JobSpec& job, KeyRange range,
                                               uint32_t num_workers, uint64_t max_clocks_ahead) {
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));
  PST_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::FromSpec(job.model));
  if (range.end < range.begin || range.end > layout.total())
    return Status::InvalidArgument("shard range " + RangeText(range) + " is outside the model's " +
                                   std::to_string(layout.total()) + " keys");
  if (num_workers == 0) return Status::InvalidArgument("shard needs at least one worker");
  if (max_clocks_ahead == 0) return Status::InvalidArgument("max_clocks_ahead must be >= 1");
  std::unique_ptr<Shard> shard(
      new Shard(range, num_workers, max_clocks_ahead, job.train.consistency));
  shard->params_.resize(range.size());
  InitParams(job.model, layout, range.begin, range.end, shard->params_.data());
  for (const KeyRange& keys : SplitIntoChunks(range, job.train.block_keys)) {
    if (keys.empty()) continue;  // a server with no keys has no blocks
    Block b;
    b.keys = keys;
    b.next_clock.assign(num_workers, 0);
    PST_ASSIGN_OR_RETURN(b.optimizer, Optimizer::Create(job.optimizer, keys.size()));
    shard->blocks_.push_back(std::move(b));
  }
  return shard;
}

std::vector<KeyRange> Shard::blocks() const {
  std::vector<KeyRange> out;
  for (const Block& b : blocks_) out.push_back(b.keys);
  return out;
}

uint64_t Shard::version() const {
  if (blocks_.empty()) return 0;
  uint64_t v = UINT64_MAX;
  for (const Block& b : blocks_) v = std::min(v, b.version);
  return v;
}

uint64_t Shard::optimizer_steps(uint64_t key) const {
  for (const Block& b : blocks_)
    if (b.keys.begin <= key && key < b.keys.end) return b.optimizer_steps;
  return 0;
}

const Shard::Block* Shard::FindBlock(uint64_t begin) const {
  auto it = std::lower_bound(blocks_.begin(), blocks_.end(), begin,
                             [](const Block& b, uint64_t k) { return b.keys.begin < k; });
  return it != blocks_.end() && it->keys.begin == begin ? &*it : nullptr;
}

Shard::Block* Shard::FindBlock(uint64_t begin) {
  return const_cast<Block*>(static_cast<const Shard*>(this)->FindBlock(begin));
}

Status Shard::CheckClock(const Block& b, uint32_t rank, uint64_t clock) const {
  if (clock < b.version)
    return Status::FailedPrecondition("push: clock " + std::to_string(clock) +
                                      " was already applied to block " + RangeText(b.keys) +
                                      " (version " + std::to_string(b.version) + ")");
  if (clock >= b.version + max_ahead_)
    return Status::OutOfRange("push: clock " + std::to_string(clock) + " is more than " +
                              std::to_string(max_ahead_) + " clocks ahead of version " +
                              std::to_string(b.version));
  auto it = b.pending.find(clock);
  if (it != b.pending.end() && it->second.ranks.count(rank))
    return Status::AlreadyExists("push: worker " + std::to_string(rank) + " already pushed block " +
                                 RangeText(b.keys) + " for clock " + std::to_string(clock));
  return Status::OK();
}

Status Shard::Retire(uint32_t rank) {
  if (rank >= num_workers_)
    return Status::InvalidArgument("retire: worker rank " + std::to_string(rank) +
                                   " >= number of workers " + std::to_string(num_workers_));
  if (consistency_ == Consistency::kBsp)
    return Status::InvalidArgument("retire: BSP workers push empty clocks instead");
  for (Block& b : blocks_) b.next_clock[rank] = UINT64_MAX;
  return Status::OK();
}

uint64_t Shard::SlowestOf(const Block& b) const {
  uint64_t slowest = UINT64_MAX;
  for (uint64_t c : b.next_clock) slowest = std::min(slowest, c);
  return slowest;
}

uint64_t Shard::SlowestClock(KeyRange keys) const {
  if (consistency_ == Consistency::kBsp) return keys.empty() ? version() : VersionOf(keys);
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), keys.begin,
                             [](uint64_t k, const Block& b) { return k < b.keys.end; });
  uint64_t v = UINT64_MAX;
  for (; it != blocks_.end() && it->keys.begin < keys.end; ++it) v = std::min(v, SlowestOf(*it));
  return v;
}

Status Shard::PushAsync(Block& b, uint32_t rank, uint64_t clock, uint32_t sample_count,
                        const float* vals, size_t num_vals) {
  const uint64_t expected = b.next_clock[rank];
  if (expected == UINT64_MAX)
    return Status::FailedPrecondition("push: worker " + std::to_string(rank) + " has retired");
  if (clock != expected)
    return Status::FailedPrecondition("push: worker " + std::to_string(rank) + " pushed clock " +
                                      std::to_string(clock) + " of block " + RangeText(b.keys) +
                                      " but its next clock is " + std::to_string(expected));
  if (sample_count > 0) {
    // Applied on arrival: the push's own mean gradient. grad_sum of a spare
    // accumulator is the scratch space, so the network frame stays read-only.
    std::vector<float> scratch;
    if (!spare_sums_.empty()) {
      scratch = std::move(spare_sums_.back());
      spare_sums_.pop_back();
    }
    const float inv = 1.0f / static_cast<float>(sample_count);
    scratch.resize(num_vals);
    for (size_t i = 0; i < num_vals; ++i) scratch[i] = vals[i] * inv;
    b.optimizer->Apply(params_.data() + (b.keys.begin - range_.begin), scratch.data(),
                       ++b.optimizer_steps);
    spare_sums_.push_back(std::move(scratch));
    ++b.version;
  }
  b.next_clock[rank] = clock + 1;
  return Status::OK();
}

Status Shard::Push(uint32_t rank, uint64_t clock, KeyRange keys, uint32_t sample_count,
                   const float* vals, size_t num_vals) {
  if (rank >= num_workers_)
    return Status::InvalidArgument("push: worker rank " + std::to_string(rank) +
                                   " >= number of workers " + std::to_string(num_workers_));
  if (num_vals != keys.size() || keys.end < keys.begin)
    return Status::InvalidArgument("push: " + std::to_string(num_vals) + " values for keys " +
                                   RangeText(keys));
  if (consistency_ != Consistency::kBsp) {
    if (keys.empty()) {
      if (sample_count != 0)
        return Status::InvalidArgument("push: an empty push must have a sample count of 0");
      for (const Block& b : blocks_)
        if (b.next_clock[rank] != clock)
          return Status::FailedPrecondition("push: empty push for clock " + std::to_string(clock) +
                                            " out of order");
      for (Block& b : blocks_) b.next_clock[rank] = clock + 1;
      return Status::OK();
    }
    Block* b = FindBlock(keys.begin);
    if (!b || b->keys.end != keys.end)
      return Status::InvalidArgument("push: keys " + RangeText(keys) +
                                     " are not one block of this shard " + RangeText(range_));
    if (sample_count == 0)
      return Status::InvalidArgument("push: gradient values with a sample count of 0");
    return PushAsync(*b, rank, clock, sample_count, vals, num_vals);
  }
  if (keys.empty()) {
    if (sample_count != 0)
      return Status::InvalidArgument("push: an empty push must have a sample count of 0");
    for (const Block& b : blocks_) PST_RETURN_IF_ERROR(CheckClock(b, rank, clock));
    for (Block& b : blocks_) {
      b.pending[clock].ranks.insert(rank);
      ApplyReadyClocks(b);
    }
    return Status::OK();
  }
  Block* b = FindBlock(keys.begin);
  if (!b || b->keys.end != keys.end)
    return Status::InvalidArgument("push: keys " + RangeText(keys) +
                                   " are not one block of this shard " + RangeText(range_) +
                                   " (block size mismatch between worker and server?)");
  if (sample_count == 0)
    return Status::InvalidArgument("push: gradient values with a sample count of 0");
  PST_RETURN_IF_ERROR(CheckClock(*b, rank, clock));

  // All checks passed: only now is state modified.
  ClockAccum& acc = b->pending[clock];
  acc.ranks.insert(rank);
  acc.samples += sample_count;
  if (acc.grad_sum.empty()) {
    // The first contribution is copied, later ones added.
    if (!spare_sums_.empty()) {
      acc.grad_sum = std::move(spare_sums_.back());
      spare_sums_.pop_back();
    }
    acc.grad_sum.assign(vals, vals + num_vals);
  } else {
    float* dst = acc.grad_sum.data();
    for (size_t i = 0; i < num_vals; ++i) dst[i] += vals[i];
  }
  ApplyReadyClocks(*b);
  return Status::OK();
}

void Shard::ApplyReadyClocks(Block& b) {
  for (;;) {
    auto it = b.pending.find(b.version);
    if (it == b.pending.end() || it->second.ranks.size() < num_workers_) return;
    ClockAccum& acc = it->second;
    if (acc.samples > 0 && !acc.grad_sum.empty()) {
      const float inv = 1.0f / static_cast<float>(acc.samples);
      for (float& g : acc.grad_sum) g *= inv;
      b.optimizer->Apply(params_.data() + (b.keys.begin - range_.begin), acc.grad_sum.data(),
                         ++b.optimizer_steps);
      spare_sums_.push_back(std::move(acc.grad_sum));
    }
    b.pending.erase(it);
    ++b.version;
  }
}

Status Shard::CheckPull(KeyRange keys, uint64_t min_version) const {
  if (keys.end < keys.begin || !range_.Contains(keys))
    return Status::InvalidArgument("pull: keys " + RangeText(keys) +
                                   " are not inside this shard's " + RangeText(range_));
  if (consistency_ == Consistency::kAsp) return Status::OK();
  const uint64_t have = consistency_ == Consistency::kSsp
                            ? SlowestClock(keys)
                            : (keys.empty() ? version() : VersionOf(keys));
  if (have != UINT64_MAX && min_version > have + max_ahead_)
    return Status::OutOfRange("pull: version " + std::to_string(min_version) +
                              " is too far ahead of " + std::to_string(have));
  if (min_version > have) return Status::Unavailable("pull: waiting for version");
  return Status::OK();
}

uint64_t Shard::VersionOf(KeyRange keys) const {
  // Blocks are sorted; start at the first one that ends after keys.begin.
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), keys.begin,
                             [](uint64_t k, const Block& b) { return k < b.keys.end; });
  uint64_t v = UINT64_MAX;
  for (; it != blocks_.end() && it->keys.begin < keys.end; ++it) v = std::min(v, it->version);
  return v == UINT64_MAX ? version() : v;
}

}  // namespace pst
