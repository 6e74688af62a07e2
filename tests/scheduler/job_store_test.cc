// Tests scheduler/job_store.h: round trips, durability across reopen,
// corruption, locking and the read-only open.
#include "scheduler/job_store.h"

#include <rocksdb/db.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"
#include "tests/testing/raw_rocksdb.h"
#include "tests/testing/require_ok.h"
#include "tests/testing/temp_dir.h"

namespace pst {
namespace {

using testing::RawGet;
using testing::RawPut;
using testing::RequireOk;
using testing::TempDir;
using testing::WithRawDb;
namespace fs = std::filesystem;

JobStoreOptions Options(const std::string& path, bool read_only = false) {
  JobStoreOptions o;
  o.path = path;
  o.sync_writes = false;  // tests need process-crash durability only
  o.read_only = read_only;
  return o;
}

std::unique_ptr<JobStore> Open(const std::string& path, bool read_only = false) {
  auto store = JobStore::Create(Options(path, read_only));
  RequireOk(store.status());
  return std::move(store).value();
}

JobSpec SomeJob() {
  JobSpec job;
  job.model.layer_sizes = {784, 64, 32, 10};
  job.model.activation = Activation::kTanh;
  job.model.seed = 0x123456789abcdefULL;
  job.model.loss = LossKind::kLogistic;
  job.optimizer.kind = OptimizerKind::kAdamW;
  job.optimizer.learning_rate = 0.0123f;
  job.optimizer.clip_norm = 2.5f;
  job.train.epochs = 7;
  job.train.test_limit = 500;
  job.train.consistency = Consistency::kSsp;
  job.train.staleness = 3;
  job.train.target_accuracy = 0.85f;
  job.data_dir = "/data/fashion mnist";
  job.num_servers = 3;
  job.num_workers = 5;
  return job;
}

CheckpointRecord Record(uint64_t id) {
  CheckpointRecord r;
  r.id = id;
  r.clock = id * 100;
  r.generation = static_cast<uint32_t>(id % 7);
  r.num_shards = 2;
  r.unix_ms = 1'790'000'000'000 + static_cast<int64_t>(id);
  r.duration_ms = 12.5 * static_cast<double>(id);
  r.epoch = static_cast<uint32_t>(id / 3);
  r.job_fingerprint = "fp-" + std::to_string(id);
  return r;
}

std::vector<uint64_t> Ids(JobStore& store) {
  auto all = store.ListCompleteCheckpoints();
  RequireOk(all.status());
  std::vector<uint64_t> ids;
  for (const CheckpointRecord& r : *all) ids.push_back(r.id);
  return ids;
}

std::string FlipByte(std::string v, size_t at) {
  v[at] = static_cast<char>(v[at] ^ 0x20);
  return v;
}

TEST_CASE("JobStore: job, records and state round-trip and survive reopen", "[scheduler]") {
  TempDir dir;
  const std::string path = dir.path() + "/state/scheduler";
  const JobSpec job = SomeJob();
  {
    auto store = Open(path);
    REQUIRE(store->LoadJob().status().code() == StatusCode::kNotFound);
    REQUIRE(store->LoadState().status().code() == StatusCode::kNotFound);
    auto none = store->LatestCompleteCheckpoint();
    RequireOk(none.status());
    REQUIRE(!none->has_value());
    REQUIRE(store->GetCompleteCheckpoint(1).status().code() == StatusCode::kNotFound);

    RequireOk(store->SaveJob(job));
    auto loaded = store->LoadJob();
    RequireOk(loaded.status());
    REQUIRE(*loaded == job);

    for (uint64_t id : {3, 7, 20, 300}) RequireOk(store->RecordCompleteCheckpoint(Record(id)));
    RequireOk(store->SaveState(R"({"generation": 4, "members": []})", true));
    RequireOk(store->SaveState(R"({"generation": 5, "members": ["ps-0"]})", false));
  }
  auto store = Open(path);
  auto loaded = store->LoadJob();
  RequireOk(loaded.status());
  REQUIRE(*loaded == job);
  auto all = store->ListCompleteCheckpoints();
  RequireOk(all.status());
  REQUIRE(*all == std::vector<CheckpointRecord>{Record(3), Record(7), Record(20), Record(300)});
  auto latest = store->LatestCompleteCheckpoint();
  RequireOk(latest.status());
  REQUIRE(latest->has_value());
  REQUIRE(**latest == Record(300));
  auto seven = store->GetCompleteCheckpoint(7);
  RequireOk(seven.status());
  REQUIRE(*seven == Record(7));
  auto state = store->LoadState();
  RequireOk(state.status());
  REQUIRE(*state == R"({"generation": 5, "members": ["ps-0"]})");

  // An empty state blob is a value like any other.
  RequireOk(store->SaveState("", false));
  REQUIRE(store->LoadState().value().empty());
  // A job can be replaced (e.g. a resumed run with a new epoch count).
  JobSpec other = job;
  other.train.epochs = 9;
  RequireOk(store->SaveJob(other));
  REQUIRE(store->LoadJob().value() == other);
}

TEST_CASE("JobStore: checkpoint records are idempotent, increasing and prunable", "[scheduler]") {
  TempDir dir;
  auto store = Open(dir.path());
  RequireOk(store->RecordCompleteCheckpoint(Record(5)));
  RequireOk(store->RecordCompleteCheckpoint(Record(5)));  // a retry: same record
  CheckpointRecord changed = Record(5);
  changed.clock += 1;
  REQUIRE(store->RecordCompleteCheckpoint(changed).code() == StatusCode::kAlreadyExists);
  REQUIRE(store->RecordCompleteCheckpoint(Record(4)).code() == StatusCode::kFailedPrecondition);
  CheckpointRecord no_shards = Record(6);
  no_shards.num_shards = 0;
  REQUIRE(store->RecordCompleteCheckpoint(no_shards).code() == StatusCode::kInvalidArgument);
  REQUIRE(Ids(*store) == std::vector<uint64_t>{5});

  for (uint64_t id : {6, 9, 12, 13}) RequireOk(store->RecordCompleteCheckpoint(Record(id)));
  RequireOk(store->DropCheckpointRecordsBefore(9));
  REQUIRE(Ids(*store) == std::vector<uint64_t>{9, 12, 13});
  RequireOk(store->DropCheckpointRecordsBefore(0));
  RequireOk(store->DropCheckpointRecordsBefore(10));
  REQUIRE(Ids(*store) == std::vector<uint64_t>{12, 13});
  REQUIRE(store->GetCompleteCheckpoint(9).status().code() == StatusCode::kNotFound);
  // Dropping does not let ids go backwards.
  REQUIRE(store->RecordCompleteCheckpoint(Record(11)).code() == StatusCode::kFailedPrecondition);
  RequireOk(store->DropCheckpointRecordsBefore(1000));
  REQUIRE(Ids(*store).empty());
  RequireOk(store->RecordCompleteCheckpoint(Record(14)));
}

TEST_CASE("JobStore: an invalid job is refused", "[scheduler]") {
  TempDir dir;
  auto store = Open(dir.path());
  JobSpec bad = SomeJob();
  bad.model.layer_sizes = {784};
  REQUIRE(store->SaveJob(bad).code() == StatusCode::kInvalidArgument);
  REQUIRE(store->LoadJob().status().code() == StatusCode::kNotFound);
}

TEST_CASE("JobStore: corrupt values read as kDataLoss", "[scheduler]") {
  TempDir dir;
  {
    auto store = Open(dir.path());
    RequireOk(store->SaveJob(SomeJob()));
    RequireOk(store->RecordCompleteCheckpoint(Record(1)));
    RequireOk(store->RecordCompleteCheckpoint(Record(2)));
    RequireOk(store->SaveState(R"({"generation": 1})", true));
  }
  using Edit = std::function<void(rocksdb::DB*)>;
  const std::vector<std::pair<const char*, Edit>> cases = {
      {"job: flipped byte",
       [](rocksdb::DB* db) {
         RawPut(db, JobStore::JobKey(), FlipByte(RawGet(db, JobStore::JobKey()), 20));
       }},
      {"job: truncated",
       [](rocksdb::DB* db) {
         RawPut(db, JobStore::JobKey(), RawGet(db, JobStore::JobKey()).substr(0, 9));
       }},
      {"record: flipped byte",
       [](rocksdb::DB* db) {
         const std::string key = JobStore::CheckpointKey(2);
         RawPut(db, key, FlipByte(RawGet(db, key), 10));
       }},
      {"record: another id's record under this key (valid CRC)",
       [](rocksdb::DB* db) {
         RawPut(db, JobStore::CheckpointKey(2), RawGet(db, JobStore::CheckpointKey(1)));
       }},
      {"record: the state blob under a record key",
       [](rocksdb::DB* db) {
         RawPut(db, JobStore::CheckpointKey(2), RawGet(db, JobStore::StateKey()));
       }},
      {"state: flipped byte",
       [](rocksdb::DB* db) {
         RawPut(db, JobStore::StateKey(), FlipByte(RawGet(db, JobStore::StateKey()), 12));
       }},
  };
  for (const auto& [what, edit] : cases) {
    INFO(what);
    TempDir copy;
    fs::copy(dir.path(), copy.path(),
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    WithRawDb(copy.path(), edit);
    auto store = Open(copy.path());
    const std::string name = what;
    if (name.starts_with("job")) {
      auto got = store->LoadJob();
      INFO(got.status().ToString());
      REQUIRE(got.status().code() == StatusCode::kDataLoss);
      REQUIRE(got.status().message().find(copy.path()) != std::string::npos);
    } else if (name.starts_with("record")) {
      REQUIRE(store->ListCompleteCheckpoints().status().code() == StatusCode::kDataLoss);
      REQUIRE(store->LatestCompleteCheckpoint().status().code() == StatusCode::kDataLoss);
      REQUIRE(store->GetCompleteCheckpoint(2).status().code() == StatusCode::kDataLoss);
      RequireOk(store->GetCompleteCheckpoint(1).status());
    } else {
      auto got = store->LoadState();
      INFO(got.status().ToString());
      REQUIRE(got.status().code() == StatusCode::kDataLoss);
    }
  }
}

TEST_CASE("JobStore: foreign databases and other formats are refused", "[scheduler]") {
  TempDir dir;
  const std::string foreign = dir.path() + "/foreign";
  WithRawDb(foreign, [](rocksdb::DB* db) { RawPut(db, "some/key", "v"); });
  auto a = JobStore::Create(Options(foreign));
  REQUIRE(a.status().code() == StatusCode::kFailedPrecondition);
  REQUIRE(a.status().message().find("not a job store") != std::string::npos);

  const std::string future = dir.path() + "/future";
  { auto store = Open(future); }
  WithRawDb(future, [](rocksdb::DB* db) { RawPut(db, "meta/format", "pstrain-job-store/2"); });
  auto b = JobStore::Create(Options(future));
  REQUIRE(b.status().code() == StatusCode::kFailedPrecondition);
  REQUIRE(b.status().message().find("pstrain-job-store/2") != std::string::npos);
  REQUIRE(JobStore::Create(Options(future, true)).status().code() ==
          StatusCode::kFailedPrecondition);

  JobStoreOptions missing = Options(dir.path() + "/missing");
  missing.create_if_missing = false;
  REQUIRE(JobStore::Create(missing).status().code() == StatusCode::kNotFound);
  REQUIRE(!fs::exists(missing.path));
  REQUIRE(JobStore::Create(Options("")).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("JobStore: a second open is kUnavailable naming the directory", "[scheduler]") {
  TempDir dir;
  auto first = Open(dir.path());
  auto second = JobStore::Create(Options(dir.path()));
  REQUIRE(second.status().code() == StatusCode::kUnavailable);
  INFO(second.status().message());
  REQUIRE(second.status().message().find("job store at " + dir.path() + " is locked") == 0);
  REQUIRE(second.status().message().find("another scheduler may be running") != std::string::npos);
  first.reset();
  RequireOk(JobStore::Create(Options(dir.path())).status());
}

TEST_CASE("JobStore: a read-only open works while a writer holds the database", "[scheduler]") {
  TempDir dir;
  REQUIRE(JobStore::Create(Options(dir.path() + "/none", true)).status().code() ==
          StatusCode::kNotFound);
  REQUIRE(!fs::exists(dir.path() + "/none"));

  auto writer = Open(dir.path());
  RequireOk(writer->SaveJob(SomeJob()));
  RequireOk(writer->RecordCompleteCheckpoint(Record(1)));
  RequireOk(writer->RecordCompleteCheckpoint(Record(2)));
  RequireOk(writer->SaveState("{}", true));

  auto reader = Open(dir.path(), true);
  REQUIRE(reader->read_only());
  REQUIRE(reader->LoadJob().value() == SomeJob());
  REQUIRE(Ids(*reader) == std::vector<uint64_t>{1, 2});
  REQUIRE(reader->LoadState().value() == "{}");
  REQUIRE(reader->SaveJob(SomeJob()).code() == StatusCode::kFailedPrecondition);
  REQUIRE(reader->RecordCompleteCheckpoint(Record(3)).code() == StatusCode::kFailedPrecondition);
  REQUIRE(reader->DropCheckpointRecordsBefore(2).code() == StatusCode::kFailedPrecondition);
  REQUIRE(reader->SaveState("{}", false).code() == StatusCode::kFailedPrecondition);

  // The reader sees the database as of its open; a new open sees later writes.
  RequireOk(writer->RecordCompleteCheckpoint(Record(3)));
  REQUIRE(Ids(*reader) == std::vector<uint64_t>{1, 2});
  REQUIRE(Ids(*Open(dir.path(), true)) == std::vector<uint64_t>{1, 2, 3});
  // The writer still works while readers are open.
  RequireOk(writer->RecordCompleteCheckpoint(Record(4)));
}

}  // namespace
}  // namespace pst
