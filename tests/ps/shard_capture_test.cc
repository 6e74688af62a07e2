// Shard's live (copy-on-write) checkpoint capture, read by a real writer
// thread into a real RocksDB store while training goes on.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "common/job_spec.h"
#include "common/job_tables.h"
#include "ps/checkpoint_writer.h"
#include "ps/rocksdb_param_store.h"
#include "ps/shard.h"
#include "tests/testing/require_ok.h"
#include "tests/testing/temp_dir.h"

namespace pst {
namespace {

using testing::RequireOk;
using testing::TempDir;

// Model {64, 64, 4} (4420 keys), Adam, BSP, blocks of 256 keys: 18 blocks.
JobSpec AdamJob() {
  JobSpec job;
  job.model.layer_sizes = {64, 64, 4};
  job.model.seed = 5;
  job.optimizer.kind = OptimizerKind::kAdam;
  job.optimizer.learning_rate = 0.01f;
  job.train.block_keys = 256;
  return job;
}
constexpr KeyRange kAll{0, 4420};

std::unique_ptr<Shard> MakeShard() {
  const JobSpec job = AdamJob();
  auto s = Shard::Create(JobTables(job).value(), job.train, kAll, /*num_workers=*/1, 8);
  RequireOk(s.status());
  return std::move(s).value();
}

// Worker 0's push of `clock` to one block (a gradient that depends on both).
void PushBlock(Shard& s, uint64_t clock, KeyRange b) {
  std::vector<float> g(b.size());
  for (size_t k = 0; k < g.size(); ++k) g[k] = std::sin(float(b.begin + k) + float(clock)) * 0.1f;
  RequireOk(s.Push(0, clock, b, 8, g.data(), g.size()));
}
void PushClock(Shard& s, uint64_t clock) {
  for (KeyRange b : s.blocks()) PushBlock(s, clock, b);
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
bool SameBits(const BlockState& a, const BlockState& b) {
  if (!(a.keys == b.keys) || a.version != b.version || a.optimizer_steps != b.optimizer_steps ||
      !SameBits(a.values, b.values) || a.slots.size() != b.slots.size())
    return false;
  for (size_t s = 0; s < a.slots.size(); ++s)
    if (!SameBits(a.slots[s], b.slots[s])) return false;
  return true;
}
void CheckSameBits(const std::vector<BlockState>& got, const std::vector<BlockState>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("block " << i);
    CHECK(SameBits(got[i], want[i]));
  }
}

// The shard's state at clock `clock` as an eager copy (the reference).
CapturedCheckpoint CopyNow(Shard& s, uint64_t id, uint64_t clock) {
  RequireOk(s.BeginCapture(id, clock));
  std::optional<CapturedCheckpoint> cp = s.TakeCapture();
  REQUIRE(cp.has_value());
  return std::move(*cp);
}

TEST_CASE("Shard: a checkpoint written while training goes on holds the round's clock", "[ps]") {
  auto s = MakeShard();
  auto ref = MakeShard();  // same pushes, captured by copying at once
  PushClock(*s, 0);
  PushClock(*ref, 0);
  const CapturedCheckpoint want = CopyNow(*ref, 1, 1);

  RequireOk(s->BeginCapture(1, 1));
  std::optional<LiveCheckpoint> live = s->TakeLiveCapture();
  REQUIRE(live.has_value());
  CHECK(live->blocks->stats().units_copied == 0);  // marked, nothing copied
  // Clock 1 reaches the first block before the writer starts: copied first.
  const std::vector<KeyRange> blocks = s->blocks();
  PushBlock(*s, 1, blocks[0]);
  CHECK(live->blocks->stats().units_copied == 1);
  CHECK(live->blocks->stats().bytes_copied == 256 * 3 * sizeof(float));  // values + 2 Adam slots

  TempDir dir;
  RocksDbParamStoreOptions so;
  so.path = dir.path() + "/ps";
  so.sync_writes = false;
  so.ingest_min_bytes = 0;  // the streaming path, one block at a time
  auto store = RocksDbParamStore::Open(so);
  RequireOk(store.status());
  auto writer = CheckpointWriter::Start(std::move(store).value());
  RequireOk(writer.status());
  CheckpointManifest m;
  m.checkpoint_id = 1;
  m.clock = 1;
  m.job_fingerprint = "test";
  m.range = kAll;
  m.slot_names = live->slot_names;
  m.num_blocks = blocks.size();
  (*writer)->Write(m, live->blocks);
  // Training races the writer: clock 1 for the other blocks, then two more.
  for (size_t i = 1; i < blocks.size(); ++i) PushBlock(*s, 1, blocks[i]);
  PushClock(*s, 2);
  PushClock(*s, 3);
  RequireOk((*writer)->Drain(std::chrono::seconds(60)));
  for (const auto& r : (*writer)->Poll()) RequireOk(r.status);
  CHECK(live->blocks->closed());
  CHECK(s->version() == 4);

  auto read = (*writer)->ReadWrittenCheckpoint(1);
  RequireOk(read.status());
  CHECK(read->first == m);
  CheckSameBits(read->second, want.blocks);

  // Restored, the shard continues exactly as the one that never stopped.
  auto restored = MakeShard();
  RequireOk(restored->Restore(1, read->second, read->first.slot_names, {0}));
  PushClock(*restored, 1);
  PushClock(*ref, 1);
  CHECK(SameBits(std::vector<float>(restored->values(kAll), restored->values(kAll) + kAll.size()),
                 std::vector<float>(ref->values(kAll), ref->values(kAll) + kAll.size())));
}

TEST_CASE("Shard: a capture being read outlives a restore and the shard itself", "[ps]") {
  auto ref = MakeShard();
  PushClock(*ref, 0);
  const CapturedCheckpoint want = CopyNow(*ref, 1, 1);

  SECTION("shard destroyed") {
    auto s = MakeShard();
    PushClock(*s, 0);
    RequireOk(s->BeginCapture(1, 1));
    std::optional<LiveCheckpoint> live = s->TakeLiveCapture();
    REQUIRE(live.has_value());
    s.reset();  // copies the unread blocks
    CHECK(live->blocks->stats().units_copied == want.blocks.size());
    auto got = live->blocks->ReadAll();
    RequireOk(got.status());
    CheckSameBits(*got, want.blocks);
  }
  SECTION("shard restored to another state") {
    auto s = MakeShard();
    PushClock(*s, 0);
    RequireOk(s->BeginCapture(1, 1));
    std::optional<LiveCheckpoint> live = s->TakeLiveCapture();
    REQUIRE(live.has_value());
    std::vector<BlockState> other = want.blocks;
    for (BlockState& b : other) std::fill(b.values.begin(), b.values.end(), 0.5f);
    RequireOk(s->Restore(1, other, want.slot_names, {0}));
    auto got = live->blocks->ReadAll();
    RequireOk(got.status());
    CheckSameBits(*got, want.blocks);
  }
}

}  // namespace
}  // namespace pst
