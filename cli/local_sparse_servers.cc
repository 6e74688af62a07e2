#include "cli/local_sparse_servers.h"

#include <algorithm>

#include "ps/sparse_handler.h"

namespace pst {

StatusOr<std::unique_ptr<LocalSparseServers>> LocalSparseServers::Create(
    const std::vector<TableSpec>& specs, const JobSpec& job, uint32_t num_workers) {
  std::unique_ptr<LocalSparseServers> s(new LocalSparseServers());
  const uint32_t servers = std::max<uint32_t>(1, job.num_servers);
  // The scheduler's map of the job (scheduler/scheduler.cc).
  PST_ASSIGN_OR_RETURN(SlotMap map, SlotMap::Even(kDefaultSparseSlots, servers));
  s->slot_map_ = std::move(map);
  for (uint32_t rank = 0; rank < servers; ++rank) {
    PST_ASSIGN_OR_RETURN(SparseShardOptions o,
                         SparseShardOptionsForJob(specs, job.train.consistency, num_workers,
                                                  *s->slot_map_, rank));
    PST_ASSIGN_OR_RETURN(auto shard, SparseShard::Create(o));
    s->servers_.push_back(std::move(shard));
  }
  for (const TableSpec& t : specs) {
    if (t.kind != TableKind::kSparse) continue;
    Table table;
    table.dim = t.dim;
    for (auto& server : s->servers_) table.on_server.push_back(server->FindTable(t.name));
    s->tables_.push_back(std::move(table));
  }
  // As on the servers: BSP lets a worker be at most one clock ahead.
  PST_ASSIGN_OR_RETURN(s->dense_, Shard::Create(specs, job.train, KeyRange{0, DenseKeyCount(specs)},
                                                num_workers, /*max_clocks_ahead=*/2));
  s->blocks_ = s->dense_->blocks();
  s->parts_.resize(servers);
  return s;
}

void LocalSparseServers::Split(std::span<const uint64_t> ids) {
  for (auto& part : parts_) part.clear();
  for (uint32_t i = 0; i < ids.size(); ++i) parts_[slot_map_->ShardOfId(ids[i])].push_back(i);
}

Status LocalSparseServers::PullSparse(size_t table, std::span<const uint64_t> ids,
                                      uint64_t min_version, float* out) {
  const Table& t = tables_[table];
  Split(ids);
  for (size_t server = 0; server < servers_.size(); ++server) {
    const std::vector<uint32_t>& part = parts_[server];
    if (part.empty()) continue;
    part_ids_.resize(part.size());
    for (size_t i = 0; i < part.size(); ++i) part_ids_[i] = ids[part[i]];
    part_floats_.resize(part.size() * t.dim);
    PST_RETURN_IF_ERROR(servers_[server]->Pull(*t.on_server[server], part_ids_, min_version,
                                               part_floats_.data()));
    for (size_t i = 0; i < part.size(); ++i)
      std::copy_n(part_floats_.data() + i * t.dim, t.dim, out + size_t{part[i]} * t.dim);
  }
  return Status::OK();
}

Status LocalSparseServers::Push(uint32_t rank, uint64_t clock, std::span<const uint64_t> ids,
                                const std::vector<std::vector<float>>& grads,
                                const float* dense_grad, uint32_t samples, uint64_t data_order) {
  Split(ids);
  // Sparse first, then dense, as a worker pushes; every server gets each
  // table's push (possibly without ids), as under BSP every server waits for it.
  for (size_t table = 0; table < tables_.size(); ++table) {
    const Table& t = tables_[table];
    for (size_t server = 0; server < servers_.size(); ++server) {
      const std::vector<uint32_t>& part = parts_[server];
      part_ids_.resize(part.size());
      part_floats_.resize(part.size() * t.dim);
      for (size_t i = 0; i < part.size(); ++i) {
        part_ids_[i] = ids[part[i]];
        std::copy_n(grads[table].data() + size_t{part[i]} * t.dim, t.dim,
                    part_floats_.data() + i * t.dim);
      }
      PST_RETURN_IF_ERROR(servers_[server]->Push(rank, clock, *t.on_server[server], part_ids_,
                                                 part_floats_.data(), samples, data_order));
    }
  }
  for (const KeyRange& b : blocks_)
    PST_RETURN_IF_ERROR(
        dense_->Push(rank, clock, b, samples, dense_grad + b.begin, b.size(), data_order));
  return Status::OK();
}

SparseTableStats LocalSparseServers::stats(size_t table) const {
  SparseTableStats sum;
  for (const SparseTable* t : tables_[table].on_server) {
    const SparseTableStats s = t->stats();
    sum.rows += s.rows;
    sum.admitted += s.admitted;
    sum.evicted += s.evicted;
    sum.unadmitted_updates += s.unadmitted_updates;
  }
  return sum;
}

Status LocalSparseServers::PushEmpty(uint32_t rank, uint64_t clock) {
  for (const Table& t : tables_)
    for (size_t server = 0; server < servers_.size(); ++server)
      PST_RETURN_IF_ERROR(servers_[server]->Push(rank, clock, *t.on_server[server], {}, nullptr, 0));
  return dense_->Push(rank, clock, KeyRange{}, 0, nullptr, 0);
}

}  // namespace pst
