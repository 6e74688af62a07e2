// Tests cli/checkpoint_model.h, cli/export_command.h and cli/eval_command.h on
// fake run directories: a JobStore and RocksDbParamStores written the way the
// scheduler and the PS shards write them.
#include "cli/checkpoint_model.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/eval_command.h"
#include "cli/export_command.h"
#include "common/key_range.h"
#include "common/model_file.h"
#include "common/model_layout.h"
#include "common/safetensors.h"
#include "ps/rocksdb_param_store.h"
#include "scheduler/job_store.h"

namespace pst {
namespace {

namespace fs = std::filesystem;

void RequireOk(const Status& s) {
  INFO(s.ToString());
  REQUIRE(s.ok());
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The value of parameter `key` in checkpoint `id` of a fake run.
float Param(uint64_t id, uint64_t key) {
  return static_cast<float>(id) + static_cast<float>(key) * 0.25f - 1000.0f;
}

// A run directory in a fresh temporary directory (removed at the end).
class FakeRun {
 public:
  FakeRun() {
    char tmpl[] = "/tmp/pst_checkpoint_model_test_XXXXXX";
    const char* p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    root_ = p;
    run_dir = root_ + "/run";
    fs::create_directories(run_dir + "/logs");
    job.model.layer_sizes = {784, 10};
    job.num_servers = 2;
    job.data_dir = root_ + "/no-data";
  }
  ~FakeRun() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  FakeRun(const FakeRun&) = delete;
  FakeRun& operator=(const FakeRun&) = delete;

  uint64_t total() const { return ModelLayout::FromSpec(job.model).value().total(); }
  KeyRange ShardRange(uint32_t k) const { return PartitionKeys(total(), job.num_servers)[k]; }

  std::unique_ptr<JobStore> OpenScheduler() {
    JobStoreOptions o;
    o.path = SchedulerStateDir(run_dir);
    o.sync_writes = false;
    auto store = JobStore::Create(o);
    RequireOk(store.status());
    return std::move(store).value();
  }
  std::unique_ptr<RocksDbParamStore> OpenShard(uint32_t k) {
    RocksDbParamStoreOptions o;
    o.path = PsStateDir(run_dir, k);
    o.sync_writes = false;
    auto store = RocksDbParamStore::Open(o);
    RequireOk(store.status());
    return std::move(store).value();
  }

  // Saves the job and records checkpoints `ids` (clock 10 * id) as complete.
  void WriteScheduler(const std::vector<uint64_t>& ids) {
    auto store = OpenScheduler();
    RequireOk(store->SaveJob(job));
    for (uint64_t id : ids) RequireOk(store->RecordCompleteCheckpoint(Record(id)));
  }
  CheckpointRecord Record(uint64_t id) const {
    CheckpointRecord r;
    r.id = id;
    r.clock = 10 * id;
    r.num_shards = job.num_servers;
    r.epoch = static_cast<uint32_t>(id / 2);
    return r;
  }

  // Writes checkpoint `id` to shard k's store (committing it if `commit`),
  // with the values Param(id, key), an Adam-like pair of slots and blocks of
  // 1000 keys. `edit` may change the manifest first.
  void WriteShard(ParamStore& store, uint32_t k, uint64_t id, bool commit,
                  const std::function<void(CheckpointManifest&)>& edit = nullptr) {
    CheckpointManifest m;
    m.checkpoint_id = id;
    m.clock = 10 * id;
    m.job_fingerprint = "job-fp";
    m.range = ShardRange(k);
    m.slot_names = {"m", "v"};
    if (edit) edit(m);
    std::vector<BlockState> blocks;
    for (const KeyRange& keys : SplitIntoChunks(m.range, 1000)) {
      if (keys.empty()) continue;
      BlockState b;
      b.keys = keys;
      b.version = m.clock;
      for (uint64_t key = keys.begin; key < keys.end; ++key) b.values.push_back(Param(id, key));
      b.slots.assign(2, std::vector<float>(keys.size(), 0.5f));
      blocks.push_back(std::move(b));
    }
    m.num_blocks = blocks.size();
    RequireOk(store.WriteCheckpoint(m, blocks));
    if (commit) RequireOk(store.CommitCheckpoint(id));
  }

  // The usual run: complete checkpoints 3 and 5 on two shards; shard 1 has
  // not yet committed 5 (the scheduler's record is the commit point).
  void WriteDefault() {
    WriteScheduler({3, 5});
    auto s0 = OpenShard(0);
    WriteShard(*s0, 0, 3, true);
    WriteShard(*s0, 0, 5, true);
    auto s1 = OpenShard(1);
    WriteShard(*s1, 1, 3, true);
    WriteShard(*s1, 1, 5, false);
  }

  std::string run_dir;
  JobSpec job;

 private:
  std::string root_;
};

void CheckParams(const std::vector<float>& params, uint64_t id, uint64_t total) {
  REQUIRE(params.size() == total);
  for (uint64_t key = 0; key < total; ++key) {
    if (params[key] != Param(id, key)) {
      INFO("key " << key);
      REQUIRE(params[key] == Param(id, key));
    }
  }
}

StatusOr<CheckpointModel> Load(const FakeRun& run, std::optional<uint64_t> id = std::nullopt) {
  return LoadCheckpointModel(run.run_dir, id);
}

TEST_CASE("LoadCheckpointModel: assembles the shards' values of a complete checkpoint", "[cli]") {
  FakeRun run;
  run.WriteDefault();
  REQUIRE(run.total() == 7850);

  auto latest = Load(run);
  RequireOk(latest.status());
  CHECK(latest->record == run.Record(5));
  CHECK(latest->job == run.job);
  CheckParams(latest->params, 5, run.total());

  auto third = Load(run, 3);
  RequireOk(third.status());
  CHECK(third->record.id == 3);
  CHECK(third->record.clock == 30);
  CheckParams(third->params, 3, run.total());
}

TEST_CASE("LoadCheckpointModel: reads while the scheduler and the PS hold their stores", "[cli]") {
  FakeRun run;
  run.WriteDefault();
  auto scheduler = run.OpenScheduler();
  auto s0 = run.OpenShard(0);
  auto s1 = run.OpenShard(1);
  auto got = Load(run);
  RequireOk(got.status());
  CheckParams(got->params, 5, run.total());
  // Nothing was changed: shard 1 still has checkpoint 5 uncommitted.
  REQUIRE(s1->ListUncommitted().value() == std::vector<uint64_t>{5});
}

TEST_CASE("LoadCheckpointModel: missing run, state or checkpoint is kNotFound saying what to do",
          "[cli]") {
  FakeRun run;
  SECTION("no run directory") {
    auto got = LoadCheckpointModel(run.run_dir + "/nope", std::nullopt);
    CHECK(got.status().code() == StatusCode::kNotFound);
    CHECK(Contains(got.status().message(), "no such run directory"));
  }
  SECTION("no scheduler state") {
    auto got = Load(run);
    CHECK(got.status().code() == StatusCode::kNotFound);
    CHECK(Contains(got.status().message(), "has no scheduler state"));
  }
  SECTION("no complete checkpoint yet") {
    run.WriteScheduler({});
    auto got = Load(run);
    CHECK(got.status().code() == StatusCode::kNotFound);
    CHECK(got.status().message() == "no complete checkpoint yet in " + run.run_dir +
                                        "; wait until the job has taken its first checkpoint, "
                                        "then try again");
  }
  SECTION("unknown id lists the complete ones") {
    run.WriteDefault();
    auto got = Load(run, 4);
    CHECK(got.status().code() == StatusCode::kNotFound);
    CHECK(Contains(got.status().message(), "checkpoint 4 is not a complete checkpoint of"));
    CHECK(Contains(got.status().message(), "complete checkpoints: 3, 5"));
  }
}

TEST_CASE("LoadCheckpointModel: inconsistent shards are kDataLoss naming the shard", "[cli]") {
  FakeRun run;
  run.WriteScheduler({5});
  auto s0 = run.OpenShard(0);
  run.WriteShard(*s0, 0, 5, true);
  s0.reset();
  const std::string shard1 = "checkpoint 5, shard 1 (" + PsStateDir(run.run_dir, 1) + ")";
  auto expect_loss = [&](const std::string& needle) {
    auto got = Load(run);
    INFO(got.status().ToString());
    CHECK(got.status().code() == StatusCode::kDataLoss);
    CHECK(Contains(got.status().message(), shard1));
    CHECK(Contains(got.status().message(), needle));
  };
  SECTION("missing shard store") { expect_loss("the shard's store is missing"); }
  SECTION("shard without the checkpoint") {
    auto s1 = run.OpenShard(1);
    run.WriteShard(*s1, 1, 4, true);
    s1.reset();
    expect_loss("does not hold the checkpoint");
  }
  SECTION("mismatched clock") {
    auto s1 = run.OpenShard(1);
    run.WriteShard(*s1, 1, 5, true, [](CheckpointManifest& m) { m.clock = 51; });
    s1.reset();
    expect_loss("taken at clock 51, but the scheduler recorded clock 50");
  }
  SECTION("gap between the shards' ranges") {
    auto s1 = run.OpenShard(1);
    run.WriteShard(*s1, 1, 5, true, [](CheckpointManifest& m) { m.range.begin += 1; });
    s1.reset();
    expect_loss("should start at 3925");
  }
  SECTION("ranges that stop short of the model") {
    auto s1 = run.OpenShard(1);
    run.WriteShard(*s1, 1, 5, true, [](CheckpointManifest& m) { m.range.end -= 10; });
    s1.reset();
    expect_loss("the last shard ends at key 7840, but the model has 7850 parameters");
  }
  SECTION("range past the model") {
    auto s1 = run.OpenShard(1);
    run.WriteShard(*s1, 1, 5, true, [](CheckpointManifest& m) { m.range.end += 1; });
    s1.reset();
    expect_loss("must tile the 7850-parameter model");
  }
  SECTION("another job's fingerprint") {
    auto s1 = run.OpenShard(1);
    run.WriteShard(*s1, 1, 5, true, [](CheckpointManifest& m) { m.job_fingerprint = "other"; });
    s1.reset();
    expect_loss("job fingerprint 'other' differs from 'job-fp'");
  }
  SECTION("corrupt block") {
    {
      auto s1 = run.OpenShard(1);
      run.WriteShard(*s1, 1, 5, true);
    }
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(rocksdb::Options(), PsStateDir(run.run_dir, 1), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    const std::string key = RocksDbParamStore::BlockKey(5, 4925);
    std::string value;
    REQUIRE(db->Get(rocksdb::ReadOptions(), key, &value).ok());
    value[value.size() / 2] = static_cast<char>(value[value.size() / 2] ^ 1);
    REQUIRE(db->Put(rocksdb::WriteOptions(), key, value).ok());
    REQUIRE(db->Close().ok());
    db.reset();
    expect_loss("checksum mismatch");
  }
}

TEST_CASE("ExportCheckpoint: writes a safetensors file with the checkpoint's values", "[cli]") {
  FakeRun run;
  run.WriteDefault();
  ExportOptions options;
  options.run_dir = run.run_dir;
  std::ostringstream out;
  RequireOk(RunExportCommand(options, out));
  const std::string path = run.run_dir + "/export/model-5.safetensors";
  CHECK(out.str() == "exported checkpoint 5 (clock 50, 7850 parameters) to " + path + "\n");

  auto file = ReadSafetensors(path);
  RequireOk(file.status());
  REQUIRE(file->tensors.size() == 2);
  CHECK(file->tensors[0].name == "w0");
  CHECK(file->tensors[0].shape == std::vector<uint64_t>{784, 10});
  CHECK(file->tensors[1].name == "b0");
  CHECK(file->tensors[1].shape == std::vector<uint64_t>{10});
  std::vector<float> all = file->tensors[0].values;
  all.insert(all.end(), file->tensors[1].values.begin(), file->tensors[1].values.end());
  CheckParams(all, 5, run.total());
  CHECK(file->metadata.at("pstrain.layers") == "784,10");

  // An older checkpoint, to a path of our choosing (parents created).
  options.checkpoint = 3;
  options.out = run.run_dir + "/elsewhere/deep/m3.safetensors";
  auto r = ExportCheckpoint(options);
  RequireOk(r.status());
  CHECK(r->path == options.out);
  CHECK(r->checkpoint_id == 3);
  auto model = LoadModel(options.out);
  RequireOk(model.status());
  CHECK(model->spec.layer_sizes == run.job.model.layer_sizes);
  CheckParams(model->params, 3, run.total());

  // Errors write nothing.
  options.checkpoint = 4;
  options.out = run.run_dir + "/m4.safetensors";
  CHECK(ExportCheckpoint(options).status().code() == StatusCode::kNotFound);
  CHECK(!fs::exists(options.out));
}

// --- eval ---------------------------------------------------------------------

void AppendBigEndian32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

// Writes an uncompressed Fashion-MNIST-named test split of 2x2 images to `dir`.
void WriteTestSet(const std::string& dir, const std::vector<std::vector<uint8_t>>& images,
                  const std::vector<uint8_t>& labels) {
  fs::create_directories(dir);
  std::string img, lbl;
  AppendBigEndian32(img, 0x00000803);
  AppendBigEndian32(img, static_cast<uint32_t>(images.size()));
  AppendBigEndian32(img, 2);
  AppendBigEndian32(img, 2);
  for (const auto& pixels : images) img.append(pixels.begin(), pixels.end());
  AppendBigEndian32(lbl, 0x00000801);
  AppendBigEndian32(lbl, static_cast<uint32_t>(labels.size()));
  lbl.append(labels.begin(), labels.end());
  std::ofstream(dir + "/t10k-images-idx3-ubyte", std::ios::binary) << img;
  std::ofstream(dir + "/t10k-labels-idx1-ubyte", std::ios::binary) << lbl;
}

TEST_CASE("EvaluateCheckpoint: evaluates the checkpoint's model on the test set", "[cli]") {
  FakeRun run;
  // Softmax regression from 4 pixels to 3 classes, 15 parameters on 2 shards:
  // w0[i][c] = (i == c), b0 = 0, so the logits are the first three pixels.
  run.job.model.layer_sizes = {4, 3};
  run.WriteScheduler({2});
  for (uint32_t k = 0; k < 2; ++k) {
    const KeyRange range = run.ShardRange(k);
    CheckpointManifest m;
    m.checkpoint_id = 2;
    m.clock = 20;
    m.range = range;
    m.num_blocks = 1;
    BlockState b;
    b.keys = range;
    for (uint64_t key = range.begin; key < range.end; ++key)
      b.values.push_back(key < 12 && key / 3 == key % 3 ? 1.0f : 0.0f);
    auto store = run.OpenShard(k);
    RequireOk(store->WriteCheckpoint(m, {b}));
    RequireOk(store->CommitCheckpoint(2));
  }
  const std::string data = run.run_dir + "/../data";
  // Three samples the model gets right, the last one it gets wrong (logits
  // [0, 1, 0.2] predict 1, the label is 2).
  WriteTestSet(data, {{255, 0, 0, 0}, {0, 255, 0, 0}, {0, 0, 255, 0}, {0, 255, 51, 0}},
               {0, 1, 2, 2});
  auto ce = [](std::vector<double> z, int y) {
    double sum = 0;
    for (double v : z) sum += std::exp(v);
    return std::log(sum) - z[y];
  };
  const double z = 51.0f / 255.0f;
  const double want_loss = (3 * ce({1, 0, 0}, 0) + ce({0, 1, z}, 2)) / 4;

  EvalOptions options;
  options.run_dir = run.run_dir;
  SECTION("the job's data directory is missing") {
    auto got = EvaluateCheckpoint(options);
    CHECK(got.status().code() == StatusCode::kNotFound);
    CHECK(Contains(got.status().message(), "dataset-fashion-mnist"));
  }
  SECTION("--data-dir, text and JSON") {
    options.data_dir = data;
    auto got = EvaluateCheckpoint(options);
    RequireOk(got.status());
    CHECK(got->checkpoint_id == 2);
    CHECK(got->clock == 20);
    CHECK(got->samples == 4);
    CHECK(got->correct == 3);
    CHECK(got->accuracy == 0.75);
    CHECK(got->mean_loss == Approx(want_loss).epsilon(1e-5));

    std::ostringstream text;
    RequireOk(RunEvalCommand(options, text));
    INFO(text.str());
    CHECK(Contains(text.str(), "checkpoint 2 (clock 20, epoch 2)\n"));
    CHECK(Contains(text.str(), "test accuracy 0.7500 (3 of 4 samples), test loss "));

    options.json = true;
    std::ostringstream json;
    RequireOk(RunEvalCommand(options, json));
    const auto j = nlohmann::json::parse(json.str());
    CHECK(j["checkpoint"] == 2);
    CHECK(j["accuracy"] == 0.75);
    CHECK(j["samples"] == 4);
    CHECK(j["loss"].get<double>() == Approx(want_loss).epsilon(1e-5));
  }
  SECTION("the job's test_limit applies") {
    run.job.train.test_limit = 3;
    run.WriteScheduler({});  // saves the changed job
    options.data_dir = data;
    auto got = EvaluateCheckpoint(options);
    RequireOk(got.status());
    CHECK(got->samples == 3);
    CHECK(got->accuracy == 1.0);
  }
  SECTION("a test set that does not fit the model") {
    WriteTestSet(data, {{1, 2, 3, 4}}, {7});
    options.data_dir = data;
    auto got = EvaluateCheckpoint(options);
    CHECK(got.status().code() == StatusCode::kInvalidArgument);
    CHECK(Contains(got.status().message(), "8 classes but the model's output layer has 3"));
  }
}

}  // namespace
}  // namespace pst
