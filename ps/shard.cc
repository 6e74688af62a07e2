#include "ps/shard.h"

#include <algorithm>
#include <string>
#include <tuple>

namespace pst {
namespace {

std::string RangeText(KeyRange r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

}  // namespace

StatusOr<std::unique_ptr<Shard>> Shard::Create(const std::vector<TableSpec>& tables,
                                               const TrainSpec& train, KeyRange range,
                                               uint32_t num_workers, uint64_t max_clocks_ahead) {
  PST_RETURN_IF_ERROR(ValidateTables(tables));
  PST_RETURN_IF_ERROR(ValidateTrainSpec(train));
  const TableSpec* first_dense = nullptr;
  for (const TableSpec& t : tables) {
    if (t.kind != TableKind::kDense) continue;
    if (!first_dense) first_dense = &t;
    if (!(t.optimizer == first_dense->optimizer))
      return Status::InvalidArgument("dense tables '" + first_dense->name + "' and '" + t.name +
                                     "' declare different optimizers: a PS block may span "
                                     "dense tables, so they must share one");
  }
  if (!first_dense) return Status::InvalidArgument("shard: no dense table declared");
  const uint64_t total = DenseKeyCount(tables);
  if (range.end < range.begin || range.end > total)
    return Status::InvalidArgument("shard range " + RangeText(range) + " is outside the model's " +
                                   std::to_string(total) + " keys");
  if (num_workers > kMaxRanks)
    return Status::InvalidArgument("shard: " + std::to_string(num_workers) + " workers, at most " +
                                   std::to_string(kMaxRanks));
  if (max_clocks_ahead == 0) return Status::InvalidArgument("max_clocks_ahead must be >= 1");
  const OptimizerSpec& optimizer = first_dense->optimizer;
  std::unique_ptr<Shard> shard(new Shard(range, max_clocks_ahead, train));
  // The slot names come from an empty optimizer, so a shard without keys knows them too.
  PST_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> names, Optimizer::Create(optimizer, 0));
  shard->slot_names_ = names->SlotNames();
  shard->workers_.assign(num_workers, Worker{WorkerState::kActive, 0});
  shard->RebuildRoster();
  shard->params_.resize(range.size());
  InitDenseKeys(tables, range.begin, range.end, shard->params_.data());
  for (const KeyRange& keys : SplitIntoChunks(range, BlockKeys(train))) {
    if (keys.empty()) continue;  // a server with no keys has no blocks
    Block b;
    b.keys = keys;
    b.next_clock.assign(num_workers, 0);
    PST_ASSIGN_OR_RETURN(b.optimizer, Optimizer::Create(optimizer, keys.size()));
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

void Shard::RebuildRoster() {
  active_.clear();
  min_from_ = UINT64_MAX;
  max_from_ = 0;
  for (uint32_t r = 0; r < workers_.size(); ++r) {
    if (!OnRoster(r)) continue;
    active_.push_back(r);
    min_from_ = std::min(min_from_, workers_[r].from_clock);
    max_from_ = std::max(max_from_, workers_[r].from_clock);
  }
}

Status Shard::CheckWorker(uint32_t rank, uint64_t clock) const {
  const WorkerState state = rank < workers_.size() ? workers_[rank].state : WorkerState::kAbsent;
  if (state == WorkerState::kActive && clock >= workers_[rank].from_clock) return Status::OK();
  const std::string who = "push: worker " + std::to_string(rank);
  switch (state) {
    case WorkerState::kAbsent:
      return Status::InvalidArgument(who + " is not on this shard's roster (never added)");
    case WorkerState::kRemoved:
      return Status::FailedPrecondition(who + " was removed from the job");
    case WorkerState::kRetired:
      return Status::FailedPrecondition(who + " has retired");
    case WorkerState::kActive:
      break;
  }
  return Status::FailedPrecondition(who + " joined at clock " +
                                    std::to_string(workers_[rank].from_clock) +
                                    " and cannot push clock " + std::to_string(clock));
}

Status Shard::AddWorker(uint32_t rank, uint64_t from_clock) {
  const std::string who =
      "add worker " + std::to_string(rank) + " from clock " + std::to_string(from_clock) + ": ";
  if (rank >= kMaxRanks)
    return Status::InvalidArgument(who + "ranks must be < " + std::to_string(kMaxRanks));
  if (OnRoster(rank)) return Status::AlreadyExists(who + "already on the roster");
  if (!async()) {
    for (const Block& b : blocks_) {
      if (b.version > from_clock)
        return Status::FailedPrecondition(who + "block " + RangeText(b.keys) +
                                          " already applied clocks up to " +
                                          std::to_string(b.version - 1) + " without it");
      for (const auto& [clock, acc] : b.pending)
        if (clock >= from_clock && acc.ranks.count(rank))
          return Status::FailedPrecondition(who + "its push of clock " + std::to_string(clock) +
                                            " to block " + RangeText(b.keys) +
                                            " from before it was removed is still pending");
    }
  } else if (capture_ && capture_->num_copied > 0 && from_clock < capture_->clock) {
    return Status::FailedPrecondition(who + "the capture at clock " +
                                      std::to_string(capture_->clock) +
                                      " already copied blocks without its earlier clocks");
  }

  if (rank >= workers_.size()) {
    workers_.resize(rank + 1);
    for (Block& b : blocks_) b.next_clock.resize(rank + 1, 0);
  }
  workers_[rank] = Worker{WorkerState::kActive, from_clock};
  for (Block& b : blocks_) b.next_clock[rank] = from_clock;
  RebuildRoster();
  // With no worker active before, clocks below from_clock waited for nobody.
  if (!async())
    for (Block& b : blocks_) ApplyReadyClocks(b);
  return Status::OK();
}

uint64_t Shard::CompletedClocks(uint32_t rank) const {
  const uint64_t from = workers_[rank].from_clock;
  if (blocks_.empty()) return from;
  uint64_t done = UINT64_MAX;
  for (const Block& b : blocks_) {
    uint64_t c = b.next_clock[rank];
    if (!async()) {
      // Clocks in [from, version) applied while it was active, so it pushed them.
      c = std::max(from, b.version);
      for (auto it = b.pending.find(c);
           it != b.pending.end() && it->first == c && it->second.ranks.count(rank); ++it)
        ++c;
    }
    done = std::min(done, c);
  }
  return done;
}

StatusOr<uint64_t> Shard::RemoveWorker(uint32_t rank) {
  if (!OnRoster(rank))
    return Status::NotFound("remove worker " + std::to_string(rank) + ": not on the roster");
  const uint64_t done = CompletedClocks(rank);
  workers_[rank].state = WorkerState::kRemoved;
  RebuildRoster();
  if (!async()) {
    for (Block& b : blocks_) ApplyReadyClocks(b);
  } else if (capture_) {
    CopyReadyAsyncBlocks();
  }
  return done;
}

Status Shard::Retire(uint32_t rank) {
  if (!OnRoster(rank))
    return Status::InvalidArgument("retire: worker " + std::to_string(rank) +
                                   " is not on the roster");
  if (!async()) return Status::InvalidArgument("retire: BSP workers push empty clocks instead");
  workers_[rank].state = WorkerState::kRetired;
  if (capture_) CopyReadyAsyncBlocks();
  return Status::OK();
}

uint64_t Shard::SlowestOf(const Block& b) const {
  uint64_t slowest = UINT64_MAX;
  for (uint32_t r : active_)
    if (workers_[r].state == WorkerState::kActive) slowest = std::min(slowest, b.next_clock[r]);
  return slowest;
}

uint64_t Shard::SlowestClock(KeyRange keys) const {
  if (policy_.lockstep()) return keys.empty() ? version() : VersionOf(keys);
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), keys.begin,
                             [](uint64_t k, const Block& b) { return k < b.keys.end; });
  uint64_t v = UINT64_MAX;
  for (; it != blocks_.end() && it->keys.begin < keys.end; ++it) v = std::min(v, SlowestOf(*it));
  return v;
}

void Shard::ApplyAsync(Block& b, uint64_t clock, uint32_t sample_count, const float* vals,
                       size_t num_vals) {
  // The push's own mean gradient, scaled as the optimizer reads it: the
  // network frame stays read-only and nothing is copied.
  (void)num_vals;  // == b.keys.size(), checked by Push
  BeforeChange(b);
  b.optimizer->ApplyScaled(params_.data() + (b.keys.begin - range_.begin), vals,
                           1.0f / static_cast<float>(sample_count), ++b.optimizer_steps);
  ++b.version;
  applied_end_ = std::max(applied_end_, clock + 1);
}

Status Shard::PushAsync(Block& b, uint32_t rank, uint64_t clock, uint32_t sample_count,
                        const float* vals, size_t num_vals) {
  const uint64_t expected = b.next_clock[rank];
  if (clock != expected)
    return Status::FailedPrecondition("push: worker " + std::to_string(rank) + " pushed clock " +
                                      std::to_string(clock) + " of block " + RangeText(b.keys) +
                                      " but its next clock is " + std::to_string(expected));
  b.next_clock[rank] = clock + 1;
  if (capture_ && !Copied(b)) {
    if (clock >= capture_->clock) {
      HoldPush(b, rank, clock, sample_count, vals, num_vals);
      return Status::OK();
    }
    ApplyAsync(b, clock, sample_count, vals, num_vals);
    if (AsyncBlockReady(b)) CopyBlock(b);
    return Status::OK();
  }
  ApplyAsync(b, clock, sample_count, vals, num_vals);
  return Status::OK();
}

Status Shard::Push(uint32_t rank, uint64_t clock, KeyRange keys, uint32_t sample_count,
                   const float* vals, size_t num_vals, uint64_t data_order) {
  PST_RETURN_IF_ERROR(CheckWorker(rank, clock));
  if (num_vals != keys.size() || keys.end < keys.begin)
    return Status::InvalidArgument("push: " + std::to_string(num_vals) + " values for keys " +
                                   RangeText(keys));
  if (async()) {
    if (keys.empty()) {
      if (sample_count != 0)
        return Status::InvalidArgument("push: an empty push must have a sample count of 0");
      for (const Block& b : blocks_)
        if (b.next_clock[rank] != clock)
          return Status::FailedPrecondition("push: empty push for clock " + std::to_string(clock) +
                                            " out of order");
      for (Block& b : blocks_) b.next_clock[rank] = clock + 1;
      if (capture_) CopyReadyAsyncBlocks();
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
  // If this push completes the next clock (always, with one worker),
  // ApplyReadyClocks sums it from `vals` directly; otherwise it is held.
  acc.incoming = Contribution{data_order, rank, vals, {}};
  ApplyReadyClocks(*b);
  auto still = b->pending.find(clock);
  if (still == b->pending.end()) return Status::OK();
  ClockAccum& waiting = still->second;
  waiting.incoming = Contribution{};
  Contribution c{data_order, rank, nullptr, {}};
  if (!spare_sums_.empty()) {
    c.held = std::move(spare_sums_.back());
    spare_sums_.pop_back();
  }
  c.held.assign(vals, vals + num_vals);
  c.vals = c.held.data();
  auto at = std::upper_bound(waiting.held.begin(), waiting.held.end(), c,
                             [](const Contribution& x, const Contribution& y) {
                               return std::tie(x.order, x.rank) < std::tie(y.order, y.rank);
                             });
  waiting.held.insert(at, std::move(c));
  return Status::OK();
}

const float* Shard::SumInOrder(ClockAccum& acc, size_t n) {
  std::vector<Contribution*> parts;
  for (Contribution& c : acc.held) parts.push_back(&c);
  if (acc.incoming.vals) {
    auto at = std::upper_bound(parts.begin(), parts.end(), &acc.incoming,
                               [](const Contribution* x, const Contribution* y) {
                                 return std::tie(x->order, x->rank) < std::tie(y->order, y->rank);
                               });
    parts.insert(at, &acc.incoming);
  }
  if (parts.empty()) return nullptr;
  if (parts.size() == 1) return parts[0]->vals;
  // The sum goes into a held buffer among the first two (at most one of them
  // is the caller's read-only values); a + b == b + a exactly, so starting
  // with either of them gives the sum in order.
  float* dst = parts[0]->held.empty() ? parts[1]->held.data() : parts[0]->held.data();
  const float* other = parts[0]->held.empty() ? parts[0]->vals : parts[1]->vals;
  for (size_t i = 0; i < n; ++i) dst[i] += other[i];
  for (size_t k = 2; k < parts.size(); ++k) {
    const float* v = parts[k]->vals;
    for (size_t i = 0; i < n; ++i) dst[i] += v[i];
  }
  return dst;
}

void Shard::RecycleHeld(ClockAccum& acc) {
  for (Contribution& c : acc.held) spare_sums_.push_back(std::move(c.held));
  acc.held.clear();
}

bool Shard::ClockComplete(const ClockAccum& acc, uint64_t t) const {
  if (active_.empty()) return false;
  // Cheap rejection for the common case, where every active rank is needed.
  if (t >= max_from_ && acc.ranks.size() < active_.size()) return false;
  for (uint32_t r : active_)
    if (workers_[r].from_clock <= t && !acc.ranks.count(r)) return false;
  return true;
}

void Shard::ApplyReadyClocks(Block& b) {
  for (;;) {
    auto it = b.pending.find(b.version);
    if (it == b.pending.end()) {
      // Nobody pushed this clock. It applies (as a no-op) only if it waits for
      // nobody, and so do the following clocks up to the next one with pushes,
      // the first clock of an active worker, or a capture's clock: jump there
      // (from_clock comes from the network; it may be far ahead).
      if (active_.empty() || b.version >= min_from_) return;
      uint64_t to = min_from_;
      auto next = b.pending.upper_bound(b.version);
      if (next != b.pending.end()) to = std::min(to, next->first);
      if (capture_ && capture_->clock > b.version) to = std::min(to, capture_->clock);
      b.version = to;
    } else {
      ClockAccum& acc = it->second;
      if (!ClockComplete(acc, b.version)) return;
      const float* grad = SumInOrder(acc, b.keys.size());
      if (acc.samples > 0 && grad) {
        BeforeChange(b);
        b.optimizer->ApplyScaled(params_.data() + (b.keys.begin - range_.begin), grad,
                                 1.0f / static_cast<float>(acc.samples), ++b.optimizer_steps);
      }
      RecycleHeld(acc);
      b.pending.erase(it);
      ++b.version;
    }
    // The copy must happen before clock K is applied, i.e. right here.
    if (capture_ && b.version == capture_->clock) CopyBlock(b);
  }
}

Status Shard::CheckPull(KeyRange keys, uint64_t min_version) const {
  if (keys.end < keys.begin || !range_.Contains(keys))
    return Status::InvalidArgument("pull: keys " + RangeText(keys) +
                                   " are not inside this shard's " + RangeText(range_));
  if (!policy_.pulls_wait()) return Status::OK();
  const uint64_t have = SlowestClock(keys);
  if (have != UINT64_MAX && min_version > have + max_ahead_)
    return Status::OutOfRange("pull: version " + std::to_string(min_version) +
                              " is too far ahead of " + std::to_string(have));
  if (min_version > have) return Status::Unavailable("pull: waiting for version");
  return Status::OK();
}

Status Shard::CheckPull(KeyRange keys, uint64_t min_version, uint32_t puller) const {
  PST_RETURN_IF_ERROR(CheckPull(keys, min_version));
  if (HoldsPushOf(keys, puller)) return Status::Unavailable("pull: waiting for its own held push");
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
