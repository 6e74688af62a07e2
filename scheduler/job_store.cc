#include "scheduler/job_store.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>
#include <rocksdb/write_batch.h>
#include <zlib.h>

#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include "common/proto_convert.h"
#include "proto/job.capnp.h"

namespace pst {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the job store encodes integers and doubles as little-endian bytes");

constexpr std::string_view kFormatKey = "meta/format";
constexpr std::string_view kFormatValue = "pstrain-job-store/1";
constexpr std::string_view kJobKey = "job";
constexpr std::string_view kStateKey = "state";
constexpr std::string_view kCheckpointPrefix = "checkpoint/";
constexpr uint32_t kFormatVersion = 1;
constexpr char kJobMagic[4] = {'P', 'S', 'J', 'J'};
constexpr char kCheckpointMagic[4] = {'P', 'S', 'J', 'C'};
constexpr char kStateMagic[4] = {'P', 'S', 'J', 'S'};
constexpr uint32_t kMaxStringBytes = 1 << 20;
// A job spec is a few hundred bytes; anything far larger is corrupt.
constexpr size_t kMaxJobBytes = 1 << 20;

// The one place a rocksdb::Status becomes a pst::Status. `what` names the
// operation; every message names the database path.
Status FromRocks(const rocksdb::Status& s, const std::string& path, std::string_view what) {
  if (s.ok()) return Status::OK();
  const std::string text = s.ToString();
  const std::string msg = std::string(what) + " (rocksdb at " + path + "): " + text;
  if (s.IsIOError()) {
    // RocksDB reports a held LOCK file as an IOError: "lock hold by current
    // process" within this process, "While lock file: .../LOCK" across processes.
    if (text.find("/LOCK") != std::string::npos || text.find("lock hold") != std::string::npos) {
      return Status::Unavailable("job store at " + path +
                                 " is locked: another scheduler may be running for this run "
                                 "directory (stop it first, or use another run directory): " +
                                 text);
    }
    if (s.IsNoSpace()) return Status::ResourceExhausted(msg);
    return Status::Unavailable(msg);
  }
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return Status::Unavailable(msg);
  if (s.IsCorruption()) return Status::DataLoss(msg);
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::Internal(msg);
}

std::string Hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return std::string(buf, 16);
}

bool ParseHex16(std::string_view s, uint64_t* out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    uint64_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  *out = v;
  return true;
}

uint32_t Crc32(const char* p, size_t n) {
  return static_cast<uint32_t>(crc32_z(0L, reinterpret_cast<const Bytef*>(p), n));
}

class Encoder {
 public:
  explicit Encoder(const char (&magic)[4]) {
    Raw(magic, 4);
    U32(kFormatVersion);
  }
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  void U32(uint32_t v) { Raw(&v, sizeof v); }
  void U64(uint64_t v) { Raw(&v, sizeof v); }
  void I64(int64_t v) { Raw(&v, sizeof v); }
  void F64(double v) { Raw(&v, sizeof v); }
  void Str(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(s.data(), s.size());
  }
  // Appends the CRC of everything so far and returns the value.
  std::string Finish() && {
    U32(Crc32(out_.data(), out_.size()));
    return std::move(out_);
  }

 private:
  std::string out_;
};

class Decoder {
 public:
  explicit Decoder(std::string_view body) : p_(body.data()), left_(body.size()) {}
  bool Raw(void* dst, size_t n) {
    if (n > left_) return false;
    if (n != 0) std::memcpy(dst, p_, n);
    p_ += n;
    left_ -= n;
    return true;
  }
  bool U32(uint32_t* v) { return Raw(v, sizeof *v); }
  bool U64(uint64_t* v) { return Raw(v, sizeof *v); }
  bool I64(int64_t* v) { return Raw(v, sizeof *v); }
  bool F64(double* v) { return Raw(v, sizeof *v); }
  bool Str(std::string* s) {
    uint32_t n;
    if (!U32(&n) || n > kMaxStringBytes || n > left_) return false;
    s->assign(p_, n);
    p_ += n;
    left_ -= n;
    return true;
  }
  size_t left() const { return left_; }

 private:
  const char* p_;
  size_t left_;
};

// Checks the CRC, magic and format version of `value` and returns its body
// (between the 8-byte header and the CRC). `what` names the value in errors.
StatusOr<std::string_view> OpenFramed(std::string_view value, const char (&magic)[4],
                                      const std::string& what) {
  constexpr size_t kHeader = 8;
  if (value.size() < kHeader + 4) {
    return Status::DataLoss(what + ": value of " + std::to_string(value.size()) +
                            " bytes is truncated");
  }
  const size_t body_end = value.size() - 4;
  uint32_t stored;
  std::memcpy(&stored, value.data() + body_end, 4);
  if (stored != Crc32(value.data(), body_end))
    return Status::DataLoss(what + ": checksum mismatch");
  if (std::memcmp(value.data(), magic, 4) != 0)
    return Status::DataLoss(what + ": wrong record type");
  uint32_t version;
  std::memcpy(&version, value.data() + 4, 4);
  if (version != kFormatVersion) {
    return Status::DataLoss(what + ": unknown record format " + std::to_string(version));
  }
  return value.substr(kHeader, body_end - kHeader);
}

std::string EncodeRecord(const CheckpointRecord& r) {
  Encoder e(kCheckpointMagic);
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
  PST_ASSIGN_OR_RETURN(std::string_view body, OpenFramed(value, kCheckpointMagic, what));
  Decoder d(body);
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
    Encoder e(kJobMagic);
    e.Raw(bytes.begin(), bytes.size());
    return std::move(e).Finish();
  } catch (const kj::Exception& ex) {
    return Status::Internal(std::string("job store: cannot encode the job: ") +
                            ex.getDescription().cStr());
  }
}

StatusOr<JobSpec> DecodeJob(std::string_view value, const std::string& what) {
  PST_ASSIGN_OR_RETURN(std::string_view body, OpenFramed(value, kJobMagic, what));
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
  const std::string& path = options.path;
  if (path.empty()) return Status::InvalidArgument("job store: empty database path");
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool create = options.create_if_missing && !options.read_only;
  if (create) {
    fs::create_directories(path, ec);
    if (ec) {
      std::string msg = "job store: cannot create directory " + path + ": " + ec.message();
      if (ec == std::errc::permission_denied) return Status::PermissionDenied(std::move(msg));
      return Status::Unavailable(std::move(msg));
    }
  } else if (!fs::exists(fs::path(path) / "CURRENT", ec)) {
    return Status::NotFound("job store: no database at " + path);
  }

  rocksdb::Options ro;
  ro.create_if_missing = create;
  ro.paranoid_checks = true;
  ro.keep_log_file_num = 4;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = options.read_only ? rocksdb::DB::OpenForReadOnly(ro, path, &raw)
                                        : rocksdb::DB::Open(ro, path, &raw);
  std::unique_ptr<rocksdb::DB> db(raw);
  if (!s.ok()) return FromRocks(s, path, "job store: open");

  // Refuse a database that is not ours, or of another format version.
  std::string format;
  s = db->Get(rocksdb::ReadOptions(), kFormatKey, &format);
  if (s.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (it->Valid()) {
      return Status::FailedPrecondition("job store: " + path +
                                        " holds a RocksDB database that is not a job store");
    }
    PST_RETURN_IF_ERROR(FromRocks(it->status(), path, "job store: open"));
    if (options.read_only) {
      return Status::NotFound("job store: the database at " + path + " was never initialised");
    }
    rocksdb::WriteOptions wo;
    wo.sync = options.sync_writes;
    PST_RETURN_IF_ERROR(
        FromRocks(db->Put(wo, kFormatKey, kFormatValue), path, "job store: write format"));
  } else if (!s.ok()) {
    return FromRocks(s, path, "job store: open");
  } else if (format != kFormatValue) {
    return Status::FailedPrecondition("job store: " + path + " has format '" + format +
                                      "'; this build reads '" + std::string(kFormatValue) + "'");
  }
  return std::unique_ptr<JobStore>(new JobStore(options, std::move(db)));
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
  return FromRocks(db_->Put(wo, key, value), path(), what);
}

StatusOr<std::string> JobStore::Get(const std::string& key, const std::string& what) {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::string value;
  rocksdb::Status s = db_->Get(ro, key, &value);
  if (s.IsNotFound()) return Status::NotFound(what + ": not in " + path());
  PST_RETURN_IF_ERROR(FromRocks(s, path(), what));
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
  std::lock_guard<std::mutex> lock(record_mu_);
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
  PST_RETURN_IF_ERROR(FromRocks(it->status(), path(), "job store: list checkpoints"));
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
      "job store: drop checkpoint records before " + std::to_string(id));
}

Status JobStore::SaveState(const std::string& json_text, bool sync) {
  PST_RETURN_IF_ERROR(CheckWritable("save state"));
  Encoder e(kStateMagic);
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
                       OpenFramed(*value, kStateMagic, "job store " + path() + ": state"));
  return std::string(body);
}

}  // namespace pst
