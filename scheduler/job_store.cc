#include "scheduler/job_store.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>
#include <rocksdb/write_batch.h>

#include <cstring>
#include <string_view>
#include <utility>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include "common/proto_convert.h"
#include "common/rocksdb_open.h"
#include "common/rocksdb_records.h"
#include "proto/job.capnp.h"

namespace pst {
namespace {

constexpr std::string_view kFormatKey = "meta/format";
constexpr std::string_view kFormatValue = "pstrain-job-store/1";
constexpr std::string_view kJobKey = "job";
constexpr std::string_view kStateKey = "state";
constexpr std::string_view kCheckpointPrefix = "checkpoint/";
constexpr uint32_t kFormatVersion = 1;
constexpr RecordFormat kJobFormat = {{'P', 'S', 'J', 'J'}, kFormatVersion};
constexpr RecordFormat kCheckpointFormat = {{'P', 'S', 'J', 'C'}, kFormatVersion};
constexpr RecordFormat kStateFormat = {{'P', 'S', 'J', 'S'}, kFormatVersion};
// A job spec is a few hundred bytes; anything far larger is corrupt.
constexpr size_t kMaxJobBytes = 1 << 20;

// What FromRocks says when another process holds the database's LOCK file.
std::string LockHeld(const std::string& path, const std::string& rocks_text) {
  return "job store at " + path +
         " is locked: another scheduler may be running for this run "
         "directory (stop it first, or use another run directory): " +
         rocks_text;
}

// Checks the framing of `value` and returns its body; `what` names the value
// in errors.
StatusOr<std::string_view> OpenValue(std::string_view value, const RecordFormat& format,
                                     const std::string& what) {
  StatusOr<std::string_view> body = OpenFramed(value, format);
  if (!body.ok()) return body.status().WithContext(what);
  return body;
}

std::string EncodeRecord(const CheckpointRecord& r) {
  RecordEncoder e(kCheckpointFormat);
  e.U64(r.id);
  e.U64(r.clock);
  e.U32(r.generation);
  e.U32(r.num_shards);
  e.I64(r.unix_ms);
  e.F64(r.duration_ms);
  e.U32(r.epoch);
  e.Str(r.job_fingerprint);
  return std::move(e).Finish();
}

StatusOr<CheckpointRecord> DecodeRecord(std::string_view value, const std::string& what) {
  PST_ASSIGN_OR_RETURN(std::string_view body, OpenValue(value, kCheckpointFormat, what));
  RecordDecoder d(body);
  CheckpointRecord r;
  if (!d.U64(&r.id) || !d.U64(&r.clock) || !d.U32(&r.generation) || !d.U32(&r.num_shards) ||
      !d.I64(&r.unix_ms) || !d.F64(&r.duration_ms) || !d.U32(&r.epoch) ||
      !d.Str(&r.job_fingerprint) || d.left() != 0) {
    return Status::DataLoss(what + ": malformed checkpoint record");
  }
  return r;
}

StatusOr<std::string> EncodeJob(const JobSpec& job) {
  try {
    capnp::MallocMessageBuilder builder;
    ToProto(job, builder.initRoot<proto::JobSpec>());
    kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
    kj::ArrayPtr<const kj::byte> bytes = words.asBytes();
    RecordEncoder e(kJobFormat);
    e.Raw(bytes.begin(), bytes.size());
    return std::move(e).Finish();
  } catch (const kj::Exception& ex) {
    return Status::Internal(std::string("job store: cannot encode the job: ") +
                            ex.getDescription().cStr());
  }
}

StatusOr<JobSpec> DecodeJob(std::string_view value, const std::string& what) {
  PST_ASSIGN_OR_RETURN(std::string_view body, OpenValue(value, kJobFormat, what));
  if (body.empty() || body.size() % sizeof(capnp::word) != 0 || body.size() > kMaxJobBytes) {
    return Status::DataLoss(what + ": " + std::to_string(body.size()) +
                            " bytes is not a Cap'n Proto message");
  }
  // FlatArrayMessageReader needs word-aligned memory.
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(body.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), body.data(), body.size());
  try {
    capnp::FlatArrayMessageReader reader(words);
    StatusOr<JobSpec> job = FromProto(reader.getRoot<proto::JobSpec>());
    if (!job.ok()) return Status::DataLoss(what + ": " + job.status().message());
    return job;
  } catch (const kj::Exception& ex) {
    return Status::DataLoss(what +
                            ": malformed Cap'n Proto message: " + ex.getDescription().cStr());
  }
}

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

}  // namespace

std::string JobStore::JobKey() { return std::string(kJobKey); }
std::string JobStore::StateKey() { return std::string(kStateKey); }
std::string JobStore::CheckpointKey(uint64_t id) {
  return std::string(kCheckpointPrefix) + Hex16(id);
}

JobStore::JobStore(JobStoreOptions options, std::unique_ptr<rocksdb::DB> db)
    : options_(std::move(options)), db_(std::move(db)) {}

JobStore::~JobStore() {
  if (db_) {
    // Writes that callers were told are durable were synced already.
    rocksdb::Status s = db_->Close();
    (void)s;
  }
}

StatusOr<std::unique_ptr<JobStore>> JobStore::Create(const JobStoreOptions& options) {
  PST_ASSIGN_OR_RETURN(StoreDb opened,
                       OpenStoreDb({options.path, options.read_only, options.create_if_missing,
                                    options.sync_writes, "job store", kFormatKey, kFormatValue,
                                    LockHeld}));
  if (opened.empty)
    return Status::NotFound("job store: the database at " + options.path + " was never initialised");
  return std::unique_ptr<JobStore>(new JobStore(options, std::move(opened.db)));
}

Status JobStore::CheckWritable(const char* what) const {
  if (!options_.read_only) return Status::OK();
  return Status::FailedPrecondition(std::string("job store: ") + what + ": " + path() +
                                    " was opened read-only");
}

Status JobStore::Put(const std::string& key, const std::string& value, bool sync,
                     const std::string& what) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(db_->Put(wo, key, value), path(), what, LockHeld);
}

StatusOr<std::string> JobStore::Get(const std::string& key, const std::string& what) {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::string value;
  rocksdb::Status s = db_->Get(ro, key, &value);
  if (s.IsNotFound()) return Status::NotFound(what + ": not in " + path());
  PST_RETURN_IF_ERROR(FromRocks(s, path(), what, LockHeld));
  return value;
}

Status JobStore::SaveJob(const JobSpec& job) {
  PST_RETURN_IF_ERROR(CheckWritable("save job"));
  Status valid = ValidateJobSpec(job);
  if (!valid.ok()) return valid.WithContext("job store: save job");
  PST_ASSIGN_OR_RETURN(std::string value, EncodeJob(job));
  return Put(JobStore::JobKey(), value, options_.sync_writes, "job store: save job");
}

StatusOr<JobSpec> JobStore::LoadJob() {
  StatusOr<std::string> value = Get(JobKey(), "job store: job spec");
  if (value.status().code() == StatusCode::kNotFound) {
    return Status::NotFound("job store " + path() + " holds no job spec");
  }
  if (!value.ok()) return value.status();
  return DecodeJob(*value, "job store " + path() + ": job spec");
}

Status JobStore::RecordCompleteCheckpoint(const CheckpointRecord& record) {
  PST_RETURN_IF_ERROR(CheckWritable("record checkpoint"));
  const std::string what = "job store: record checkpoint " + std::to_string(record.id);
  if (record.num_shards == 0) return Status::InvalidArgument(what + ": num_shards is 0");
  MutexLock lock(&record_mu_);
  PST_ASSIGN_OR_RETURN(std::optional<CheckpointRecord> latest, LatestCompleteCheckpoint());
  if (latest && latest->id >= record.id) {
    if (latest->id > record.id) {
      return Status::FailedPrecondition(what + ": checkpoint " + std::to_string(latest->id) +
                                        " is already recorded (ids must increase)");
    }
    if (*latest == record) return Status::OK();  // a retried record
    return Status::AlreadyExists(what + ": a different record with this id exists");
  }
  return Put(CheckpointKey(record.id), EncodeRecord(record), options_.sync_writes, what);
}

StatusOr<std::vector<CheckpointRecord>> JobStore::ListCompleteCheckpoints() {
  const std::string prefix(kCheckpointPrefix);
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);  // "checkpoint0"
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  std::vector<CheckpointRecord> out;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    const std::string_view key = View(it->key());
    uint64_t id;
    if (!key.starts_with(prefix) || !ParseHex16(key.substr(prefix.size()), &id)) {
      return Status::DataLoss("job store " + path() + ": malformed key '" + std::string(key) + "'");
    }
    const std::string what = "job store " + path() + ": checkpoint record " + std::to_string(id);
    PST_ASSIGN_OR_RETURN(CheckpointRecord r, DecodeRecord(View(it->value()), what));
    if (r.id != id) {
      return Status::DataLoss(what + " holds the record of checkpoint " + std::to_string(r.id));
    }
    out.push_back(std::move(r));
  }
  PST_RETURN_IF_ERROR(FromRocks(it->status(), path(), "job store: list checkpoints", LockHeld));
  return out;  // ascending: fixed-width hex sorts numerically
}

StatusOr<std::optional<CheckpointRecord>> JobStore::LatestCompleteCheckpoint() {
  // Records are few (they are pruned with the checkpoints), so listing is cheap
  // and checks every record on the way.
  PST_ASSIGN_OR_RETURN(std::vector<CheckpointRecord> all, ListCompleteCheckpoints());
  if (all.empty()) return std::optional<CheckpointRecord>();
  return std::optional<CheckpointRecord>(std::move(all.back()));
}

StatusOr<CheckpointRecord> JobStore::GetCompleteCheckpoint(uint64_t id) {
  const std::string what = "job store " + path() + ": checkpoint record " + std::to_string(id);
  StatusOr<std::string> value = Get(CheckpointKey(id), what);
  if (value.status().code() == StatusCode::kNotFound) {
    return Status::NotFound("checkpoint " + std::to_string(id) +
                            " is not recorded as complete in " + path());
  }
  if (!value.ok()) return value.status();
  PST_ASSIGN_OR_RETURN(CheckpointRecord r, DecodeRecord(*value, what));
  if (r.id != id) {
    return Status::DataLoss(what + " holds the record of checkpoint " + std::to_string(r.id));
  }
  return r;
}

Status JobStore::DropCheckpointRecordsBefore(uint64_t id) {
  PST_RETURN_IF_ERROR(CheckWritable("drop checkpoint records"));
  if (id == 0) return Status::OK();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return FromRocks(
      db_->DeleteRange(wo, db_->DefaultColumnFamily(), CheckpointKey(0), CheckpointKey(id)), path(),
      "job store: drop checkpoint records before " + std::to_string(id), LockHeld);
}

Status JobStore::SaveState(const std::string& json_text, bool sync) {
  PST_RETURN_IF_ERROR(CheckWritable("save state"));
  RecordEncoder e(kStateFormat);
  e.Raw(json_text.data(), json_text.size());
  return Put(StateKey(), std::move(e).Finish(), sync && options_.sync_writes,
             "job store: save state");
}

StatusOr<std::string> JobStore::LoadState() {
  StatusOr<std::string> value = Get(StateKey(), "job store: state");
  if (value.status().code() == StatusCode::kNotFound) {
    return Status::NotFound("job store " + path() + " holds no saved state");
  }
  if (!value.ok()) return value.status();
  PST_ASSIGN_OR_RETURN(std::string_view body,
                       OpenValue(*value, kStateFormat, "job store " + path() + ": state"));
  return std::string(body);
}

}  // namespace pst
