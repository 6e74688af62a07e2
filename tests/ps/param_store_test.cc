// Tests ps/param_store.h through both implementations (MemoryParamStore and
// RocksDbParamStore run the same TEMPLATE_TEST_CASEs), plus RocksDB-only cases:
// durability across reopen, a crash between the two phases, corruption, locks.
#include "ps/param_store.h"

#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/key_range.h"
#include "common/status.h"
#include "ps/memory_param_store.h"
#include "ps/rocksdb_param_store.h"
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

// The two environments the shared cases run in. Reopen() simulates a process
// restart: RocksEnv destroys the store object (no commit, no cleanup) and opens
// the same directory again; MemoryEnv keeps its object (it is not durable).
struct MemoryEnv {
  static constexpr bool kDurable = false;
  MemoryEnv() : mem(std::make_unique<MemoryParamStore>()) {}
  ParamStore& store() { return *mem; }
  void Reopen() {}
  Status WriteUnchecked(const CheckpointManifest& m, const std::vector<BlockState>& blocks) {
    return mem->TEST_WriteCheckpointUnchecked(m, blocks);
  }
  std::unique_ptr<MemoryParamStore> mem;
};

RocksDbParamStoreOptions DbOptions(const std::string& path) {
  RocksDbParamStoreOptions o;
  o.path = path;
  return o;
}

struct RocksEnv {
  static constexpr bool kDurable = true;
  explicit RocksEnv(uint64_t ingest_min_bytes = RocksDbParamStoreOptions().ingest_min_bytes)
      : path(dir.path() + "/shard0"), ingest_min_bytes(ingest_min_bytes) {
    Reopen();
  }
  ParamStore& store() { return *db; }
  void Reopen() {
    db.reset();
    RocksDbParamStoreOptions options = DbOptions(path);
    options.ingest_min_bytes = ingest_min_bytes;
    auto opened = RocksDbParamStore::Open(options);
    INFO(opened.status().ToString());
    REQUIRE(opened.ok());
    db = std::move(opened).value();
  }
  void Close() { db.reset(); }
  Status WriteUnchecked(const CheckpointManifest& m, const std::vector<BlockState>& blocks) {
    return db->TEST_WriteCheckpointUnchecked(m, blocks);
  }
  TempDir dir;
  std::string path;
  uint64_t ingest_min_bytes;
  std::unique_ptr<RocksDbParamStore> db;
};

// Every checkpoint, however small, is written as an ingested SST file.
struct RocksIngestEnv : RocksEnv {
  RocksIngestEnv() : RocksEnv(/*ingest_min_bytes=*/0) {}
};

// A float from an arbitrary 32-bit pattern (NaN payloads, -0, denormals and
// infinities included), so the round trip is checked bit for bit.
float FloatFromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint32_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return static_cast<uint32_t>(x ^ (x >> 31));
}

std::vector<float> Floats(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = FloatFromBits(Mix(seed * 1000003 + i));
  return v;
}

struct Checkpoint {
  CheckpointManifest manifest;
  std::vector<BlockState> blocks;
};

// Checkpoint `id` of shard `range`, split into blocks of `block_keys` keys (the
// last shorter), with the given optimizer slots and contents derived from id.
Checkpoint MakeCheckpoint(uint64_t id, KeyRange range = {100, 600}, uint64_t block_keys = 256,
                          std::vector<std::string> slot_names = {"m", "v"}) {
  Checkpoint c;
  c.manifest.checkpoint_id = id;
  c.manifest.clock = id * 10;
  c.manifest.job_fingerprint = "job-7f3a/model-mlp-16-32-4";
  c.manifest.range = range;
  c.manifest.slot_names = std::move(slot_names);
  for (const KeyRange& keys : SplitIntoChunks(range, block_keys)) {
    if (keys.empty()) continue;
    BlockState b;
    b.keys = keys;
    b.version = id * 10 + keys.begin;
    b.optimizer_steps = id * 7 + 1;
    b.values = Floats(keys.size(), id * 31 + keys.begin);
    for (size_t s = 0; s < c.manifest.slot_names.size(); ++s)
      b.slots.push_back(Floats(keys.size(), id * 31 + keys.begin + 7 * (s + 1)));
    c.blocks.push_back(std::move(b));
  }
  c.manifest.num_blocks = c.blocks.size();
  return c;
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void RequireSame(const std::pair<CheckpointManifest, std::vector<BlockState>>& got,
                 const Checkpoint& want) {
  REQUIRE(got.first == want.manifest);
  REQUIRE(got.second.size() == want.blocks.size());
  for (size_t i = 0; i < want.blocks.size(); ++i) {
    const BlockState& g = got.second[i];
    const BlockState& w = want.blocks[i];
    REQUIRE(g.keys == w.keys);
    REQUIRE(g.version == w.version);
    REQUIRE(g.optimizer_steps == w.optimizer_steps);
    REQUIRE(BitEqual(g.values, w.values));
    REQUIRE(g.slots.size() == w.slots.size());
    for (size_t s = 0; s < w.slots.size(); ++s) REQUIRE(BitEqual(g.slots[s], w.slots[s]));
  }
}

Status WriteAndCommit(ParamStore& store, const Checkpoint& c) {
  PST_RETURN_IF_ERROR(store.WriteCheckpoint(c.manifest, c.blocks));
  return store.CommitCheckpoint(c.manifest.checkpoint_id);
}

std::vector<uint64_t> Committed(ParamStore& store) {
  auto ids = store.ListCommitted();
  RequireOk(ids.status());
  return *ids;
}

std::vector<uint64_t> Uncommitted(ParamStore& store) {
  auto ids = store.ListUncommitted();
  RequireOk(ids.status());
  return *ids;
}

using Ids = std::vector<uint64_t>;

// ---------------------------------------------------------------------------
// Shared cases: both implementations.

TEMPLATE_TEST_CASE("ParamStore: a committed checkpoint reads back bit-exact", "[ps]", MemoryEnv,
                   RocksEnv, RocksIngestEnv) {
  TestType env;
  const Checkpoint c = MakeCheckpoint(3);
  REQUIRE(c.blocks.size() == 2);  // [100, 356) and the shorter [356, 600)
  RequireOk(WriteAndCommit(env.store(), c));
  auto got = env.store().ReadCheckpoint(3);
  RequireOk(got.status());
  RequireSame(*got, c);
}

TEMPLATE_TEST_CASE("ParamStore: checkpoints without slots or keys round-trip", "[ps]", MemoryEnv,
                   RocksEnv, RocksIngestEnv) {
  TestType env;
  const Checkpoint sgd = MakeCheckpoint(1, {0, 10}, 4, {});        // SGD: no optimizer slots
  const Checkpoint empty = MakeCheckpoint(2, {50, 50}, 4, {"m"});  // shard with no keys
  REQUIRE(empty.blocks.empty());
  RequireOk(WriteAndCommit(env.store(), sgd));
  RequireOk(WriteAndCommit(env.store(), empty));
  auto a = env.store().ReadCheckpoint(1);
  RequireOk(a.status());
  RequireSame(*a, sgd);
  auto b = env.store().ReadCheckpoint(2);
  RequireOk(b.status());
  RequireSame(*b, empty);
}

TEMPLATE_TEST_CASE("ParamStore: an uncommitted checkpoint is invisible until committed", "[ps]",
                   MemoryEnv, RocksEnv, RocksIngestEnv) {
  TestType env;
  ParamStore& store = env.store();
  const Checkpoint c = MakeCheckpoint(5);
  RequireOk(store.WriteCheckpoint(c.manifest, c.blocks));
  REQUIRE(Committed(store).empty());
  REQUIRE(Uncommitted(store) == Ids{5});
  REQUIRE(store.ReadCheckpoint(5).status().code() == StatusCode::kNotFound);

  RequireOk(store.CommitCheckpoint(5));
  REQUIRE(Committed(store) == Ids{5});
  REQUIRE(Uncommitted(store).empty());
  auto got = store.ReadCheckpoint(5);
  RequireOk(got.status());
  RequireSame(*got, c);

  // Commit is idempotent (a retried phase 2, or a restore of a checkpoint the
  // scheduler declared complete).
  RequireOk(store.CommitCheckpoint(5));
  REQUIRE(Committed(store) == Ids{5});
}

TEMPLATE_TEST_CASE("ParamStore: commit of an unknown id is kNotFound", "[ps]", MemoryEnv,
                   RocksEnv, RocksIngestEnv) {
  TestType env;
  REQUIRE(env.store().CommitCheckpoint(42).code() == StatusCode::kNotFound);
  REQUIRE(Committed(env.store()).empty());
  REQUIRE(env.store().ReadCheckpoint(42).status().code() == StatusCode::kNotFound);
}

TEMPLATE_TEST_CASE("ParamStore: writing an existing id is kAlreadyExists", "[ps]", MemoryEnv,
                   RocksEnv, RocksIngestEnv) {
  TestType env;
  ParamStore& store = env.store();
  const Checkpoint c = MakeCheckpoint(1);
  RequireOk(store.WriteCheckpoint(c.manifest, c.blocks));
  // Different contents under the same id must not replace the first write.
  const Checkpoint other = [] {
    Checkpoint o = MakeCheckpoint(2);
    o.manifest.checkpoint_id = 1;
    return o;
  }();
  REQUIRE(store.WriteCheckpoint(other.manifest, other.blocks).code() == StatusCode::kAlreadyExists);
  RequireOk(store.CommitCheckpoint(1));
  REQUIRE(store.WriteCheckpoint(c.manifest, c.blocks).code() == StatusCode::kAlreadyExists);
  auto got = store.ReadCheckpoint(1);
  RequireOk(got.status());
  RequireSame(*got, c);
}

TEMPLATE_TEST_CASE("ParamStore: a malformed checkpoint is refused and nothing is stored", "[ps]",
                   MemoryEnv, RocksEnv, RocksIngestEnv) {
  TestType env;
  ParamStore& store = env.store();
  using Edit = std::function<void(Checkpoint&)>;
  const std::vector<std::pair<const char*, Edit>> edits = {
      {"num_blocks mismatch", [](Checkpoint& c) { c.manifest.num_blocks = 3; }},
      {"missing block",
       [](Checkpoint& c) {
         c.blocks.pop_back();
         c.manifest.num_blocks = 1;
       }},
      {"gap between blocks", [](Checkpoint& c) { c.blocks[1].keys.begin += 1; }},
      {"blocks out of order", [](Checkpoint& c) { std::swap(c.blocks[0], c.blocks[1]); }},
      {"block past the range", [](Checkpoint& c) { c.manifest.range.end -= 1; }},
      {"short values", [](Checkpoint& c) { c.blocks[0].values.pop_back(); }},
      {"missing slot", [](Checkpoint& c) { c.blocks[1].slots.pop_back(); }},
      {"short slot", [](Checkpoint& c) { c.blocks[1].slots[1].resize(3); }},
      {"duplicate slot names",
       [](Checkpoint& c) {
         c.manifest.slot_names = {"m", "m"};
       }},
      {"empty slot name", [](Checkpoint& c) { c.manifest.slot_names[0].clear(); }},
      {"inverted range",
       [](Checkpoint& c) {
         c.manifest.range = {600, 100};
       }},
  };
  for (const auto& [what, edit] : edits) {
    INFO(what);
    Checkpoint c = MakeCheckpoint(9);
    edit(c);
    REQUIRE(store.WriteCheckpoint(c.manifest, c.blocks).code() == StatusCode::kInvalidArgument);
  }
  REQUIRE(Committed(store).empty());
  REQUIRE(Uncommitted(store).empty());
  // The id is still free.
  const Checkpoint good = MakeCheckpoint(9);
  RequireOk(WriteAndCommit(store, good));
}

TEMPLATE_TEST_CASE("ParamStore: an inconsistent stored checkpoint reads as kDataLoss", "[ps]",
                   MemoryEnv, RocksEnv, RocksIngestEnv) {
  TestType env;
  using Edit = std::function<void(Checkpoint&)>;
  const std::vector<std::pair<const char*, Edit>> edits = {
      {"manifest num_blocks too large", [](Checkpoint& c) { c.manifest.num_blocks = 3; }},
      {"manifest num_blocks too small", [](Checkpoint& c) { c.manifest.num_blocks = 1; }},
      {"missing last block", [](Checkpoint& c) { c.blocks.pop_back(); }},
      {"manifest range mismatch", [](Checkpoint& c) { c.manifest.range.end += 5; }},
      {"wrong value count", [](Checkpoint& c) { c.blocks[0].values.push_back(1.0f); }},
      {"slot count vs names", [](Checkpoint& c) { c.manifest.slot_names.push_back("extra"); }},
  };
  uint64_t id = 1;
  for (const auto& [what, edit] : edits) {
    INFO(what);
    Checkpoint c = MakeCheckpoint(id);
    edit(c);
    RequireOk(env.WriteUnchecked(c.manifest, c.blocks));
    RequireOk(env.store().CommitCheckpoint(id));
    auto got = env.store().ReadCheckpoint(id);
    INFO(got.status().ToString());
    REQUIRE(got.status().code() == StatusCode::kDataLoss);
    ++id;
  }
}

TEMPLATE_TEST_CASE("ParamStore: delete drops a checkpoint and is idempotent", "[ps]", MemoryEnv,
                   RocksEnv, RocksIngestEnv) {
  TestType env;
  ParamStore& store = env.store();
  const Checkpoint c1 = MakeCheckpoint(1);
  const Checkpoint c2 = MakeCheckpoint(2);
  const Checkpoint c3 = MakeCheckpoint(3);
  RequireOk(WriteAndCommit(store, c1));
  RequireOk(WriteAndCommit(store, c2));
  RequireOk(store.WriteCheckpoint(c3.manifest, c3.blocks));

  RequireOk(store.DeleteCheckpoint(3));   // an aborted round
  RequireOk(store.DeleteCheckpoint(2));   // a committed one
  RequireOk(store.DeleteCheckpoint(77));  // never existed
  REQUIRE(Committed(store) == Ids{1});
  REQUIRE(Uncommitted(store).empty());
  REQUIRE(store.ReadCheckpoint(2).status().code() == StatusCode::kNotFound);
  REQUIRE(store.CommitCheckpoint(3).code() == StatusCode::kNotFound);

  // A deleted id can be written again, and nothing of the old data leaks in.
  Checkpoint again = MakeCheckpoint(4, {100, 600}, 100);  // five blocks instead of two
  again.manifest.checkpoint_id = 2;
  RequireOk(WriteAndCommit(store, again));
  auto got = store.ReadCheckpoint(2);
  RequireOk(got.status());
  RequireSame(*got, again);
  auto first = store.ReadCheckpoint(1);
  RequireOk(first.status());
  RequireSame(*first, c1);
}

TEMPLATE_TEST_CASE("ParamStore: Prune keeps the newest committed and in-flight checkpoints", "[ps]",
                   MemoryEnv, RocksEnv, RocksIngestEnv) {
  TestType env;
  ParamStore& store = env.store();
  REQUIRE(store.Prune(0).code() == StatusCode::kInvalidArgument);
  RequireOk(store.Prune(2));  // nothing to prune

  // Committed 1, 2, 4, 6; uncommitted 3 and 5 (aborted rounds) and 7 (in flight).
  for (uint64_t id : {1, 2, 3, 4, 5, 6, 7}) {
    const Checkpoint c = MakeCheckpoint(id, {0, 64}, 32);
    RequireOk(store.WriteCheckpoint(c.manifest, c.blocks));
  }
  for (uint64_t id : {1, 2, 4, 6}) RequireOk(store.CommitCheckpoint(id));
  RequireOk(store.Prune(2));
  REQUIRE(Committed(store) == Ids{4, 6});
  REQUIRE(Uncommitted(store) == Ids{7});
  RequireOk(store.ReadCheckpoint(4).status());
  REQUIRE(store.ReadCheckpoint(2).status().code() == StatusCode::kNotFound);

  RequireOk(store.CommitCheckpoint(7));
  RequireOk(store.Prune(1));
  REQUIRE(Committed(store) == Ids{7});
  auto got = store.ReadCheckpoint(7);
  RequireOk(got.status());
  RequireSame(*got, MakeCheckpoint(7, {0, 64}, 32));

  // Without any committed checkpoint, uncommitted ones are left alone.
  TestType fresh;
  const Checkpoint c = MakeCheckpoint(1);
  RequireOk(fresh.store().WriteCheckpoint(c.manifest, c.blocks));
  RequireOk(fresh.store().Prune(1));
  REQUIRE(Uncommitted(fresh.store()) == Ids{1});
}

TEMPLATE_TEST_CASE("ParamStore: a restart between the phases leaves the checkpoint uncommitted",
                   "[ps]", MemoryEnv, RocksEnv, RocksIngestEnv) {
  TestType env;
  const Checkpoint c1 = MakeCheckpoint(1);
  const Checkpoint c2 = MakeCheckpoint(2);
  RequireOk(WriteAndCommit(env.store(), c1));
  RequireOk(env.store().WriteCheckpoint(c2.manifest, c2.blocks));
  env.Reopen();  // RocksDB: the store object is destroyed without committing

  REQUIRE(Committed(env.store()) == Ids{1});
  REQUIRE(Uncommitted(env.store()) == Ids{2});
  REQUIRE(env.store().ReadCheckpoint(2).status().code() == StatusCode::kNotFound);
  auto prev = env.store().ReadCheckpoint(1);
  RequireOk(prev.status());
  RequireSame(*prev, c1);

  // Recovery when the scheduler had declared checkpoint 2 complete: commit it
  // after the restart, then restore it.
  RequireOk(env.store().CommitCheckpoint(2));
  env.Reopen();
  auto got = env.store().ReadCheckpoint(2);
  RequireOk(got.status());
  RequireSame(*got, c2);
}

TEMPLATE_TEST_CASE("ParamStore: a block of 4M floats round-trips", "[ps]", MemoryEnv, RocksEnv, RocksIngestEnv) {
  TestType env;
  constexpr uint64_t kKeys = uint64_t{4} << 20;
  const Checkpoint c = MakeCheckpoint(1, {1000, 1000 + kKeys}, kKeys, {"h"});
  REQUIRE(c.blocks.size() == 1);
  RequireOk(WriteAndCommit(env.store(), c));
  env.Reopen();
  auto got = env.store().ReadCheckpoint(1);
  RequireOk(got.status());
  RequireSame(*got, c);
}

TEMPLATE_TEST_CASE("ParamStore: ReadWrittenCheckpoint reads a written, uncommitted checkpoint",
                   "[ps]", MemoryEnv, RocksEnv, RocksIngestEnv) {
  TestType env;
  ParamStore& store = env.store();
  const Checkpoint c1 = MakeCheckpoint(1);
  const Checkpoint c2 = MakeCheckpoint(2, {0, 300}, 64, {"m"});
  RequireOk(WriteAndCommit(store, c1));
  RequireOk(store.WriteCheckpoint(c2.manifest, c2.blocks));
  REQUIRE(store.ReadCheckpoint(2).status().code() == StatusCode::kNotFound);
  auto uncommitted = store.ReadWrittenCheckpoint(2);
  RequireOk(uncommitted.status());
  RequireSame(*uncommitted, c2);
  auto committed = store.ReadWrittenCheckpoint(1);  // committed ones read too
  RequireOk(committed.status());
  RequireSame(*committed, c1);
  REQUIRE(Uncommitted(store) == Ids{2});  // reading commits nothing

  REQUIRE(store.ReadWrittenCheckpoint(3).status().code() == StatusCode::kNotFound);
  RequireOk(store.DeleteCheckpoint(2));
  REQUIRE(store.ReadWrittenCheckpoint(2).status().code() == StatusCode::kNotFound);

  // Inconsistent data is kDataLoss here too.
  Checkpoint bad = MakeCheckpoint(4);
  bad.blocks.pop_back();
  RequireOk(env.WriteUnchecked(bad.manifest, bad.blocks));
  REQUIRE(store.ReadWrittenCheckpoint(4).status().code() == StatusCode::kDataLoss);
}

// ---------------------------------------------------------------------------
// RocksDB only.

TEST_CASE("RocksDbParamStore: committed checkpoints survive reopen", "[ps]") {
  RocksEnv env;
  const Checkpoint c1 = MakeCheckpoint(1);
  const Checkpoint c2 = MakeCheckpoint(2, {0, 1000}, 300, {"m"});
  const Checkpoint c3 = MakeCheckpoint(3);
  RequireOk(WriteAndCommit(env.store(), c1));
  RequireOk(WriteAndCommit(env.store(), c2));
  RequireOk(env.store().WriteCheckpoint(c3.manifest, c3.blocks));
  env.Reopen();
  REQUIRE(Committed(env.store()) == Ids{1, 2});
  REQUIRE(Uncommitted(env.store()) == Ids{3});
  auto a = env.store().ReadCheckpoint(1);
  RequireOk(a.status());
  RequireSame(*a, c1);
  auto b = env.store().ReadCheckpoint(2);
  RequireOk(b.status());
  RequireSame(*b, c2);

  // Deletes and prunes are durable too.
  RequireOk(env.store().Prune(1));
  env.Reopen();
  REQUIRE(Committed(env.store()) == Ids{2});
  REQUIRE(Uncommitted(env.store()) == Ids{3});
  RequireOk(env.store().DeleteCheckpoint(3));
  env.Reopen();
  REQUIRE(Uncommitted(env.store()).empty());
}

TEST_CASE("RocksDbParamStore: ingested checkpoints survive reopen and leave no file behind",
          "[ps]") {
  RocksIngestEnv env;
  const Checkpoint c1 = MakeCheckpoint(1, {0, 5000}, 700, {"m", "v"});
  const Checkpoint c2 = MakeCheckpoint(2, {0, 5000}, 700, {"m", "v"});
  RequireOk(WriteAndCommit(env.store(), c1));
  RequireOk(env.store().WriteCheckpoint(c2.manifest, c2.blocks));
  env.Reopen();
  REQUIRE(Committed(env.store()) == Ids{1});
  REQUIRE(Uncommitted(env.store()) == Ids{2});
  auto a = env.store().ReadCheckpoint(1);
  RequireOk(a.status());
  RequireSame(*a, c1);
  auto b = env.store().ReadWrittenCheckpoint(2);
  RequireOk(b.status());
  RequireSame(*b, c2);
  for (const auto& entry : std::filesystem::directory_iterator(env.path)) {
    INFO(entry.path());
    CHECK(entry.path().filename().string().rfind("ingest-", 0) != 0);
  }
}

TEST_CASE("RocksDbParamStore: corrupt stored values read as kDataLoss", "[ps]") {
  RocksEnv env;
  const Checkpoint good = MakeCheckpoint(1);
  RequireOk(WriteAndCommit(env.store(), good));
  for (uint64_t id : {2, 3, 4, 5, 6, 7, 8})
    RequireOk(WriteAndCommit(env.store(), MakeCheckpoint(id)));
  env.Close();

  WithRawDb(env.path, [](rocksdb::DB* db) {
    // 2: flipped bits in the middle of a block's floats.
    std::string v = RawGet(db, RocksDbParamStore::BlockKey(2, 356));
    v[v.size() / 2] = static_cast<char>(v[v.size() / 2] ^ 0x5a);
    RawPut(db, RocksDbParamStore::BlockKey(2, 356), v);
    // 3: a truncated block.
    v = RawGet(db, RocksDbParamStore::BlockKey(3, 100));
    RawPut(db, RocksDbParamStore::BlockKey(3, 100), v.substr(0, 10));
    // 4: a missing block.
    REQUIRE(db->Delete(rocksdb::WriteOptions(), RocksDbParamStore::BlockKey(4, 356)).ok());
    // 5: a flipped byte in the manifest.
    v = RawGet(db, RocksDbParamStore::ManifestKey(5));
    v[12] = static_cast<char>(v[12] ^ 1);
    RawPut(db, RocksDbParamStore::ManifestKey(5), v);
    // 6: a block of checkpoint 1 copied under checkpoint 6's key (valid CRC).
    RawPut(db, RocksDbParamStore::BlockKey(6, 100),
           RawGet(db, RocksDbParamStore::BlockKey(1, 100)));
    // 7: an extra block beyond the manifest's.
    RawPut(db, RocksDbParamStore::BlockKey(7, 600),
           RawGet(db, RocksDbParamStore::BlockKey(7, 356)));
    // 8: a garbled commit marker.
    RawPut(db, RocksDbParamStore::CommittedKey(8), "garbage");
  });

  env.Reopen();
  for (uint64_t id : {2, 3, 4, 5, 6, 7, 8}) {
    auto got = env.store().ReadCheckpoint(id);
    INFO("checkpoint " << id << ": " << got.status().ToString());
    REQUIRE(got.status().code() == StatusCode::kDataLoss);
    REQUIRE(got.status().message().find(env.path) != std::string::npos);
  }
  auto ok = env.store().ReadCheckpoint(1);  // untouched data still reads
  RequireOk(ok.status());
  RequireSame(*ok, good);
}

TEST_CASE("RocksDbParamStore: a checkpoint read by several threads is the one written", "[ps]") {
  TempDir dir;
  const std::string path = dir.path() + "/shard0";
  // 40 blocks of 25 keys (the last shorter): read in parts by 1 to 3 threads.
  const Checkpoint c = MakeCheckpoint(1, {100, 1090}, 25);
  REQUIRE(c.blocks.size() == 40);
  const Checkpoint bad = MakeCheckpoint(2, {100, 1090}, 25);
  const Checkpoint extra = MakeCheckpoint(3, {100, 1090}, 25);
  {
    auto db = RocksDbParamStore::Open(DbOptions(path));
    RequireOk(db.status());
    for (const Checkpoint* k : {&c, &bad, &extra}) RequireOk(WriteAndCommit(**db, *k));
  }
  WithRawDb(path, [](rocksdb::DB* db) {
    // 2: flipped bits in a block of the second half; 3: an extra block there.
    std::string v = RawGet(db, RocksDbParamStore::BlockKey(2, 1000));
    v[v.size() / 2] = static_cast<char>(v[v.size() / 2] ^ 0x5a);
    RawPut(db, RocksDbParamStore::BlockKey(2, 1000), v);
    RawPut(db, RocksDbParamStore::BlockKey(3, 1010), RawGet(db, RocksDbParamStore::BlockKey(3, 1000)));
  });
  for (size_t threads : {1, 2, 3}) {
    INFO(threads << " threads");
    RocksDbParamStoreOptions o = DbOptions(path);
    o.read_threads = threads;
    auto db = RocksDbParamStore::Open(o);
    RequireOk(db.status());
    auto got = (*db)->ReadCheckpoint(1);
    RequireOk(got.status());
    RequireSame(*got, c);
    CHECK((*db)->ReadCheckpoint(2).status().code() == StatusCode::kDataLoss);
    CHECK((*db)->ReadCheckpoint(3).status().code() == StatusCode::kDataLoss);
  }
}

TEST_CASE("RocksDbParamStore: a second open of an open database is kUnavailable", "[ps]") {
  RocksEnv env;
  auto second = RocksDbParamStore::Open(DbOptions(env.path));
  REQUIRE(second.status().code() == StatusCode::kUnavailable);
  INFO(second.status().message());
  REQUIRE(second.status().message().find("database at " + env.path +
                                         " is in use by another process (lock held)") == 0);

  // The first store still works, and the lock goes away with it.
  RequireOk(WriteAndCommit(env.store(), MakeCheckpoint(1)));
  env.Close();
  auto third = RocksDbParamStore::Open(DbOptions(env.path));
  RequireOk(third.status());
  REQUIRE((*third)->ListCommitted().value() == Ids{1});
}

// Helper for the next case, run as a child process (hidden: "[.]"). It opens the
// store at $PST_LOCK_HOLDER_PATH, writes one byte to fd 3 when it holds the
// lock, and keeps the store open until its stdin reaches EOF.
TEST_CASE("RocksDbParamStore: lock holder (child process helper)", "[.][lock_holder]") {
  const char* path = getenv("PST_LOCK_HOLDER_PATH");
  if (path == nullptr) return;
  auto store = RocksDbParamStore::Open(DbOptions(path));
  REQUIRE(store.ok());
  REQUIRE(write(3, "L", 1) == 1);
  char buf[16];
  while (read(0, buf, sizeof buf) > 0) {
  }
}

TEST_CASE("RocksDbParamStore: a database held by another process is kUnavailable", "[ps]") {
  TempDir dir;
  const std::string path = dir.path() + "/shard0";
  const std::string env_var = "PST_LOCK_HOLDER_PATH=" + path;
  int ready[2], release[2];
  // O_CLOEXEC: the child keeps only the ends dup2'ed onto fds 0 and 3.
  REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
  REQUIRE(pipe2(release, O_CLOEXEC) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // child: only async-signal-safe calls until exec
    dup2(release[0], 0);
    dup2(ready[1], 3);
    char self[] = "/proc/self/exe";
    char test_name[] = "RocksDbParamStore: lock holder (child process helper)";
    char quiet[] = "--out=/dev/null";
    char* argv[] = {self, test_name, quiet, nullptr};
    char* envp[] = {const_cast<char*>(env_var.c_str()), nullptr};
    execve(self, argv, envp);
    _exit(127);
  }
  close(release[0]);
  close(ready[1]);
  char byte = 0;
  const ssize_t got = read(ready[0], &byte, 1);  // blocks until the child holds the lock
  close(ready[0]);
  if (got == 1) {
    auto second = RocksDbParamStore::Open(DbOptions(path));
    INFO(second.status().ToString());
    CHECK(second.status().code() == StatusCode::kUnavailable);
    CHECK(second.status().message().find("database at " + path +
                                         " is in use by another process (lock held)") == 0);
  }
  close(release[1]);  // the child exits and releases the lock
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  REQUIRE(got == 1);
  REQUIRE(WIFEXITED(wstatus));
  REQUIRE(WEXITSTATUS(wstatus) == 0);
  RequireOk(RocksDbParamStore::Open(DbOptions(path)).status());
}

TEST_CASE("RocksDbParamStore: Open reports bad paths and foreign databases", "[ps]") {
  TempDir dir;
  REQUIRE(RocksDbParamStore::Open(DbOptions("")).status().code() == StatusCode::kInvalidArgument);

  RocksDbParamStoreOptions missing = DbOptions(dir.path() + "/missing");
  missing.create_if_missing = false;
  auto not_found = RocksDbParamStore::Open(missing);
  REQUIRE(not_found.status().code() == StatusCode::kNotFound);
  REQUIRE(!fs::exists(missing.path));

  // Parents are created.
  {
    auto nested = RocksDbParamStore::Open(DbOptions(dir.path() + "/a/b/shard3"));
    RequireOk(nested.status());
    REQUIRE((*nested)->path() == dir.path() + "/a/b/shard3");
  }

  // A regular file where the directory should be.
  const std::string file = dir.path() + "/file";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  auto on_file = RocksDbParamStore::Open(DbOptions(file));
  REQUIRE_FALSE(on_file.ok());

  // Someone else's RocksDB database.
  const std::string foreign = dir.path() + "/foreign";
  testing::WithRawDb(foreign, [](rocksdb::DB* db) { testing::RawPut(db, "jobs/1", "x"); });
  auto not_ours = RocksDbParamStore::Open(DbOptions(foreign));
  REQUIRE(not_ours.status().code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("RocksDbParamStore: a read-only open reads while a writer holds the database", "[ps]") {
  RocksEnv env;  // the writer, holding the lock
  const Checkpoint c1 = MakeCheckpoint(1);
  const Checkpoint c2 = MakeCheckpoint(2);
  RequireOk(WriteAndCommit(env.store(), c1));
  RequireOk(env.store().WriteCheckpoint(c2.manifest, c2.blocks));

  RocksDbParamStoreOptions ro = DbOptions(env.path);
  ro.read_only = true;
  auto opened = RocksDbParamStore::Open(ro);
  RequireOk(opened.status());
  RocksDbParamStore& reader = **opened;
  REQUIRE(reader.read_only());
  REQUIRE(Committed(reader) == Ids{1});
  REQUIRE(Uncommitted(reader) == Ids{2});
  auto a = reader.ReadCheckpoint(1);
  RequireOk(a.status());
  RequireSame(*a, c1);
  auto b = reader.ReadWrittenCheckpoint(2);
  RequireOk(b.status());
  RequireSame(*b, c2);

  // Every write is refused, and nothing changes.
  const Checkpoint c3 = MakeCheckpoint(3);
  REQUIRE(reader.WriteCheckpoint(c3.manifest, c3.blocks).code() == StatusCode::kFailedPrecondition);
  REQUIRE(reader.TEST_WriteCheckpointUnchecked(c3.manifest, c3.blocks).code() ==
          StatusCode::kFailedPrecondition);
  REQUIRE(reader.CommitCheckpoint(2).code() == StatusCode::kFailedPrecondition);
  REQUIRE(reader.DeleteCheckpoint(1).code() == StatusCode::kFailedPrecondition);
  REQUIRE(reader.Prune(1).code() == StatusCode::kFailedPrecondition);
  REQUIRE(Committed(env.store()) == Ids{1});
  REQUIRE(Uncommitted(env.store()) == Ids{2});

  // The reader sees the database as of its open; the writer goes on.
  RequireOk(env.store().CommitCheckpoint(2));
  REQUIRE(Committed(reader) == Ids{1});
  auto again = RocksDbParamStore::Open(ro);
  RequireOk(again.status());
  REQUIRE(Committed(**again) == Ids{1, 2});
}

TEST_CASE("RocksDbParamStore: a read-only open needs an existing param store", "[ps]") {
  TempDir dir;
  RocksDbParamStoreOptions ro = DbOptions(dir.path() + "/missing");
  ro.read_only = true;
  REQUIRE(RocksDbParamStore::Open(ro).status().code() == StatusCode::kNotFound);
  REQUIRE(!fs::exists(ro.path));

  // A database with no keys at all (never written) is an empty store.
  ro.path = dir.path() + "/empty";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(o, ro.path, &raw).ok());
    delete raw;
  }
  auto empty = RocksDbParamStore::Open(ro);
  RequireOk(empty.status());
  REQUIRE(Committed(**empty).empty());
  REQUIRE((*empty)->ReadWrittenCheckpoint(1).status().code() == StatusCode::kNotFound);

  // Someone else's database is still refused.
  ro.path = dir.path() + "/foreign";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(o, ro.path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    REQUIRE(db->Put(rocksdb::WriteOptions(), "jobs/1", "x").ok());
  }
  REQUIRE(RocksDbParamStore::Open(ro).status().code() == StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pst
