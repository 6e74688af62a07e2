// pst::LocalSparseServers: a sparse job's tables held in one process as a
// cluster's parameter servers hold them, with the servers' own code and no
// network: one SparseShard per server (ids split by virtual slot, as the
// workers' SparseClient splits them; each server's admission sketch sees only
// its own ids) and one Shard over the whole dense key space (the cluster
// splits it by key range; its updates are per key, so the split changes no
// value). Pushes and pulls take the arguments a worker's requests carry, so
// clocks complete, sums are ordered, rows are created and evicted exactly as
// on the servers (cli/local_sparse_trainer.h drives it).
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/slot_map.h"
#include "common/status.h"
#include "common/table_spec.h"
#include "ps/shard.h"
#include "ps/sparse_shard.h"

namespace pst {

class LocalSparseServers {
 public:
  // The tables `specs` (SparseModelTables(job)) of `job` on job.num_servers
  // servers, with ranks [0, num_workers) on every roster from clock 0.
  // kInvalidArgument for tables or a train spec the servers refuse.
  static StatusOr<std::unique_ptr<LocalSparseServers>> Create(const std::vector<TableSpec>& specs,
                                                              const JobSpec& job,
                                                              uint32_t num_workers);
  LocalSparseServers(const LocalSparseServers&) = delete;
  LocalSparseServers& operator=(const LocalSparseServers&) = delete;

  size_t num_sparse_tables() const { return tables_.size(); }
  uint32_t dim(size_t table) const { return tables_[table].dim; }
  uint64_t dense_keys() const { return dense_->range().size(); }
  // The dense key space's current values (all dense tables, in declaration order).
  const float* dense_values() const { return dense_->values(dense_->range()); }

  // Rows of `ids` of sparse table `table` at version >= min_version into out
  // (ids.size() * dim floats). kUnavailable if a server is not there yet.
  Status PullSparse(size_t table, std::span<const uint64_t> ids, uint64_t min_version, float* out);
  // A worker's step: every sparse table's gradient sums of `ids` (grads[t]),
  // then the dense gradient (dense_keys() floats), over `samples` samples, at
  // data order `data_order`. The servers' errors.
  Status Push(uint32_t rank, uint64_t clock, std::span<const uint64_t> ids,
              const std::vector<std::vector<float>>& grads, const float* dense_grad,
              uint32_t samples, uint64_t data_order);
  // An idle worker's step: nothing from `rank` at `clock`, to every table.
  Status PushEmpty(uint32_t rank, uint64_t clock);
  // Sparse table `table`'s name and its counts summed over the servers
  // (rows, admitted, evicted, unadmitted updates).
  const std::string& name(size_t table) const { return tables_[table].on_server[0]->name(); }
  SparseTableStats stats(size_t table) const;

 private:
  struct Table {
    uint32_t dim = 0;
    std::vector<SparseTable*> on_server;  // per server
  };
  LocalSparseServers() = default;
  // Positions of `ids` per server, into parts_.
  void Split(std::span<const uint64_t> ids);

  std::optional<SlotMap> slot_map_;
  std::vector<std::unique_ptr<SparseShard>> servers_;
  std::vector<Table> tables_;
  std::unique_ptr<Shard> dense_;
  std::vector<KeyRange> blocks_;
  // Scratch: per server, positions into the caller's ids, their ids and floats.
  std::vector<std::vector<uint32_t>> parts_;
  std::vector<uint64_t> part_ids_;
  std::vector<float> part_floats_;
};

}  // namespace pst
