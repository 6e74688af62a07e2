// Reading a whole model out of a run directory's checkpoint: the scheduler's
// job store says which checkpoints are complete, and each PS shard's param
// store holds that checkpoint's slice of the dense parameters and its sparse
// tables' rows (replayed from the checkpoint's incremental chain, see
// ps/sparse_checkpoint.h). Used by `pstrain export` and `pstrain eval`.
//
// Run-directory layout:
//   RUN/job.toml
//   RUN/logs/
//   RUN/state/scheduler/     the scheduler's JobStore (scheduler/job_store.h)
//   RUN/state/ps-<k>/        PS shard k's RocksDbParamStore (ps/rocksdb_param_store.h)
//
// Every database is opened read-only (no lock), so this works on a running
// job as well as a finished one, and changes nothing. Functions are
// thread-safe, block on disk I/O, and throw nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"
#include "common/table_spec.h"
#include "ps/sparse_table.h"
#include "scheduler/job_store.h"

namespace pst {

// RUN/state/scheduler.
std::string SchedulerStateDir(const std::string& run_dir);
// RUN/state/ps-<shard>.
std::string PsStateDir(const std::string& run_dir, uint32_t shard);

struct CheckpointModel {
  // The job the checkpoint belongs to (from the scheduler's job store).
  JobSpec job;
  // The scheduler's record of the checkpoint.
  CheckpointRecord record;
  // The job's tables (common/job_tables.h JobTables(job)).
  std::vector<TableSpec> tables;
  // The dense tables: the dense key space, DenseKeyCount(tables) floats, each
  // dense table at its offset in declaration order. For the MLP this is the
  // layout of common/model_layout.h. Optimizer state is left out.
  std::vector<float> params;
  // One table per sparse table of `tables`, in declaration order, holding the
  // rows of every shard (with their optimizer state, and a row bound of 0 =
  // none). Pull() reads absent ids as the PS does (initial values, or zeros
  // with admission).
  std::vector<std::unique_ptr<SparseTable>> sparse;
};

// Loads complete checkpoint `checkpoint_id` (or, if nullopt, the latest
// complete one) of the run in `run_dir`. A shard that has the checkpoint
// written but not committed is accepted: the scheduler's record is the commit
// point. Checks that every shard's manifest has the record's clock, that the
// shards agree on the job fingerprint (and match the record's, if it has one),
// and that shard 0..num_shards-1's key ranges tile [0, model size) in order.
// Errors, each a one-line message saying what to do:
//   kNotFound: no run_dir, no RUN/state/scheduler, no complete checkpoint yet,
//              or no complete checkpoint `checkpoint_id` (the message lists the
//              complete ones);
//   kDataLoss: the stores disagree or are corrupt (a missing shard store or
//              shard checkpoint, a clock, fingerprint or key range that does
//              not match, sparse tables that are not the job's or a broken
//              chain, a checksum failure, no job spec); names the shard;
//   kUnavailable: I/O errors (retry);
//   kFailedPrecondition: a directory holds something else than our stores.
StatusOr<CheckpointModel> LoadCheckpointModel(const std::string& run_dir,
                                              std::optional<uint64_t> checkpoint_id);

}  // namespace pst
