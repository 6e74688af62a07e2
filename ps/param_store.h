// pst::ParamStore: durable checkpoints of one PS shard (parameters plus
// optimizer state), taken in two phases so the scheduler can make a checkpoint
// count only once every shard has written it:
//
//   phase 1  WriteCheckpoint(m, blocks)   every shard, at clock boundary m.clock;
//                                         durable, but not yet "committed";
//   phase 2  CommitCheckpoint(id)         once the scheduler has recorded that
//                                         all shards finished phase 1;
//   abort    DeleteCheckpoint(id)         if the round failed.
//
// Sparse tables (ps/sparse_checkpoint.h) go into the same checkpoint as the
// dense blocks, under the same commit: a checkpoint's manifest describes its
// sparse tables, WriteCheckpoint stores their rows with the blocks (in the
// same atomic write) and ReadSparseChain replays them, following
// sparse_parent links back to the chain's full checkpoint. Prune keeps every
// checkpoint a kept checkpoint's chain needs.
//
// Recovery: a restarted PS asks the scheduler which checkpoint is complete, then
// calls CommitCheckpoint(id) (idempotent; this covers a crash after the
// scheduler's decision but before the commit reached this shard) and
// ReadCheckpoint(id). Only committed checkpoints can be read, except through
// ReadWrittenCheckpoint (for tools that hold the scheduler's record instead).
//
// Implementations: RocksDbParamStore (ps/rocksdb_param_store.h) and
// MemoryParamStore (ps/memory_param_store.h, for tests). Both validate the
// same way, so tests can run against either.
//
// Thread-compatibility: a ParamStore is not thread-safe; the caller serialises
// all calls on one object (the PS owns one store per shard and calls it from
// one thread). Calls block on disk I/O.
//
// Errors: kInvalidArgument (bad arguments), kNotFound (unknown or uncommitted
// id), kAlreadyExists (id written before), kDataLoss (stored data is corrupt or
// inconsistent), kUnavailable (storage I/O failed or the database is locked;
// the call may be retried), kResourceExhausted (disk full), kInternal.
// No exceptions escape.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/key_range.h"
#include "common/status.h"
#include "ps/block_source.h"
#include "ps/sparse_checkpoint.h"

namespace pst {

// What a checkpoint holds. Stored next to the blocks and checked against them
// when the checkpoint is read.
struct CheckpointManifest {
  uint64_t checkpoint_id = 0;           // chosen by the scheduler; increasing, not contiguous
  uint64_t clock = 0;                   // the clock boundary the checkpoint was taken at
  std::string job_fingerprint;          // identifies job + model; a restore compares it
  KeyRange range;                       // the shard's key range; the blocks tile it
  std::vector<std::string> slot_names;  // optimizer slot names, same for every block
  uint64_t num_blocks = 0;
  // Sparse tables: the checkpoint whose rows this one's increment (0: the
  // sparse rows are full), how many increments lead here from the chain's
  // full checkpoint (0 for a full one, at most kMaxSparseChain), and each
  // table's description (none: no sparse tables).
  uint64_t sparse_parent = 0;
  uint32_t sparse_chain = 0;
  std::vector<SparseTableManifest> sparse_tables;

  bool operator==(const CheckpointManifest&) const = default;
};

class ParamStore {
 public:
  virtual ~ParamStore() = default;

  // Phase 1: stores checkpoint m.checkpoint_id (manifest, all blocks and the
  // sparse rows, `sparse[i]` those of m.sparse_tables[i], atomically and
  // durably) without committing it.
  // kInvalidArgument unless ValidateCheckpoint(m, blocks, sparse) is OK;
  // kAlreadyExists if that id was written before (committed or not);
  // kFailedPrecondition if m.sparse_parent is not a checkpoint written here
  // (never written, or deleted).
  // The blocks are read from `blocks` once each, in order (a live capture
  // may hand each out only once); a block that fails validation ends the
  // write with nothing stored.
  virtual Status WriteCheckpoint(const CheckpointManifest& m, BlockSource& blocks,
                                 const std::vector<SparseRowsDelta>& sparse) = 0;
  // The same with blocks held in memory.
  Status WriteCheckpoint(const CheckpointManifest& m, const std::vector<BlockState>& blocks,
                         const std::vector<SparseRowsDelta>& sparse) {
    VectorBlockSource source(&blocks);
    return WriteCheckpoint(m, source, sparse);
  }
  // A checkpoint without sparse tables.
  Status WriteCheckpoint(const CheckpointManifest& m, const std::vector<BlockState>& blocks) {
    return WriteCheckpoint(m, blocks, {});
  }

  // Replays the sparse rows of checkpoint checkpoint_id: calls fn with every
  // stored piece of its chain, the full checkpoint's first, then each
  // increment's in order (per table its tombstones before its rows), and last
  // the target's admission sketches. Pieces name tables by their index in
  // the target manifest's sparse_tables. Requires the target committed
  // unless !require_commit (as ReadWrittenCheckpoint). Errors: kNotFound as
  // ReadCheckpoint; kDataLoss for a missing or corrupt link of the chain, a
  // corrupt piece, counts that differ from the manifests, or tables that
  // differ along the chain; the first error fn returns, as is (the replay
  // stops there). Blocks on reading the whole chain.
  virtual Status ReadSparseChain(uint64_t checkpoint_id, bool require_commit,
                                 const SparseChainFn& fn) = 0;

  // Phase 2: marks a written checkpoint committed, durably. Idempotent: OK if
  // it is already committed. kNotFound if the id was never written (or deleted).
  virtual Status CommitCheckpoint(uint64_t checkpoint_id) = 0;

  // Drops a checkpoint (committed or not) and its data, e.g. after an aborted
  // round. Idempotent: OK if the id does not exist.
  virtual Status DeleteCheckpoint(uint64_t checkpoint_id) = 0;

  // Ids of committed checkpoints, ascending.
  virtual StatusOr<std::vector<uint64_t>> ListCommitted() = 0;
  // Ids of written but uncommitted checkpoints, ascending.
  virtual StatusOr<std::vector<uint64_t>> ListUncommitted() = 0;

  // Reads a committed checkpoint. kNotFound if the id is absent or not
  // committed; kDataLoss if the stored data is corrupt or inconsistent (a
  // checksum mismatch, a missing or extra block, wrong sizes, a manifest that
  // does not match its blocks).
  virtual StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> ReadCheckpoint(
      uint64_t checkpoint_id) = 0;

  // Like ReadCheckpoint, but also reads a checkpoint that was written here and
  // not (yet) committed here. For readers that know from the scheduler's
  // record (scheduler/job_store.h, the commit point of the two phases) that
  // the checkpoint is complete although this shard may not have received
  // phase 2, e.g. `pstrain export` reading a running job's stores read-only.
  // kNotFound if the id was never written (or was deleted); kDataLoss as
  // ReadCheckpoint (a present but corrupt commit marker included).
  virtual StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> ReadWrittenCheckpoint(
      uint64_t checkpoint_id) = 0;

  // Keeps the newest `keep` committed checkpoints and deletes older committed
  // ones, plus uncommitted ones older than the newest committed (uncommitted
  // ones newer than that may still be committed by a round in flight),
  // except those the sparse chain of a kept checkpoint goes through.
  // kInvalidArgument if keep == 0 (that would leave nothing to restore).
  virtual Status Prune(size_t keep) = 0;
};

// OK if `blocks` is a well-formed checkpoint for `m`: m.range is not inverted;
// there are m.num_blocks blocks, non-empty, in key order, tiling m.range
// exactly; every block has keys.size() values and one keys.size()-float slot
// per slot name; slot names are non-empty and distinct. Otherwise
// kInvalidArgument naming the first problem. Writers call it on their input;
// readers call it on what they read and report a failure as kDataLoss.
// Writers that see one block at a time (a BlockSource) make the same checks
// in three steps: ValidateCheckpointStart(m, number of blocks), then
// ValidateBlock for each block in order (`next` starts at m.range.begin), then
// ValidateCheckpointEnd.
Status ValidateCheckpointStart(const CheckpointManifest& m, size_t num_blocks);
Status ValidateBlock(const CheckpointManifest& m, size_t i, const BlockView& b, uint64_t* next);
Status ValidateCheckpointEnd(const CheckpointManifest& m, uint64_t next);
Status ValidateCheckpoint(const CheckpointManifest& m, const std::vector<BlockState>& blocks);

// ValidateCheckpoint(m, blocks) and ValidateSparseRows for m's sparse tables.
inline Status ValidateCheckpoint(const CheckpointManifest& m, const std::vector<BlockState>& blocks,
                                 const std::vector<SparseRowsDelta>& sparse) {
  PST_RETURN_IF_ERROR(ValidateCheckpoint(m, blocks));
  return ValidateSparseRows(m.sparse_tables, sparse, m.sparse_parent == 0)
      .WithContext("checkpoint " + std::to_string(m.checkpoint_id));
}

// The sparse chain of `target`, oldest (the full checkpoint) first, target
// last, reading each parent's manifest with `read` (which returns kNotFound
// for an id not stored). kDataLoss for a missing parent, chain lengths that
// do not step down by one, or a parent whose sparse tables (names, dims,
// state sizes, order) differ from the target's.
StatusOr<std::vector<CheckpointManifest>> ResolveSparseChain(
    const CheckpointManifest& target,
    const std::function<StatusOr<CheckpointManifest>(uint64_t)>& read);

// Of `candidates` (ids a Prune would delete), those that no checkpoint in
// `kept` needs: the sparse chains of the kept ones (following
// parent_of(id), which gives 0 for no parent or an unknown id) are removed.
std::vector<uint64_t> DroppableCheckpoints(const std::vector<uint64_t>& candidates,
                                           const std::vector<uint64_t>& kept,
                                           const std::function<uint64_t(uint64_t)>& parent_of);

}  // namespace pst
