// Sparse checkpoints end to end below the server: SparseShard captures (full
// and incremental), ParamStore writes them (both implementations, RocksDB
// also with the ingest path and across reopen), ReadSparseChain replays the
// chain into a fresh shard, which must equal the captured one bit for bit.
#include "ps/sparse_checkpoint.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ps/checkpoint_writer.h"
#include "ps/live_rows.h"
#include "ps/memory_param_store.h"
#include "ps/param_store.h"
#include "ps/rocksdb_param_store.h"
#include "ps/sparse_shard.h"
#include "tests/testing/raw_rocksdb.h"
#include "tests/testing/require_ok.h"
#include "tests/testing/temp_dir.h"

namespace pst {
namespace {

using testing::RequireOk;

struct MemoryEnv {
  MemoryEnv() : store(std::make_unique<MemoryParamStore>()) {}
  void Reopen() {}
  std::unique_ptr<ParamStore> store;
};

struct RocksEnv {
  explicit RocksEnv(uint64_t ingest = RocksDbParamStoreOptions().ingest_min_bytes)
      : path(dir.path() + "/ps0"), ingest(ingest) {
    Reopen();
  }
  void Reopen() {
    store.reset();
    RocksDbParamStoreOptions o;
    o.path = path;
    o.sync_writes = false;
    o.ingest_min_bytes = ingest;
    auto opened = RocksDbParamStore::Open(o);
    RequireOk(opened.status());
    store = std::move(opened).value();
  }
  testing::TempDir dir;
  std::string path;
  uint64_t ingest;
  std::unique_ptr<ParamStore> store;
};

// Every checkpoint through an SST file ingested instead of a WriteBatch.
struct RocksIngestEnv : RocksEnv {
  RocksIngestEnv() : RocksEnv(0) {}
};

SparseShardOptions Options(Consistency c = Consistency::kBsp) {
  SparseShardOptions o;
  SparseTableOptions emb;
  emb.name = "emb";
  emb.dim = 4;
  emb.optimizer.name = "adagrad";
  emb.admit_after = 2;
  emb.admission_sketch_width = 1024;
  emb.evict_after_steps = 8;
  SparseTableOptions lr;
  lr.name = "lr";
  lr.dim = 1;
  lr.optimizer.name = "ftrl";
  o.tables = {emb, lr};
  o.consistency = c;
  o.num_workers = 1;
  return o;
}

std::unique_ptr<SparseShard> MakeShard(const SparseShardOptions& o = Options()) {
  auto s = SparseShard::Create(o);
  RequireOk(s.status());
  return std::move(s).value();
}

// Every row of a table, bit for bit: id -> (last step, row and state bits).
using Rows = std::map<uint64_t, std::pair<uint64_t, std::vector<uint32_t>>>;
Rows Snapshot(const SparseTable& t) {
  Rows rows;
  const size_t stride = t.dim() + t.state_floats();
  t.ForEachRow([&](uint64_t id, const float* data, uint64_t last) {
    std::vector<uint32_t> bits(stride);
    std::memcpy(bits.data(), data, stride * sizeof(float));
    rows[id] = {last, std::move(bits)};
  });
  return rows;
}

std::map<std::string, Rows> Snapshot(SparseShard& s) {
  std::map<std::string, Rows> out;
  for (const std::string& name : s.table_names()) out[name] = Snapshot(*s.FindTable(name));
  return out;
}

// One BSP clock: pushes gradients for `ids` of every table (values derived
// from id and clock) as worker 0.
void Step(SparseShard& s, uint64_t clock, const std::vector<uint64_t>& ids) {
  for (const std::string& name : s.table_names()) {
    SparseTable& t = *s.FindTable(name);
    std::vector<float> g(ids.size() * t.dim());
    for (size_t i = 0; i < g.size(); ++i)
      g[i] = float((ids[i / t.dim()] * 7 + clock * 3 + i) % 11) - 5;
    RequireOk(s.Push(0, clock, t, ids, g.data(), 2));
  }
}

// Captures checkpoint `id` at the shard's current clock, writes and commits it.
CheckpointManifest Checkpoint(SparseShard& s, ParamStore& store, uint64_t id, uint64_t clock,
                              bool full, uint64_t parent, uint32_t chain) {
  RequireOk(s.BeginCapture(id, clock, full));
  REQUIRE(s.capture_ready());
  auto cap = s.TakeCapture();
  REQUIRE(cap.has_value());
  CheckpointManifest m;
  m.checkpoint_id = id;
  m.clock = clock;
  m.sparse_parent = full ? 0 : parent;
  m.sparse_chain = full ? 0 : chain;
  m.sparse_tables = cap->tables;
  RequireOk(store.WriteCheckpoint(m, {}, cap->rows));
  RequireOk(store.CommitCheckpoint(id));
  return m;
}

std::unique_ptr<SparseShard> Restore(ParamStore& store, uint64_t id) {
  auto read = store.ReadCheckpoint(id);
  RequireOk(read.status());
  auto s = MakeShard();
  RequireOk(s->Restore(read->first.sparse_tables, [&](const SparseChainFn& fn) {
    return store.ReadSparseChain(id, true, fn);
  }));
  return s;
}

std::vector<uint64_t> Ids(uint64_t from, uint64_t n) {
  std::vector<uint64_t> ids;
  for (uint64_t i = 0; i < n; ++i) ids.push_back(from + i * 1000003);
  return ids;
}

TEMPLATE_TEST_CASE("Sparse checkpoint: a full checkpoint restores every row bit for bit", "[ps]",
                   MemoryEnv, RocksEnv, RocksIngestEnv) {
  TestType env;
  auto s = MakeShard();
  for (uint64_t c = 0; c < 4; ++c) Step(*s, c, Ids(c % 2, 300));
  const auto want = Snapshot(*s);
  REQUIRE(want.at("emb").size() > 100);  // admitted after two sightings
  CheckpointManifest m = Checkpoint(*s, *env.store, 7, 4, /*full=*/true, 0, 0);
  REQUIRE(m.sparse_tables.size() == 2);
  CHECK(m.sparse_tables[0].name == "emb");
  CHECK(m.sparse_tables[0].rows == want.at("emb").size());
  CHECK(m.sparse_tables[0].version == 4);
  env.Reopen();
  auto r = Restore(*env.store, 7);
  CHECK(Snapshot(*r) == want);
  CHECK(r->version(*r->FindTable("emb")) == 4);
  CHECK(r->FindTable("emb")->stats().admitted == s->FindTable("emb")->stats().admitted);
  // The admission sketch came back too: the same further clocks give the same rows.
  for (uint64_t c = 4; c < 7; ++c) {
    Step(*s, c, Ids(5, 200));
    Step(*r, c, Ids(5, 200));
  }
  CHECK(Snapshot(*r) == Snapshot(*s));
}

TEMPLATE_TEST_CASE("Sparse checkpoint: a chain restores each checkpoint's rows exactly", "[ps]",
                   MemoryEnv, RocksEnv, RocksIngestEnv) {
  TestType env;
  auto s = MakeShard();
  std::map<uint64_t, std::map<std::string, Rows>> at;  // checkpoint id -> rows
  uint64_t clock = 0;
  auto run = [&](uint64_t first_id, uint64_t n) {
    for (int k = 0; k < 2; ++k) Step(*s, clock++, Ids(first_id, n));
  };
  run(1, 400);
  Checkpoint(*s, *env.store, 10, clock, true, 0, 0);
  at[10] = Snapshot(*s);
  run(2, 50);  // new rows and updates of a few
  CheckpointManifest m11 = Checkpoint(*s, *env.store, 11, clock, false, 10, 1);
  at[11] = Snapshot(*s);
  // Only the rows these clocks wrote were stored.
  CHECK(m11.sparse_tables[1].changed == 50);  // "lr": every pushed id admitted at once
  run(3, 30);
  Checkpoint(*s, *env.store, 14, clock, false, 11, 2);
  at[14] = Snapshot(*s);
  env.Reopen();
  for (const auto& [id, want] : at) {
    INFO("checkpoint " << id);
    CHECK(Snapshot(*Restore(*env.store, id)) == want);
  }
  // Rows created after checkpoint 10 are not in its restore.
  CHECK(at[14].at("lr").size() > at[10].at("lr").size());
}

TEMPLATE_TEST_CASE("Sparse checkpoint: evicted rows leave tombstones in the next increment", "[ps]",
                   MemoryEnv, RocksEnv) {
  TestType env;
  auto s = MakeShard();
  uint64_t clock = 0;
  for (; clock < 2; ++clock) Step(*s, clock, Ids(1, 100));  // admitted at the 2nd sighting
  Checkpoint(*s, *env.store, 1, clock, true, 0, 0);
  const size_t before = Snapshot(*s).at("emb").size();
  REQUIRE(before >= 50);  // the sketch admits most at their 2nd sighting
  // Other ids for 10 clocks: the first ones age past evict_after_steps = 8.
  for (; clock < 12; ++clock) Step(*s, clock, Ids(2, 10));
  REQUIRE(s->FindTable("emb")->stats().evicted >= before);
  // One of the evicted ids comes back before the checkpoint.
  for (int k = 0; k < 2; ++k) Step(*s, clock++, {Ids(1, 1)[0]});
  CheckpointManifest m = Checkpoint(*s, *env.store, 2, clock, false, 1, 1);
  CHECK(m.sparse_tables[0].removed >= before);
  const auto want = Snapshot(*s);
  CHECK(want.at("emb").count(Ids(1, 1)[0]) == 1);
  CHECK(want.at("emb").count(Ids(1, 2)[1]) == 0);
  auto r = Restore(*env.store, 2);
  CHECK(Snapshot(*r) == want);
  CHECK(r->FindTable("emb")->stats().evicted == s->FindTable("emb")->stats().evicted);
}

TEMPLATE_TEST_CASE("Sparse checkpoint: an increment needs its parent, prune keeps chains", "[ps]",
                   MemoryEnv, RocksEnv) {
  TestType env;
  auto s = MakeShard();
  Step(*s, 0, Ids(1, 20));
  Step(*s, 1, Ids(1, 20));
  Checkpoint(*s, *env.store, 1, 2, true, 0, 0);
  Step(*s, 2, Ids(2, 5));
  Checkpoint(*s, *env.store, 2, 3, false, 1, 1);
  Step(*s, 3, Ids(3, 5));
  RequireOk(s->BeginCapture(5, 4, false));
  auto cap = s->TakeCapture();
  REQUIRE(cap.has_value());
  CheckpointManifest m;
  m.checkpoint_id = 5;
  m.clock = 4;
  m.sparse_tables = cap->tables;
  m.sparse_parent = 4;  // never written
  m.sparse_chain = 2;
  CHECK(env.store->WriteCheckpoint(m, {}, cap->rows).code() == StatusCode::kFailedPrecondition);
  m.sparse_parent = 2;
  RequireOk(env.store->WriteCheckpoint(m, {}, cap->rows));
  RequireOk(env.store->CommitCheckpoint(5));
  const auto want = Snapshot(*s);
  // keep = 1 keeps checkpoint 5 and the chain it needs.
  RequireOk(env.store->Prune(1));
  CHECK(*env.store->ListCommitted() == std::vector<uint64_t>{1, 2, 5});
  CHECK(Snapshot(*Restore(*env.store, 5)) == want);
  // After a full checkpoint the old chain goes.
  Checkpoint(*s, *env.store, 6, 4, true, 0, 0);
  RequireOk(env.store->Prune(1));
  CHECK(*env.store->ListCommitted() == std::vector<uint64_t>{6});
  CHECK(Snapshot(*Restore(*env.store, 6)) == want);
}

TEST_CASE("Sparse checkpoint: a crash between the phases never restores the half-done one",
          "[ps]") {
  RocksEnv env;
  auto s = MakeShard();
  for (uint64_t c = 0; c < 2; ++c) Step(*s, c, Ids(1, 50));
  Checkpoint(*s, *env.store, 1, 2, true, 0, 0);
  const auto want = Snapshot(*s);
  Step(*s, 2, Ids(9, 40));
  Step(*s, 3, Ids(9, 40));
  RequireOk(s->BeginCapture(2, 4, false));
  auto cap = s->TakeCapture();
  CheckpointManifest m;
  m.checkpoint_id = 2;
  m.clock = 4;
  m.sparse_tables = cap->tables;
  m.sparse_parent = 1;
  m.sparse_chain = 1;
  RequireOk(env.store->WriteCheckpoint(m, {}, cap->rows));
  env.Reopen();  // the process died before phase 2
  CHECK(*env.store->ListUncommitted() == std::vector<uint64_t>{2});
  CHECK(env.store->ReadSparseChain(2, true, [](const SparseChainPiece&) { return Status::OK(); })
            .code() == StatusCode::kNotFound);
  // The scheduler's record says 1 is the last complete one: it restores exactly.
  CHECK(Snapshot(*Restore(*env.store, 1)) == want);
}

TEST_CASE("Sparse checkpoint: corrupt or missing pieces read as kDataLoss", "[ps]") {
  RocksEnv env;
  auto s = MakeShard();
  for (uint64_t c = 0; c < 2; ++c) Step(*s, c, Ids(1, 30));
  Checkpoint(*s, *env.store, 1, 2, true, 0, 0);
  auto replay = [&] {
    auto r = MakeShard();
    auto read = env.store->ReadCheckpoint(1);
    RequireOk(read.status());
    return r->Restore(read->first.sparse_tables, [&](const SparseChainFn& fn) {
      return env.store->ReadSparseChain(1, true, fn);
    });
  };
  RequireOk(replay());
  env.store.reset();
  std::string piece;
  testing::WithRawDb(env.path, [&](rocksdb::DB* db) {
    piece = testing::RawGet(db, RocksDbParamStore::SparseKey(1, 0));
    std::string bad = piece;
    bad[bad.size() / 2] ^= 0x10;
    testing::RawPut(db, RocksDbParamStore::SparseKey(1, 0), bad);
  });
  env.Reopen();
  CHECK(replay().code() == StatusCode::kDataLoss);
  env.store.reset();
  testing::WithRawDb(env.path, [&](rocksdb::DB* db) {
    REQUIRE(db->Delete(rocksdb::WriteOptions(), RocksDbParamStore::SparseKey(1, 0)).ok());
  });
  env.Reopen();
  CHECK(replay().code() == StatusCode::kDataLoss);
}

TEST_CASE("Sparse checkpoint: a restore into other tables is refused", "[ps]") {
  MemoryEnv env;
  auto s = MakeShard();
  Step(*s, 0, Ids(1, 10));
  Checkpoint(*s, *env.store, 1, 1, true, 0, 0);
  SparseShardOptions other = Options();
  other.tables[0].dim = 8;
  auto r = MakeShard(other);
  auto read = env.store->ReadCheckpoint(1);
  RequireOk(read.status());
  CHECK(r->Restore(read->first.sparse_tables, [&](const SparseChainFn& fn) {
           return env.store->ReadSparseChain(1, true, fn);
         }).code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("Sparse checkpoint: BSP captures each table exactly at the clock boundary", "[ps]") {
  SparseShardOptions o = Options();
  o.num_workers = 2;
  auto s = MakeShard(o);
  auto reference = MakeShard(o);  // runs clocks < 3 only
  auto push = [](SparseShard& shard, uint32_t rank, uint64_t clock) {
    const std::vector<uint64_t> ids = Ids(rank + clock, 20);
    for (const std::string& name : shard.table_names()) {
      SparseTable& t = *shard.FindTable(name);
      std::vector<float> g(ids.size() * t.dim(), float(rank + 1) * 0.5f - float(clock));
      RequireOk(shard.Push(rank, clock, t, ids, g.data(), 1));
    }
  };
  for (uint64_t c = 0; c < 2; ++c)
    for (uint32_t r = 0; r < 2; ++r) push(*s, r, c), push(*reference, r, c);
  push(*reference, 0, 2);
  push(*reference, 1, 2);
  CHECK(s->BeginCapture(1, 1, false).code() == StatusCode::kFailedPrecondition);
  RequireOk(s->BeginCapture(1, 3, true));
  push(*s, 0, 2);
  push(*s, 0, 3);  // waits for worker 1's clock 3
  CHECK_FALSE(s->capture_ready());
  push(*s, 1, 2);  // completes clock 2: version 3, captured before clock 3 applies
  REQUIRE(s->capture_ready());
  push(*s, 1, 3);  // clock 3 applies after the capture
  auto cap = s->TakeCapture();
  REQUIRE(cap.has_value());
  REQUIRE(cap->tables.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    SparseTable& t = *reference->FindTable(cap->tables[i].name);
    CHECK(cap->tables[i].version == 3);
    Rows got;
    const SparseRowsDelta& d = cap->rows[i];
    const size_t stride = t.dim() + t.state_floats();
    for (size_t k = 0; k < d.ids.size(); ++k) {
      std::vector<uint32_t> bits(stride);
      std::memcpy(bits.data(), d.data.data() + k * stride, stride * sizeof(float));
      got[d.ids[k]] = {d.last_steps[k], std::move(bits)};
    }
    CHECK(got == Snapshot(t));
  }
  CHECK(Snapshot(*s) != Snapshot(*reference));  // clock 3 is in s now
}

TEMPLATE_TEST_CASE("Sparse checkpoint: live captures hold the rows at their clock while "
                   "training goes on", "[ps]", MemoryEnv, RocksEnv, RocksIngestEnv) {
  // A live capture copies no rows at the capture; training then updates,
  // creates and evicts rows (copying the chunks it changes) before and while
  // a writer thread stores them. Restores give the rows as captured.
  TestType env;
  auto writer = CheckpointWriter::Start(std::move(env.store));
  RequireOk(writer.status());
  auto s = MakeShard();
  uint64_t clock = 0;
  auto run = [&](uint64_t first_id, uint64_t n) {
    for (int k = 0; k < 2; ++k) Step(*s, clock++, Ids(first_id, n));
  };
  std::map<uint64_t, std::map<std::string, Rows>> at;  // checkpoint id -> rows
  auto checkpoint = [&](uint64_t id, bool full, uint64_t parent, uint32_t chain) {
    RequireOk(s->BeginCapture(id, clock, full, /*live=*/true));
    auto cap = s->TakeCapture();
    REQUIRE(cap.has_value());
    at[id] = Snapshot(*s);
    for (const SparseRowsDelta& d : cap->rows) CHECK(d.ids.empty());  // nothing copied yet
    CheckpointManifest m;
    m.checkpoint_id = id;
    m.clock = clock;
    m.sparse_parent = parent;
    m.sparse_chain = chain;
    m.sparse_tables = cap->tables;
    std::vector<std::shared_ptr<LiveRows>> live;
    for (const SparseRowsDelta& d : cap->rows) live.push_back(d.live);
    run(id, 500);  // before the writer starts: changed chunks are copied
    uint64_t copied = 0;
    for (const auto& l : live) copied += l->stats().units_copied;
    CHECK(copied > 0);
    (*writer)->Write(std::move(m), std::vector<BlockState>{}, std::move(cap->rows));
    run(id + 1, 500);  // racing the writer
    RequireOk((*writer)->Drain(std::chrono::seconds(60)));
    for (const auto& r : (*writer)->Poll()) RequireOk(r.status);
    for (const auto& l : live) CHECK(l->closed());
    (*writer)->Commit(id);
  };
  run(1, 400);
  checkpoint(10, /*full=*/true, 0, 0);
  run(2, 50);
  checkpoint(11, /*full=*/false, 10, 1);
  run(3, 30);
  checkpoint(14, /*full=*/false, 11, 2);
  RequireOk((*writer)->Drain(std::chrono::seconds(60)));
  for (const auto& [id, want] : at) {
    INFO("checkpoint " << id);
    auto read = (*writer)->ReadCheckpoint(id);
    RequireOk(read.status());
    auto r = MakeShard();
    RequireOk(r->Restore(read->first.sparse_tables, [&](const SparseChainFn& fn) {
      return (*writer)->ReadSparseChain(id, true, fn);
    }));
    CHECK(Snapshot(*r) == want);
  }
}

}  // namespace
}  // namespace pst
