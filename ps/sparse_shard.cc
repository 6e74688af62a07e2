#include "ps/sparse_shard.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace pst {

StatusOr<std::unique_ptr<SparseShard>> SparseShard::Create(const SparseShardOptions& options) {
  if (options.num_workers == 0 || options.num_workers > kMaxWorkers) {
    return Status::InvalidArgument("sparse shard: num_workers must be in [1, " +
                                   std::to_string(kMaxWorkers) + "]");
  }
  if (options.max_clocks_ahead == 0) {
    return Status::InvalidArgument("sparse shard: max_clocks_ahead must be at least 1");
  }
  if (options.slot_map && options.shard >= options.slot_map->num_shards()) {
    return Status::InvalidArgument("sparse shard: shard " + std::to_string(options.shard) +
                                   " is not in the slot map (" +
                                   std::to_string(options.slot_map->num_shards()) + " shards)");
  }
  std::unique_ptr<SparseShard> shard(new SparseShard(options));
  shard->ranks_.assign(options.num_workers, Rank{RankState::kActive, 0});
  for (const SparseTableOptions& t : options.tables) {
    if (shard->tables_.count(t.name)) {
      return Status::InvalidArgument("sparse shard: table \"" + t.name + "\" defined twice");
    }
    PST_ASSIGN_OR_RETURN(auto table, SparseTable::Create(t));
    shard->tables_[t.name].table = std::move(table);
  }
  return shard;
}

SparseTable* SparseShard::FindTable(std::string_view name) {
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : it->second.table.get();
}

std::vector<std::string> SparseShard::table_names() const {
  std::vector<std::string> names;
  for (const auto& [name, st] : tables_) names.push_back(name);
  return names;
}

SparseShard::TableState& SparseShard::StateOf(const SparseTable& table) {
  return tables_.find(table.name())->second;
}
const SparseShard::TableState& SparseShard::StateOf(const SparseTable& table) const {
  return tables_.find(table.name())->second;
}

Status SparseShard::CheckOwned(std::span<const uint64_t> ids) const {
  if (!options_.slot_map) return Status::OK();
  const SlotMap& map = *options_.slot_map;
  for (uint64_t id : ids) {
    const uint32_t slot = SlotOfId(id, map.num_slots());
    if (map.ShardOfSlot(slot) != options_.shard) {
      return Status::InvalidArgument(
          "id " + std::to_string(id) + " is in slot " + std::to_string(slot) + " of shard " +
          std::to_string(map.ShardOfSlot(slot)) + ", not shard " + std::to_string(options_.shard));
    }
  }
  return Status::OK();
}

uint64_t SparseShard::version(const SparseTable& table) const { return StateOf(table).version; }

Status SparseShard::Pull(SparseTable& table, std::span<const uint64_t> ids, uint64_t min_version,
                         float* out) {
  if (StateOf(table).version < min_version) {
    return Status::Unavailable("table \"" + table.name() + "\" is at version " +
                               std::to_string(StateOf(table).version));
  }
  table.Pull(ids, out);
  return Status::OK();
}

Status SparseShard::Push(uint32_t rank, uint64_t clock, SparseTable& table,
                         std::span<const uint64_t> ids, const float* grads, uint32_t sample_count,
                         uint64_t data_order) {
  if (sample_count == 0 && !ids.empty()) {
    return Status::InvalidArgument("sparse push: gradients for " + std::to_string(ids.size()) +
                                   " ids over 0 samples");
  }
  TableState& st = StateOf(table);
  if (lockstep()) {
    return PushBsp(rank, clock, st, ids, grads, sample_count, data_order);
  }
  if (!ids.empty()) {
    PST_RETURN_IF_ERROR(table.Push(ids, grads, 1.0f / float(sample_count), clock));
  }
  st.version = std::max(st.version, clock + 1);
  MaybeEvict(st);
  return Status::OK();
}

Status SparseShard::PushBsp(uint32_t rank, uint64_t clock, TableState& st,
                            std::span<const uint64_t> ids, const float* grads,
                            uint32_t sample_count, uint64_t data_order) {
  const std::string where = "sparse push to \"" + st.table->name() + "\": ";
  if (rank >= ranks_.size() || ranks_[rank].state == RankState::kAbsent) {
    return Status::InvalidArgument(where + "worker " + std::to_string(rank) +
                                   " is not on this shard's roster");
  }
  if (ranks_[rank].state == RankState::kRemoved) {
    return Status::FailedPrecondition(where + "worker " + std::to_string(rank) +
                                      " left or was declared dead");
  }
  if (clock < ranks_[rank].from_clock) {
    return Status::FailedPrecondition(where + "worker " + std::to_string(rank) +
                                      " pushes from clock " +
                                      std::to_string(ranks_[rank].from_clock) + ", not " +
                                      std::to_string(clock));
  }
  if (clock < st.version) {
    return Status::FailedPrecondition(where + "clock " + std::to_string(clock) +
                                      " is already applied");
  }
  if (clock >= st.version + options_.max_clocks_ahead) {
    return Status::OutOfRange(where + "clock " + std::to_string(clock) + " is more than " +
                              std::to_string(options_.max_clocks_ahead) + " ahead of version " +
                              std::to_string(st.version));
  }
  auto found = st.pending.find(clock);
  if (found != st.pending.end() && found->second.by_rank.count(rank)) {
    return Status::AlreadyExists(where + "worker " + std::to_string(rank) +
                                 " already pushed clock " + std::to_string(clock));
  }
  // Only now is state modified. The push is kept as it came: the clock sums
  // the pushes in data order once it is complete.
  Contribution& c = st.pending[clock].by_rank[rank];
  c.ids.assign(ids.begin(), ids.end());
  c.grads.assign(grads, grads + ids.size() * st.table->dim());
  c.samples = sample_count;
  c.data_order = data_order;
  return ApplyCompleteClocks(st);
}

bool SparseShard::ClockComplete(const PendingClock* p, uint64_t clock) const {
  bool any_active = false;
  for (uint32_t r = 0; r < ranks_.size(); ++r) {
    if (ranks_[r].state != RankState::kActive) continue;
    any_active = true;
    if (ranks_[r].from_clock <= clock && (p == nullptr || !p->by_rank.count(r))) return false;
  }
  return any_active;
}

Status SparseShard::ApplyClock(TableState& st, const PendingClock& p) {
  const uint32_t dim = st.table->dim();
  uint64_t samples = 0;
  std::unordered_map<uint64_t, uint32_t> index;  // id -> position in ids
  std::vector<uint64_t> ids;
  std::vector<float> sums;
  // Data order (then rank): the same sums whatever the arrival order.
  std::vector<std::pair<uint64_t, const Contribution*>> in_order;
  for (const auto& [rank, c] : p.by_rank) in_order.emplace_back(c.data_order, &c);
  std::stable_sort(in_order.begin(), in_order.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  for (const auto& [order, contribution] : in_order) {
    const Contribution& c = *contribution;
    samples += c.samples;
    for (size_t i = 0; i < c.ids.size(); ++i) {
      auto [it, fresh] = index.try_emplace(c.ids[i], uint32_t(ids.size()));
      const float* g = c.grads.data() + i * dim;
      if (fresh) {
        ids.push_back(c.ids[i]);
        sums.insert(sums.end(), g, g + dim);
      } else {
        float* sum = sums.data() + size_t(it->second) * dim;
        for (uint32_t j = 0; j < dim; ++j) sum[j] += g[j];
      }
    }
  }
  if (ids.empty()) return Status::OK();
  Status s = st.table->Push(ids, sums.data(), 1.0f / float(samples), st.version);
  if (!s.ok()) ++dropped_clocks_;
  return s;
}

Status SparseShard::ApplyCompleteClocks(TableState& st) {
  Status result;
  MaybeCapture(st);
  for (;;) {
    auto head = st.pending.find(st.version);
    const PendingClock* p = head == st.pending.end() ? nullptr : &head->second;
    if (!ClockComplete(p, st.version)) break;
    if (p == nullptr) {
      // Nobody pushed this clock and nobody active is due: skip to the next
      // clock with pushes, the first clock of an active rank or the capture's.
      uint64_t to = UINT64_MAX;
      for (const Rank& r : ranks_)
        if (r.state == RankState::kActive) to = std::min(to, r.from_clock);
      auto next = st.pending.upper_bound(st.version);
      if (next != st.pending.end()) to = std::min(to, next->first);
      if (capture_ && !st.captured && capture_->clock > st.version) to = std::min(to, capture_->clock);
      st.version = to;
    } else {
      Status s = ApplyClock(st, *p);
      if (!s.ok()) result = s;
      st.pending.erase(head);
      ++st.version;
    }
    MaybeEvict(st);
    MaybeCapture(st);
  }
  return result;
}

Status SparseShard::ApplyAllTables() {
  Status result;
  if (!lockstep()) return result;
  for (auto& [name, st] : tables_) {
    Status s = ApplyCompleteClocks(st);
    if (!s.ok()) result = s;
  }
  return result;
}

Status SparseShard::CheckAddWorker(uint32_t rank, uint64_t from_clock) const {
  if (rank >= kMaxWorkers)
    return Status::InvalidArgument("sparse shard: rank " + std::to_string(rank) + " is not below " +
                                   std::to_string(kMaxWorkers));
  if (rank < ranks_.size() && ranks_[rank].state == RankState::kActive)
    return Status::AlreadyExists("sparse shard: worker " + std::to_string(rank) +
                                 " is already on the roster");
  if (lockstep()) {
    for (const auto& [name, st] : tables_) {
      if (st.version > from_clock)
        return Status::FailedPrecondition("sparse table \"" + name + "\" already applied clock " +
                                          std::to_string(from_clock));
    }
  }
  return Status::OK();
}

Status SparseShard::AddWorker(uint32_t rank, uint64_t from_clock) {
  PST_RETURN_IF_ERROR(CheckAddWorker(rank, from_clock));
  if (rank >= ranks_.size()) ranks_.resize(rank + 1);
  ranks_[rank] = Rank{RankState::kActive, from_clock};
  return Status::OK();
}

StatusOr<uint64_t> SparseShard::RemoveWorker(uint32_t rank) {
  if (rank >= ranks_.size() || ranks_[rank].state != RankState::kActive)
    return Status::NotFound("sparse shard: worker " + std::to_string(rank) +
                            " is not on the roster");
  const uint64_t from = ranks_[rank].from_clock;
  uint64_t completed = tables_.empty() ? from : UINT64_MAX;
  for (const auto& [name, st] : tables_) {
    // Clocks below the version were pushed by every active rank due then.
    uint64_t c = std::max(from, st.version);
    for (auto it = st.pending.find(c); it != st.pending.end() && it->first == c &&
                                       it->second.by_rank.count(rank);
         it = st.pending.find(c))
      ++c;
    completed = std::min(completed, c);
  }
  ranks_[rank].state = RankState::kRemoved;
  Status s = ApplyAllTables();
  s.IgnoreError();  // a clock dropped for a full table is counted in dropped_clocks()
  return completed;
}

Status SparseShard::ResetRoster(const std::vector<uint32_t>& ranks, uint64_t from_clock) {
  for (uint32_t r : ranks)
    if (r >= kMaxWorkers)
      return Status::InvalidArgument("sparse shard: rank " + std::to_string(r) +
                                     " is not below " + std::to_string(kMaxWorkers));
  ranks_.clear();
  for (uint32_t r : ranks) {
    if (r >= ranks_.size()) ranks_.resize(r + 1);
    ranks_[r] = Rank{RankState::kActive, from_clock};
  }
  return ApplyAllTables();
}

void SparseShard::MaybeEvict(TableState& st) {
  const uint64_t after = st.table->options().evict_after_steps;
  if (after == 0) return;
  const uint64_t every = std::max<uint64_t>(1, after / 4);
  if (st.version < st.last_evicted + every) return;
  st.table->Evict(st.version);
  st.last_evicted = st.version;
}

Status SparseShard::BeginCapture(uint64_t id, uint64_t clock, bool full, bool live) {
  if (lockstep()) {
    for (const auto& [name, st] : tables_) {
      if (st.version > clock)
        return Status::FailedPrecondition("sparse table \"" + name + "\" is at version " +
                                          std::to_string(st.version) + ", past clock " +
                                          std::to_string(clock));
    }
  }
  CancelCapture();
  capture_ = Capture{id, clock, full, {}, {}};
  capture_->live = live;
  if (lockstep()) {
    for (auto& [name, st] : tables_) MaybeCapture(st);
  }
  return Status::OK();
}

void SparseShard::MaybeCapture(TableState& st) {
  if (capture_ && !st.captured && lockstep() &&
      st.version == capture_->clock)
    CaptureTable(st);
}

void SparseShard::CaptureTable(TableState& st) {
  const auto start = std::chrono::steady_clock::now();
  SparseTableManifest m;
  SparseRowsDelta rows = st.table->TakeChanges(capture_->full, &m, capture_->live);
  capture_->copy_ms +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  m.version = st.version;
  // Tables are captured in any order; the capture lists them by name.
  const auto at = std::lower_bound(
      capture_->tables.begin(), capture_->tables.end(), m.name,
      [](const SparseTableManifest& t, const std::string& name) { return t.name < name; });
  const auto i = at - capture_->tables.begin();
  capture_->tables.insert(at, std::move(m));
  capture_->rows.insert(capture_->rows.begin() + i, std::move(rows));
  st.captured = true;
}

void SparseShard::CaptureRemaining() {
  if (!capture_) return;
  for (auto& [name, st] : tables_)
    if (!st.captured) CaptureTable(st);
}

bool SparseShard::capture_ready() const {
  return capture_ && capture_->tables.size() == tables_.size();
}

std::optional<SparseShard::Capture> SparseShard::TakeCapture() {
  if (!capture_ready()) return std::nullopt;
  std::optional<Capture> out = std::move(capture_);
  capture_.reset();
  for (auto& [name, st] : tables_) st.captured = false;
  return out;
}

bool SparseShard::CancelCapture() {
  const bool lost = capture_ && !capture_->tables.empty();
  capture_.reset();
  for (auto& [name, st] : tables_) st.captured = false;
  return lost;
}

Status SparseShard::Restore(const std::vector<SparseTableManifest>& tables,
                            const std::function<Status(const SparseChainFn&)>& replay) {
  std::vector<SparseTable*> by_index;
  bool same = tables.size() == tables_.size();
  for (size_t i = 0; same && i < tables.size(); ++i) {
    SparseTable* t = FindTable(tables[i].name);
    same = t != nullptr && t->dim() == tables[i].dim && t->state_floats() == tables[i].state_floats;
    by_index.push_back(t);
  }
  if (!same) {
    std::string have, want;
    for (const auto& [name, st] : tables_)
      have += " " + name + "(dim " + std::to_string(st.table->dim()) + ")";
    for (const SparseTableManifest& t : tables)
      want += " " + t.name + "(dim " + std::to_string(t.dim) + ")";
    return Status::FailedPrecondition("the checkpoint's sparse tables [" + want +
                                      " ] are not this job's [" + have + " ]");
  }
  auto apply = [&](const SparseChainPiece& piece) -> Status {
    if (piece.table >= by_index.size())
      return Status::DataLoss("sparse piece of table " + std::to_string(piece.table));
    SparseTable& t = *by_index[piece.table];
    const SparseRowsDelta& d = piece.rows;
    for (uint64_t id : d.removed) t.DropRow(id);
    const size_t stride = t.dim() + t.state_floats();
    if (d.last_steps.size() != d.ids.size() || d.data.size() != d.ids.size() * stride)
      return Status::DataLoss("sparse piece of \"" + t.name() + "\" does not fit its table");
    for (size_t i = 0; i < d.ids.size(); ++i)
      PST_RETURN_IF_ERROR(t.PutRow(d.ids[i], d.data.data() + i * stride, d.last_steps[i]));
    if (!d.sketch.empty()) PST_RETURN_IF_ERROR(t.LoadSketch(d.sketch));
    return Status::OK();
  };
  for (size_t i = 0; i < tables.size(); ++i) by_index[i]->Reserve(tables[i].rows);
  PST_RETURN_IF_ERROR(replay(apply));
  for (size_t i = 0; i < tables.size(); ++i) {
    const SparseTableManifest& m = tables[i];
    SparseTable& t = *by_index[i];
    if (t.stats().rows != m.rows)
      return Status::DataLoss("sparse table \"" + m.name + "\": the checkpoint chain gives " +
                              std::to_string(t.stats().rows) + " rows, its manifest says " +
                              std::to_string(m.rows));
    t.SetCounters(m.admitted, m.evicted, m.unadmitted_updates);
    t.ForgetChanges();
    TableState& st = StateOf(t);
    st.version = m.version;
    const uint64_t after = t.options().evict_after_steps;
    const uint64_t every = std::max<uint64_t>(1, after / 4);
    st.last_evicted = after == 0 ? 0 : m.version - m.version % every;
  }
  return Status::OK();
}

}  // namespace pst
