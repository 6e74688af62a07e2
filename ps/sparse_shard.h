// pst::SparseShard: the sparse embedding tables one PS shard serves, and how
// pushes to them become updates, free of any networking (pst::Server feeds it
// decoded requests, see ps/sparse_request.h).
//  - Ownership: with a slot map, the shard serves only ids whose virtual slot
//    maps to it (CheckOwned); a peer cannot create rows another shard owns.
//  - ASP/SSP: every push is applied on arrival with its own mean gradient
//    (sums / sample_count); a table's version is one past the largest clock
//    applied.
//  - BSP: a table applies clock t once each of the num_workers ranks pushed
//    it (possibly with no ids): the sums of all workers, per id, over the
//    total sample count, in one table update; its version becomes t + 1 (and
//    later clocks that are complete apply at once). Pulls ask for a version.
//    Roster changes (workers joining or dying mid-job) are not followed yet:
//    num_workers is fixed at Create.
//  - Eviction: when a table's version passes a multiple of
//    max(1, evict_after_steps / 4), rows older than evict_after_steps go.
// Every method checks its arguments and leaves the state unchanged when it
// returns an error. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/job_spec.h"
#include "common/slot_map.h"
#include "common/status.h"
#include "ps/sparse_table.h"

namespace pst {

struct SparseShardOptions {
  // The job's sparse tables (names unique). Default: none.
  std::vector<SparseTableOptions> tables;
  // How pushes are combined. Default: ASP.
  Consistency consistency = Consistency::kAsp;
  // BSP: ranks [0, num_workers) push every table once per clock. Default: 1.
  uint32_t num_workers = 1;
  // Which ids this shard serves: those whose slot the map gives to `shard`.
  // nullopt: every id (a single PS). Default: nullopt.
  std::optional<SlotMap> slot_map;
  uint32_t shard = 0;
  // BSP: pushes for clocks beyond version + this are refused (bounds the
  // gradient sums held). Default: 16.
  uint64_t max_clocks_ahead = 16;
};

class SparseShard {
 public:
  // kInvalidArgument for invalid table options, duplicate names, a shard not
  // in the slot map, num_workers 0 or above kMaxWorkers, max_clocks_ahead 0.
  static constexpr uint32_t kMaxWorkers = 4096;
  static StatusOr<std::unique_ptr<SparseShard>> Create(const SparseShardOptions& options);

  // nullptr for an unknown name.
  SparseTable* FindTable(std::string_view name);
  // Names of the tables, sorted.
  std::vector<std::string> table_names() const;
  // kInvalidArgument naming the first id this shard does not serve.
  Status CheckOwned(std::span<const uint64_t> ids) const;
  // Clocks applied to `table` (BSP) or one past the largest applied clock (ASP).
  uint64_t version(const SparseTable& table) const;

  // Rows of ids (see SparseTable::Pull) once table's version >= min_version;
  // kUnavailable while it is not (the caller defers and retries after pushes).
  // REQUIRES: table belongs to this shard; out holds ids.size() * dim floats.
  Status Pull(SparseTable& table, std::span<const uint64_t> ids, uint64_t min_version,
              float* out);

  // Adds rank's gradient sums over sample_count samples for clock.
  // REQUIRES: table belongs to this shard; ids unique and owned (see
  // ps/sparse_request.h); grads holds ids.size() * dim finite floats.
  // Errors (nothing changed): kInvalidArgument (ids with sample_count 0; BSP:
  // rank >= num_workers), kAlreadyExists (BSP: rank already pushed this
  // clock), kFailedPrecondition (BSP: clock already applied), kOutOfRange
  // (BSP: clock beyond version + max_clocks_ahead), kResourceExhausted (ASP:
  // the table is full, see SparseTableOptions::max_rows). A BSP clock whose
  // combined update finds the table full is dropped whole, counted in
  // dropped_clocks(), and the push that completed it returns kResourceExhausted.
  Status Push(uint32_t rank, uint64_t clock, SparseTable& table, std::span<const uint64_t> ids,
              const float* grads, uint32_t sample_count);

  uint64_t dropped_clocks() const { return dropped_clocks_; }

 private:
  // BSP: what the workers pushed for one clock of one table.
  struct PendingClock {
    std::vector<bool> pushed;  // per rank
    uint32_t pushes = 0;
    uint64_t samples = 0;
    std::unordered_map<uint64_t, uint32_t> index;  // id -> position in ids
    std::vector<uint64_t> ids;
    std::vector<float> sums;  // ids.size() * dim
  };
  struct TableState {
    std::unique_ptr<SparseTable> table;
    uint64_t version = 0;
    uint64_t last_evicted = 0;
    std::map<uint64_t, PendingClock> pending;  // BSP, by clock
  };

  explicit SparseShard(SparseShardOptions options) : options_(std::move(options)) {}
  TableState& StateOf(const SparseTable& table);
  const TableState& StateOf(const SparseTable& table) const;
  Status PushBsp(uint32_t rank, uint64_t clock, TableState& st, std::span<const uint64_t> ids,
                 const float* grads, uint32_t sample_count);
  // Applies every complete clock at the head of st.pending.
  Status ApplyCompleteClocks(TableState& st);
  void MaybeEvict(TableState& st);

  SparseShardOptions options_;
  std::map<std::string, TableState, std::less<>> tables_;
  uint64_t dropped_clocks_ = 0;
};

}  // namespace pst
