#include "cli/checkpoint_model.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "common/job_tables.h"
#include "ps/param_store.h"
#include "ps/rocksdb_param_store.h"
#include "ps/sparse_shard.h"
#include "ps/sparse_table_spec.h"

namespace pst {
namespace {

namespace fs = std::filesystem;

std::string JoinIds(const std::vector<CheckpointRecord>& records) {
  std::string out;
  for (const CheckpointRecord& r : records) out += (out.empty() ? "" : ", ") + std::to_string(r.id);
  return out;
}

// Opens the scheduler's job store of `run_dir` read-only.
StatusOr<std::unique_ptr<JobStore>> OpenJobStore(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) {
    return Status::NotFound("no such run directory: " + run_dir +
                            " (give the run directory of a `pstrain launch`)");
  }
  JobStoreOptions o;
  o.path = SchedulerStateDir(run_dir);
  o.read_only = true;
  StatusOr<std::unique_ptr<JobStore>> store = JobStore::Create(o);
  if (store.status().code() == StatusCode::kNotFound) {
    return Status::NotFound(run_dir + " has no scheduler state (" + o.path +
                            "): give the run directory of a `pstrain launch` that has taken a "
                            "checkpoint");
  }
  if (!store.ok()) return store.status();
  return store;
}

// Picks the record of the checkpoint to load.
StatusOr<CheckpointRecord> PickRecord(JobStore& store, const std::string& run_dir,
                                      std::optional<uint64_t> checkpoint_id) {
  PST_ASSIGN_OR_RETURN(std::vector<CheckpointRecord> all, store.ListCompleteCheckpoints());
  if (all.empty()) {
    return Status::NotFound("no complete checkpoint yet in " + run_dir +
                            "; wait until the job has taken its first checkpoint, then try again");
  }
  if (!checkpoint_id) return all.back();
  auto it = std::find_if(all.begin(), all.end(),
                         [&](const CheckpointRecord& r) { return r.id == *checkpoint_id; });
  if (it == all.end()) {
    return Status::NotFound("checkpoint " + std::to_string(*checkpoint_id) +
                            " is not a complete checkpoint of " + run_dir +
                            "; complete checkpoints: " + JoinIds(all) +
                            " (leave out --checkpoint for the latest)");
  }
  return *it;
}

// The options of the merged tables that hold every shard's rows: the job's,
// without a row bound (a bound is per shard).
StatusOr<std::vector<SparseTableOptions>> MergedSparseOptions(const std::vector<TableSpec>& tables) {
  std::vector<SparseTableOptions> out;
  for (const TableSpec& t : tables) {
    if (t.kind != TableKind::kSparse) continue;
    PST_ASSIGN_OR_RETURN(SparseTableOptions o, SparseTableOptionsFromSpec(t));
    o.max_rows = 0;
    out.push_back(std::move(o));
  }
  return out;
}

// Replays shard `store`'s sparse chain of checkpoint `m` into a SparseShard
// (the PS's own restore: tombstones, rows, the manifest's row counts) and
// copies its rows into `merged`.
Status MergeSparseShard(ParamStore& store, const CheckpointManifest& m,
                        const std::vector<SparseTableOptions>& options,
                        std::vector<std::unique_ptr<SparseTable>>& merged) {
  SparseShardOptions so;
  so.tables = options;
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseShard> shard, SparseShard::Create(so));
  Status restored = shard->Restore(m.sparse_tables, [&](const SparseChainFn& fn) {
    return store.ReadSparseChain(m.checkpoint_id, /*require_commit=*/false, fn);
  });
  // Tables that are not the job's mean the stores disagree with the job spec.
  if (restored.code() == StatusCode::kFailedPrecondition)
    return Status::DataLoss(restored.message());
  PST_RETURN_IF_ERROR(restored);
  for (auto& table : merged) {
    const SparseTable* from = shard->FindTable(table->name());
    Status put = Status::OK();
    from->ForEachRow([&](uint64_t id, const float* row, uint64_t last_step) {
      if (put.ok()) put = table->PutRow(id, row, last_step);
    });
    PST_RETURN_IF_ERROR(put);
  }
  return Status::OK();
}

}  // namespace

std::string SchedulerStateDir(const std::string& run_dir) {
  return (fs::path(run_dir) / "state" / "scheduler").string();
}

std::string PsStateDir(const std::string& run_dir, uint32_t shard) {
  return (fs::path(run_dir) / "state" / ("ps-" + std::to_string(shard))).string();
}

StatusOr<CheckpointModel> LoadCheckpointModel(const std::string& run_dir,
                                              std::optional<uint64_t> checkpoint_id) {
  PST_ASSIGN_OR_RETURN(std::unique_ptr<JobStore> job_store, OpenJobStore(run_dir));
  CheckpointModel out;
  PST_ASSIGN_OR_RETURN(out.record, PickRecord(*job_store, run_dir, checkpoint_id));
  StatusOr<JobSpec> job = job_store->LoadJob();
  if (job.status().code() == StatusCode::kNotFound) {
    return Status::DataLoss(job_store->path() + " records checkpoints but holds no job spec");
  }
  if (!job.ok()) return job.status();
  out.job = std::move(job).value();
  job_store.reset();

  const CheckpointRecord& rec = out.record;
  const std::string ckpt = "checkpoint " + std::to_string(rec.id);
  if (rec.num_shards == 0)
    return Status::DataLoss(ckpt + ": the scheduler's record lists 0 shards");
  StatusOr<std::vector<TableSpec>> tables = JobTables(out.job);
  if (!tables.ok()) return Status::DataLoss("the stored job's model: " + tables.status().message());
  out.tables = std::move(tables).value();
  const uint64_t total = DenseKeyCount(out.tables);
  out.params.assign(total, 0.0f);
  StatusOr<std::vector<SparseTableOptions>> sparse = MergedSparseOptions(out.tables);
  if (!sparse.ok()) return Status::DataLoss("the stored job's tables: " + sparse.status().message());
  for (const SparseTableOptions& o : *sparse) {
    PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseTable> t, SparseTable::Create(o));
    out.sparse.push_back(std::move(t));
  }

  std::string fingerprint = rec.job_fingerprint;
  uint64_t next = 0;  // the first key shard k must start at
  for (uint32_t k = 0; k < rec.num_shards; ++k) {
    const std::string dir = PsStateDir(run_dir, k);
    const std::string shard = ckpt + ", shard " + std::to_string(k) + " (" + dir + ")";
    RocksDbParamStoreOptions o;
    o.path = dir;
    o.read_only = true;
    StatusOr<std::unique_ptr<RocksDbParamStore>> store = RocksDbParamStore::Open(o);
    if (store.status().code() == StatusCode::kNotFound) {
      return Status::DataLoss(shard +
                              ": the shard's store is missing, so the checkpoint cannot "
                              "be read; restore the directory or pick another checkpoint");
    }
    if (!store.ok()) return store.status().WithContext(shard);
    auto read = (*store)->ReadWrittenCheckpoint(rec.id);
    if (read.status().code() == StatusCode::kNotFound) {
      return Status::DataLoss(shard +
                              ": the shard does not hold the checkpoint the scheduler "
                              "recorded as complete; pick another checkpoint");
    }
    if (!read.ok()) return read.status().WithContext(shard);
    const CheckpointManifest& m = read->first;
    if (m.clock != rec.clock) {
      return Status::DataLoss(shard + ": taken at clock " + std::to_string(m.clock) +
                              ", but the scheduler recorded clock " + std::to_string(rec.clock));
    }
    if (k == 0 && fingerprint.empty()) fingerprint = m.job_fingerprint;
    if (m.job_fingerprint != fingerprint) {
      return Status::DataLoss(shard + ": job fingerprint '" + m.job_fingerprint +
                              "' differs from '" + fingerprint + "'");
    }
    if (m.range.begin != next || m.range.end > total || m.range.end < m.range.begin) {
      return Status::DataLoss(shard + ": holds keys [" + std::to_string(m.range.begin) + ", " +
                              std::to_string(m.range.end) + "), but the shards must tile the " +
                              std::to_string(total) + "-parameter model in order and this one " +
                              "should start at " + std::to_string(next));
    }
    // ReadWrittenCheckpoint validated that the blocks tile m.range.
    for (const BlockState& b : read->second) {
      std::memcpy(out.params.data() + b.keys.begin, b.values.data(),
                  b.values.size() * sizeof(float));
    }
    next = m.range.end;
    if (!sparse->empty()) {
      PST_RETURN_IF_ERROR(MergeSparseShard(**store, m, *sparse, out.sparse).WithContext(shard));
    }
  }
  if (next != total) {
    const uint32_t last = rec.num_shards - 1;  // num_shards >= 1 (JobStore checks it)
    return Status::DataLoss(ckpt + ", shard " + std::to_string(last) + " (" +
                            PsStateDir(run_dir, last) + "): the last shard ends at key " +
                            std::to_string(next) + ", but the model has " + std::to_string(total) +
                            " parameters");
  }
  return out;
}

}  // namespace pst
