// pst::JobStore: the scheduler's durable job state, one RocksDB database in
// RUN/state/scheduler/. It holds the job spec, the record of every complete
// checkpoint, and an opaque JSON blob with the live state (members,
// generation, epoch records, lease pool) that the scheduler rewrites as it
// goes, so that a restarted scheduler can resume the job.
//
// The record of a complete checkpoint is the commit point of the two-phase
// checkpoint described in ps/param_store.h: once RecordCompleteCheckpoint(r)
// has returned OK, checkpoint r.id counts, even on shards that have written it
// but not yet been told to commit it.
//
// Key layout (ids as 16 lower-case hex digits, so byte order is numeric order):
//   "meta/format"        "pstrain-job-store/1" (refuses other formats)
//   "job"                framed Cap'n Proto proto::JobSpec (common/proto_convert.h)
//   "checkpoint/<id>"    framed CheckpointRecord
//   "state"              framed JSON text
// Value framing, little-endian: 4-byte magic ("PSJJ", "PSJC", "PSJS") | u32
// format=1 | body | u32 CRC-32 (zlib) of all bytes before it. A value whose
// CRC, magic, version, framing or key does not check out reads as kDataLoss.
// A checkpoint record's body: u64 id, clock | u32 generation, num_shards |
// i64 unix_ms | f64 duration_ms | u32 epoch | u32 len + fingerprint bytes.
//
// Thread-safety: thread-safe (RocksDB serialises the database; the one
// read-then-write, RecordCompleteCheckpoint, takes an internal lock). Every
// call blocks on disk I/O. Nothing throws.
//
// Errors common to all calls: kUnavailable (I/O error, retryable),
// kResourceExhausted (disk full), kDataLoss (RocksDB or value corruption),
// kFailedPrecondition (a write on a read-only store), kInternal.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/mutex.h"
#include "common/status.h"

namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace pst {

// One complete checkpoint: every PS shard has durably written it.
struct CheckpointRecord {
  // Checkpoint id, chosen by the scheduler; increasing, not contiguous.
  uint64_t id = 0;
  // The clock boundary the checkpoint was taken at; every shard's manifest
  // carries the same clock.
  uint64_t clock = 0;
  // Cluster generation (membership epoch) the checkpoint was taken in.
  uint32_t generation = 0;
  // Number of PS shards; shard k's data is in RUN/state/ps-<k>/, k in [0, num_shards).
  uint32_t num_shards = 0;
  // Wall-clock time the checkpoint became complete, ms since the Unix epoch.
  int64_t unix_ms = 0;
  // From the scheduler's request to the last shard's acknowledgement, ms.
  double duration_ms = 0;
  // Training epoch (0-based) the clock falls in.
  uint32_t epoch = 0;
  // The job fingerprint every shard's CheckpointManifest carries (see
  // ps/param_store.h); empty when the scheduler does not set one (then
  // readers only check that the shards agree with each other).
  std::string job_fingerprint;

  bool operator==(const CheckpointRecord&) const = default;
};

struct JobStoreOptions {
  // Directory of the database (RUN/state/scheduler). Required.
  std::string path;
  // Create the directory (with parents) and the database if missing;
  // otherwise Create returns kNotFound for a missing database. Ignored when
  // read_only. Default: true.
  bool create_if_missing = true;
  // fsync the write-ahead log on SaveJob, RecordCompleteCheckpoint and
  // DropCheckpointRecordsBefore (and on SaveState when asked), so a returned
  // OK survives a machine crash. false only for tests (then OK survives a
  // process crash only). Default: true.
  bool sync_writes = true;
  // Open with RocksDB's DB::OpenForReadOnly: takes no lock, so it works while
  // the scheduler holds the database (e.g. `pstrain export` on a running job),
  // and sees the database as of the open (later writes are not visible; open
  // again to see them). Every write returns kFailedPrecondition. The database
  // must exist (kNotFound otherwise). Default: false.
  bool read_only = false;
};

class JobStore {
 public:
  // Opens (or creates) the store at options.path. Errors: kInvalidArgument
  // (empty path); kNotFound (no database there and !create_if_missing, or
  // read_only; or, read-only, a database that was never initialised);
  // kUnavailable ("job store at PATH is locked: another scheduler may be
  // running ...", or an I/O error); kPermissionDenied (cannot create the
  // directory); kFailedPrecondition (a RocksDB database that is not a job
  // store, or a job store of another format version); kDataLoss (corruption).
  static StatusOr<std::unique_ptr<JobStore>> Create(const JobStoreOptions& options);

  // Closes the database.
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Stores the job, replacing any stored one. kInvalidArgument if the spec
  // fails ValidateJobSpec.
  Status SaveJob(const JobSpec& job);
  // The stored job. kNotFound if none was saved; kDataLoss if it is corrupt or
  // no longer passes validation.
  StatusOr<JobSpec> LoadJob();

  // Records checkpoint `record` as complete: the commit point of a two-phase
  // checkpoint (synced when sync_writes). Idempotent: OK if the same record
  // is already there. kInvalidArgument if num_shards == 0;
  // kAlreadyExists if a different record with this id exists;
  // kFailedPrecondition if a record with a larger id exists (ids increase).
  Status RecordCompleteCheckpoint(const CheckpointRecord& record);
  // All complete checkpoints, ascending by id.
  StatusOr<std::vector<CheckpointRecord>> ListCompleteCheckpoints();
  // The complete checkpoint with the largest id, or nullopt if there is none.
  StatusOr<std::optional<CheckpointRecord>> LatestCompleteCheckpoint();
  // The record of complete checkpoint `id`; kNotFound if there is none.
  StatusOr<CheckpointRecord> GetCompleteCheckpoint(uint64_t id);
  // Deletes the records of checkpoints with id < `id` (after their data has
  // been pruned from the shards). OK if there are none.
  Status DropCheckpointRecordsBefore(uint64_t id);

  // Replaces the live-state blob with `json_text` (opaque here: not parsed).
  // fsyncs the log iff `sync` and options.sync_writes.
  Status SaveState(const std::string& json_text, bool sync);
  // The last saved blob. kNotFound if none was saved.
  StatusOr<std::string> LoadState();

  const std::string& path() const { return options_.path; }
  bool read_only() const { return options_.read_only; }

  // The database keys of the layout above (for tests that edit the database).
  static std::string JobKey();
  static std::string StateKey();
  static std::string CheckpointKey(uint64_t id);

 private:
  JobStore(JobStoreOptions options, std::unique_ptr<rocksdb::DB> db);
  // kFailedPrecondition naming `what` when read-only.
  Status CheckWritable(const char* what) const;
  // Puts key/value with the given sync.
  Status Put(const std::string& key, const std::string& value, bool sync, const std::string& what);
  // The value of `key`; kNotFound if it is absent.
  StatusOr<std::string> Get(const std::string& key, const std::string& what);

  JobStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  // Serialises RecordCompleteCheckpoint's check and write (the state it
  // guards is in the database, so no member is GUARDED_BY it).
  Mutex record_mu_;
};

}  // namespace pst
