#include "ps/sparse_shard.h"

#include <algorithm>
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
                         std::span<const uint64_t> ids, const float* grads, uint32_t sample_count) {
  if (sample_count == 0 && !ids.empty()) {
    return Status::InvalidArgument("sparse push: gradients for " + std::to_string(ids.size()) +
                                   " ids over 0 samples");
  }
  TableState& st = StateOf(table);
  if (options_.consistency == Consistency::kBsp) {
    return PushBsp(rank, clock, st, ids, grads, sample_count);
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
                            uint32_t sample_count) {
  const std::string where = "sparse push to \"" + st.table->name() + "\": ";
  if (rank >= options_.num_workers) {
    return Status::InvalidArgument(where + "rank " + std::to_string(rank) + " is not one of the " +
                                   std::to_string(options_.num_workers) + " workers");
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
  if (found != st.pending.end() && found->second.pushed[rank]) {
    return Status::AlreadyExists(where + "worker " + std::to_string(rank) +
                                 " already pushed clock " + std::to_string(clock));
  }
  // Only now is state modified.
  PendingClock& p = st.pending[clock];
  if (p.pushed.empty()) p.pushed.assign(options_.num_workers, false);
  p.pushed[rank] = true;
  ++p.pushes;
  p.samples += sample_count;
  const uint32_t dim = st.table->dim();
  for (size_t i = 0; i < ids.size(); ++i) {
    auto [it, fresh] = p.index.try_emplace(ids[i], uint32_t(p.ids.size()));
    if (fresh) {
      p.ids.push_back(ids[i]);
      p.sums.insert(p.sums.end(), grads + i * dim, grads + (i + 1) * dim);
    } else {
      float* sum = p.sums.data() + size_t(it->second) * dim;
      for (uint32_t j = 0; j < dim; ++j) sum[j] += grads[i * dim + j];
    }
  }
  return ApplyCompleteClocks(st);
}

Status SparseShard::ApplyCompleteClocks(TableState& st) {
  Status result;
  MaybeCapture(st);
  while (!st.pending.empty() && st.pending.begin()->first == st.version &&
         st.pending.begin()->second.pushes == options_.num_workers) {
    PendingClock& p = st.pending.begin()->second;
    if (!p.ids.empty()) {
      Status s = st.table->Push(p.ids, p.sums.data(), 1.0f / float(p.samples), st.version);
      if (!s.ok()) {
        ++dropped_clocks_;
        result = s;
      }
    }
    st.pending.erase(st.pending.begin());
    ++st.version;
    MaybeEvict(st);
    MaybeCapture(st);
  }
  return result;
}

void SparseShard::MaybeEvict(TableState& st) {
  const uint64_t after = st.table->options().evict_after_steps;
  if (after == 0) return;
  const uint64_t every = std::max<uint64_t>(1, after / 4);
  if (st.version < st.last_evicted + every) return;
  st.table->Evict(st.version);
  st.last_evicted = st.version;
}

Status SparseShard::BeginCapture(uint64_t id, uint64_t clock, bool full) {
  if (options_.consistency == Consistency::kBsp) {
    for (const auto& [name, st] : tables_) {
      if (st.version > clock)
        return Status::FailedPrecondition("sparse table \"" + name + "\" is at version " +
                                          std::to_string(st.version) + ", past clock " +
                                          std::to_string(clock));
    }
  }
  CancelCapture();
  capture_ = Capture{id, clock, full, {}, {}};
  if (options_.consistency == Consistency::kBsp) {
    for (auto& [name, st] : tables_) MaybeCapture(st);
  }
  return Status::OK();
}

void SparseShard::MaybeCapture(TableState& st) {
  if (capture_ && !st.captured && options_.consistency == Consistency::kBsp &&
      st.version == capture_->clock)
    CaptureTable(st);
}

void SparseShard::CaptureTable(TableState& st) {
  SparseTableManifest m;
  SparseRowsDelta rows = st.table->TakeChanges(capture_->full, &m);
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
