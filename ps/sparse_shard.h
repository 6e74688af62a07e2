// pst::SparseShard: the sparse embedding tables one PS shard serves, and how
// pushes to them become updates, free of any networking (pst::Server feeds it
// decoded requests, see ps/sparse_request.h).
//  - Ownership: with a slot map, the shard serves only ids whose virtual slot
//    maps to it (CheckOwned); a peer cannot create rows another shard owns.
//  - ASP/SSP: every push is applied on arrival with its own mean gradient
//    (sums / sample_count); a table's version is one past the largest clock
//    applied.
//  - BSP: a table applies clock t once every rank active for t (added with
//    from_clock <= t and not removed, the roster pst::Shard keeps for the
//    dense blocks) pushed it (possibly with no ids): the sums of all ranks'
//    pushes for t, per id, over the total sample count, in one table update;
//    its version becomes t + 1 (and later clocks that are complete apply at
//    once). Each rank's push is kept as it came until its clock applies, and
//    the sums are taken in the pushes' data order (then rank order), so the
//    update depends neither on the order in which pushes arrive nor on which
//    worker trained which batch. What a removed rank pushed still applies;
//    clocks that wait for no active rank apply at once (with no active rank
//    at all nothing applies). Pulls ask for a version.
//  - Eviction: when a table's version passes a multiple of
//    max(1, evict_after_steps / 4), rows older than evict_after_steps go.
//  - Checkpoints (ps/sparse_checkpoint.h): BeginCapture(id, K) copies each
//    table's changes (or all its rows) at clock boundary K. Under BSP exactly:
//    a table is copied when its version is K, before clock K is applied
//    (pushes of later clocks wait in the per-clock sums anyway). Under ASP/SSP
//    the caller decides when: CaptureRemaining() copies the tables as they
//    are (pst::Server does it once its dense blocks are captured, i.e. every
//    worker's dense pushes of clocks < K are in); sparse pushes still in
//    flight at that moment fall on either side of the checkpoint.
//    Restore(...) rebuilds the tables of a fresh shard from a checkpoint.
// Every method checks its arguments and leaves the state unchanged when it
// returns an error. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/consistency.h"
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
  // BSP: ranks [0, num_workers) are active from clock 0 (see AddWorker,
  // RemoveWorker, ResetRoster for changes). Default: 1.
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
  Status Pull(SparseTable& table, std::span<const uint64_t> ids, uint64_t min_version, float* out);

  // Adds rank's gradient sums over sample_count samples for clock.
  // REQUIRES: table belongs to this shard; ids unique and owned (see
  // ps/sparse_request.h); grads holds ids.size() * dim finite floats.
  // Errors (nothing changed): kInvalidArgument (ids with sample_count 0; BSP:
  // rank never added), kAlreadyExists (BSP: rank already pushed this clock),
  // kFailedPrecondition (BSP: clock already applied, rank removed, clock
  // before the rank's from_clock), kOutOfRange
  // (BSP: clock beyond version + max_clocks_ahead), kResourceExhausted (ASP:
  // the table is full, see SparseTableOptions::max_rows). A BSP clock whose
  // combined update finds the table full is dropped whole, counted in
  // dropped_clocks(), and the push that completed it returns kResourceExhausted.
  // BSP: a clock sums its pushes in (data_order, rank) order (data_order:
  // where the push's batch lies in the job's data order, see proto
  // PushRequest.dataOrder), whatever the arrival order or the worker that
  // trained each batch.
  Status Push(uint32_t rank, uint64_t clock, SparseTable& table, std::span<const uint64_t> ids,
              const float* grads, uint32_t sample_count, uint64_t data_order = 0);

  uint64_t dropped_clocks() const { return dropped_clocks_; }

  // BSP roster (under ASP/SSP these only keep the list; pushes never wait).
  // Whether AddWorker(rank, from_clock) would succeed: kInvalidArgument (rank
  // >= kMaxWorkers), kAlreadyExists (rank active), kFailedPrecondition (BSP:
  // some table already applied clock from_clock, i.e. its version is past it;
  // retry with a later clock).
  Status CheckAddWorker(uint32_t rank, uint64_t from_clock) const;
  // Makes `rank` active: every table waits for its pushes of every clock >=
  // from_clock. Errors as CheckAddWorker (nothing changed).
  Status AddWorker(uint32_t rank, uint64_t from_clock);
  // `rank` left or died: never waited for again (clocks that waited only for
  // it apply now); its pushes already taken still apply. Returns the clocks it
  // completed (BSP; meaningless under ASP/SSP): the smallest, over tables, of
  // the first clock >= its from_clock it did not push (from_clock without
  // tables). kNotFound if it is not active.
  StatusOr<uint64_t> RemoveWorker(uint32_t rank);
  // The roster becomes exactly `ranks`, each active from `from_clock`
  // (after a restore at that clock). kInvalidArgument (nothing changed) for a
  // rank >= kMaxWorkers.
  Status ResetRoster(const std::vector<uint32_t>& ranks, uint64_t from_clock);

  // What a capture copied: tables[i] / rows[i] per table, by name order.
  struct Capture {
    uint64_t id = 0;
    uint64_t clock = 0;
    bool full = false;
    std::vector<SparseTableManifest> tables;
    std::vector<SparseRowsDelta> rows;
    double copy_ms = 0;  // time spent copying the tables' rows
    bool live = false;   // rows read in place (SparseRowsDelta::live), not copied
  };
  // Starts capturing checkpoint `id` at clock boundary `clock`: every
  // table's rows changed since the previous capture (all rows if `full`),
  // copied, or with `live` read in place by the checkpoint writer (see
  // SparseTable::TakeChanges). Replaces a capture in flight (see
  // CancelCapture). BSP: kFailedPrecondition (nothing started) if a table is
  // already past `clock`.
  Status BeginCapture(uint64_t id, uint64_t clock, bool full, bool live = false);
  // ASP/SSP: copies every table not copied yet, as it is now. No-op without a capture.
  void CaptureRemaining();
  // A capture is in flight and every table has been copied.
  bool capture_ready() const;
  // The finished capture (and ends it), or nullopt if none is ready.
  std::optional<Capture> TakeCapture();
  // Drops the capture in flight. Returns true if some table had been copied
  // already: those tables' changes are then in no capture, so the next one
  // must be full.
  bool CancelCapture();

  // Restores the tables of a fresh shard (no push since Create) from a
  // checkpoint whose manifest lists `tables`: replay(fn) must hand fn every
  // piece of the checkpoint's chain (ParamStore::ReadSparseChain). Errors:
  // kFailedPrecondition if the checkpoint's tables (names, dims, state sizes)
  // are not this shard's; kDataLoss if the replayed rows do not add up to the
  // manifest's counts (or a piece does not fit its table); replay's errors.
  // On error the shard is unusable (the caller discards it).
  Status Restore(const std::vector<SparseTableManifest>& tables,
                 const std::function<Status(const SparseChainFn&)>& replay);

 private:
  // BSP: a clock's pushes are applied together once every rank on the roster pushed.
  bool lockstep() const { return ConsistencyPolicy(options_.consistency).lockstep(); }
  // BSP: one rank's push for one clock of one table, as it came.
  struct Contribution {
    std::vector<uint64_t> ids;
    std::vector<float> grads;  // ids.size() * dim
    uint32_t samples = 0;
    uint64_t data_order = 0;
  };
  // BSP: what the ranks pushed for one clock of one table, by rank.
  struct PendingClock {
    std::map<uint32_t, Contribution> by_rank;
  };
  enum class RankState : uint8_t { kAbsent, kActive, kRemoved };
  struct Rank {
    RankState state = RankState::kAbsent;
    uint64_t from_clock = 0;
  };
  struct TableState {
    std::unique_ptr<SparseTable> table;
    uint64_t version = 0;
    uint64_t last_evicted = 0;
    std::map<uint64_t, PendingClock> pending;  // BSP, by clock
    bool captured = false;                     // copied into capture_
  };

  explicit SparseShard(SparseShardOptions options) : options_(std::move(options)) {}
  TableState& StateOf(const SparseTable& table);
  const TableState& StateOf(const SparseTable& table) const;
  Status PushBsp(uint32_t rank, uint64_t clock, TableState& st, std::span<const uint64_t> ids,
                 const float* grads, uint32_t sample_count, uint64_t data_order);
  // Applies every complete clock at the head of st.pending (and skips
  // clocks that wait for no active rank).
  Status ApplyCompleteClocks(TableState& st);
  // BSP: every active rank due at `clock` pushed it (p may be null: none did).
  bool ClockComplete(const PendingClock* p, uint64_t clock) const;
  // Applies clock st.version from p: the pushes summed in (data order, rank) order.
  Status ApplyClock(TableState& st, const PendingClock& p);
  // Applies the complete clocks of every table.
  Status ApplyAllTables();
  void MaybeEvict(TableState& st);
  // Copies st's table into the capture if it is due (BSP: at its clock).
  void MaybeCapture(TableState& st);
  void CaptureTable(TableState& st);

  SparseShardOptions options_;
  std::vector<Rank> ranks_;  // indexed by rank
  std::map<std::string, TableState, std::less<>> tables_;
  uint64_t dropped_clocks_ = 0;
  std::optional<Capture> capture_;
};

}  // namespace pst
