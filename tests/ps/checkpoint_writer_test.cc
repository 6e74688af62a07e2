// Tests ps/checkpoint_writer.h over MemoryParamStore and RocksDbParamStore:
// ordering, reported results, synchronous reads, errors, shutdown with
// operations still queued.
#include "ps/checkpoint_writer.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/key_range.h"
#include "common/status.h"
#include "ps/memory_param_store.h"
#include "ps/param_store.h"
#include "ps/rocksdb_param_store.h"
#include "tests/testing/require_ok.h"
#include "tests/testing/temp_dir.h"

namespace pst {
namespace {

using testing::RequireOk;
using testing::TempDir;
using Op = CheckpointWriter::Result::Op;
using Ids = std::vector<uint64_t>;
using namespace std::chrono_literals;

std::unique_ptr<RocksDbParamStore> OpenRocks(const std::string& path) {
  RocksDbParamStoreOptions o;
  o.path = path;
  o.sync_writes = false;
  auto store = RocksDbParamStore::Open(o);
  RequireOk(store.status());
  return std::move(store).value();
}

struct MemoryEnv {
  std::unique_ptr<ParamStore> MakeStore() { return std::make_unique<MemoryParamStore>(); }
};

struct RocksEnv {
  std::unique_ptr<ParamStore> MakeStore() { return OpenRocks(dir.path() + "/ps-0"); }
  TempDir dir;
};

struct Checkpoint {
  CheckpointManifest manifest;
  std::vector<BlockState> blocks;
};

// Checkpoint `id` of keys [0, 100) in blocks of 40, one Adam-like slot pair.
Checkpoint MakeCheckpoint(uint64_t id) {
  Checkpoint c;
  c.manifest.checkpoint_id = id;
  c.manifest.clock = id * 10;
  c.manifest.job_fingerprint = "job";
  c.manifest.range = {0, 100};
  c.manifest.slot_names = {"m", "v"};
  for (const KeyRange& keys : SplitIntoChunks(c.manifest.range, 40)) {
    BlockState b;
    b.keys = keys;
    b.version = id;
    b.optimizer_steps = id;
    for (uint64_t k = keys.begin; k < keys.end; ++k) b.values.push_back(float(id * 1000 + k));
    b.slots.assign(2, std::vector<float>(keys.size(), float(id)));
    c.blocks.push_back(std::move(b));
  }
  c.manifest.num_blocks = c.blocks.size();
  return c;
}

std::unique_ptr<CheckpointWriter> StartWriter(std::unique_ptr<ParamStore> store) {
  auto writer = CheckpointWriter::Start(std::move(store));
  RequireOk(writer.status());
  return std::move(writer).value();
}

// A ParamStore that forwards to `inner`, except that its first WriteCheckpoint
// signals `entered` and then blocks until `gate` is released.
class GatedStore final : public ParamStore {
 public:
  GatedStore(std::unique_ptr<ParamStore> inner, std::shared_future<void> gate)
      : inner_(std::move(inner)), gate_(std::move(gate)) {}
  std::future<void> entered() { return entered_.get_future(); }

  using ParamStore::WriteCheckpoint;
  Status WriteCheckpoint(const CheckpointManifest& m, BlockSource& blocks,
                         const std::vector<SparseRowsDelta>& sparse) override {
    if (first_) {
      first_ = false;
      entered_.set_value();
      gate_.wait();
    }
    return inner_->WriteCheckpoint(m, blocks, sparse);
  }
  Status ReadSparseChain(uint64_t id, bool require_commit, const SparseChainFn& fn) override {
    return inner_->ReadSparseChain(id, require_commit, fn);
  }
  Status CommitCheckpoint(uint64_t id) override { return inner_->CommitCheckpoint(id); }
  Status DeleteCheckpoint(uint64_t id) override { return inner_->DeleteCheckpoint(id); }
  StatusOr<std::vector<uint64_t>> ListCommitted() override { return inner_->ListCommitted(); }
  StatusOr<std::vector<uint64_t>> ListUncommitted() override { return inner_->ListUncommitted(); }
  StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> ReadCheckpoint(
      uint64_t id) override {
    return inner_->ReadCheckpoint(id);
  }
  StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> ReadWrittenCheckpoint(
      uint64_t id) override {
    return inner_->ReadWrittenCheckpoint(id);
  }
  Status Prune(size_t keep) override { return inner_->Prune(keep); }

 private:
  std::unique_ptr<ParamStore> inner_;
  std::shared_future<void> gate_;
  std::promise<void> entered_;
  bool first_ = true;
};

TEST_CASE("CheckpointWriter: Start needs a store", "[ps]") {
  REQUIRE(CheckpointWriter::Start(nullptr).status().code() == StatusCode::kInvalidArgument);
}

TEMPLATE_TEST_CASE("CheckpointWriter: operations run in order and report their results", "[ps]",
                   MemoryEnv, RocksEnv) {
  TestType env;
  auto writer = StartWriter(env.MakeStore());
  for (uint64_t id : {1, 2, 3}) {
    Checkpoint c = MakeCheckpoint(id);
    writer->Write(std::move(c.manifest), std::move(c.blocks));
  }
  writer->Commit(1);
  writer->Commit(2);
  writer->Delete(2);
  writer->Commit(3);
  writer->Prune(1);
  writer->Commit(2);  // deleted above: kNotFound, reported like any other result
  RequireOk(writer->Drain(60s));
  REQUIRE(writer->queued() == 0);

  const std::vector<CheckpointWriter::Result> results = writer->Poll();
  const std::vector<std::pair<Op, uint64_t>> want = {
      {Op::kWrite, 1},  {Op::kWrite, 2},  {Op::kWrite, 3}, {Op::kCommit, 1}, {Op::kCommit, 2},
      {Op::kDelete, 2}, {Op::kCommit, 3}, {Op::kPrune, 1}, {Op::kCommit, 2}};
  REQUIRE(results.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("result " << i << ": " << results[i].status.ToString());
    CHECK(results[i].op == want[i].first);
    CHECK(results[i].id == want[i].second);
    if (i + 1 < want.size()) CHECK(results[i].status.ok());
  }
  CHECK(results.back().status.code() == StatusCode::kNotFound);
  REQUIRE(writer->Poll().empty());  // each result is handed out once

  REQUIRE(writer->ListCommitted().value() == Ids{3});
  REQUIRE(writer->ListUncommitted().value().empty());
}

TEMPLATE_TEST_CASE("CheckpointWriter: synchronous reads see every operation queued before them",
                   "[ps]", MemoryEnv, RocksEnv) {
  TestType env;
  auto writer = StartWriter(env.MakeStore());
  const Checkpoint c = MakeCheckpoint(7);
  {
    Checkpoint copy = c;
    writer->Write(std::move(copy.manifest), std::move(copy.blocks));
  }
  writer->Commit(7);
  // No Drain: the read waits for the write and the commit queued before it.
  auto got = writer->ReadCheckpoint(7);
  RequireOk(got.status());
  REQUIRE(got->first == c.manifest);
  REQUIRE(got->second == c.blocks);

  const Checkpoint d = MakeCheckpoint(8);
  {
    Checkpoint copy = d;
    writer->Write(std::move(copy.manifest), std::move(copy.blocks));
  }
  REQUIRE(writer->ListUncommitted().value() == Ids{8});
  REQUIRE(writer->ReadCheckpoint(8).status().code() == StatusCode::kNotFound);
  auto written = writer->ReadWrittenCheckpoint(8);
  RequireOk(written.status());
  REQUIRE(written->second == d.blocks);

  // Synchronous calls leave no Result; the queued operations do.
  const auto results = writer->Poll();
  REQUIRE(results.size() == 3);
  CHECK(results[2].op == Op::kWrite);
  CHECK(results[2].id == 8);
}

TEMPLATE_TEST_CASE("CheckpointWriter: store errors come back in the Result", "[ps]", MemoryEnv,
                   RocksEnv) {
  TestType env;
  auto writer = StartWriter(env.MakeStore());
  Checkpoint a = MakeCheckpoint(1);
  Checkpoint b = MakeCheckpoint(2);
  b.manifest.checkpoint_id = 1;  // the same id again
  Checkpoint bad = MakeCheckpoint(3);
  bad.blocks.pop_back();  // does not tile the range
  writer->Write(std::move(a.manifest), std::move(a.blocks));
  writer->Write(std::move(b.manifest), std::move(b.blocks));
  writer->Write(std::move(bad.manifest), std::move(bad.blocks));
  writer->Commit(99);
  writer->Prune(0);
  RequireOk(writer->Drain(60s));
  const auto results = writer->Poll();
  REQUIRE(results.size() == 5);
  CHECK(results[0].status.ok());
  CHECK(results[1].status.code() == StatusCode::kAlreadyExists);
  CHECK(results[1].id == 1);
  CHECK(results[2].status.code() == StatusCode::kInvalidArgument);
  CHECK(results[3].status.code() == StatusCode::kNotFound);
  CHECK(results[4].op == Op::kPrune);
  CHECK(results[4].status.code() == StatusCode::kInvalidArgument);
  // The first write was not replaced by the second.
  auto got = writer->ReadWrittenCheckpoint(1);
  RequireOk(got.status());
  REQUIRE(got->second == MakeCheckpoint(1).blocks);
}

TEST_CASE("CheckpointWriter: the caller is not blocked by a slow write, Drain times out", "[ps]") {
  std::promise<void> gate;
  auto gated =
      std::make_unique<GatedStore>(std::make_unique<MemoryParamStore>(), gate.get_future().share());
  std::future<void> entered = gated->entered();
  auto writer = StartWriter(std::move(gated));
  Checkpoint c = MakeCheckpoint(1);
  writer->Write(std::move(c.manifest), std::move(c.blocks));
  writer->Commit(1);
  entered.wait();  // the writer thread is inside WriteCheckpoint
  const auto held_from = std::chrono::steady_clock::now();
  REQUIRE(writer->queued() == 2);
  REQUIRE(writer->Poll().empty());
  REQUIRE(writer->Drain(1ms).code() == StatusCode::kDeadlineExceeded);

  // A synchronous read from another thread waits for the queue ahead of it.
  std::future<StatusOr<std::vector<uint64_t>>> committed =
      std::async(std::launch::async, [&] { return writer->ListCommitted(); });
  std::this_thread::sleep_for(20ms);  // not a wait: makes the held write last a while
  const auto released = std::chrono::steady_clock::now();
  gate.set_value();
  REQUIRE(committed.get().value() == Ids{1});
  RequireOk(writer->Drain(60s));
  const auto results = writer->Poll();
  const auto polled = std::chrono::steady_clock::now();
  REQUIRE(results.size() == 2);
  CHECK(results[0].status.ok());
  CHECK(results[1].status.ok());
  // The write's duration covers the whole store call, which lasted at least
  // as long as the gate was held; the commit's excludes its wait in the queue
  // behind that write, so it fits in the time since the gate opened.
  using Ms = std::chrono::duration<double, std::milli>;
  CHECK(results[0].duration_ms >= Ms(released - held_from).count());
  CHECK(results[1].duration_ms <= Ms(polled - released).count());
}

TEST_CASE("CheckpointWriter: the destructor finishes queued operations", "[ps]") {
  TempDir dir;
  const std::string path = dir.path() + "/ps-1";
  std::promise<void> gate;
  auto gated = std::make_unique<GatedStore>(OpenRocks(path), gate.get_future().share());
  std::future<void> entered = gated->entered();
  auto writer = StartWriter(std::move(gated));
  for (uint64_t id : {1, 2, 3}) {
    Checkpoint c = MakeCheckpoint(id);
    writer->Write(std::move(c.manifest), std::move(c.blocks));
    writer->Commit(id);
  }
  writer->Prune(2);
  entered.wait();
  REQUIRE(writer->queued() == 7);
  // The gate opens on another thread, before or while the destructor waits.
  std::thread opener([&gate] { gate.set_value(); });
  writer.reset();  // runs the 7 operations, joins, closes the store
  opener.join();

  auto store = OpenRocks(path);  // the lock was released
  REQUIRE(store->ListCommitted().value() == Ids{2, 3});
  auto got = store->ReadCheckpoint(3);
  RequireOk(got.status());
  REQUIRE(got->second == MakeCheckpoint(3).blocks);
}

}  // namespace
}  // namespace pst
