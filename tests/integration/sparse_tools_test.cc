// Integration tests of the user-facing tools on sparse jobs: `pstrain export`
// and `pstrain eval` of a sparse model trained on a real local cluster, on a
// small libsvm file the test writes itself (labels from a hidden logistic
// model over skewed ids, so some rows go untouched between checkpoints and
// checkpoints are real increments).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cli/checkpoint_model.h"
#include "common/npy.h"
#include "ps/rocksdb_param_store.h"
#include "tests/integration/harness.h"

namespace pst {
namespace {

using std::chrono::seconds;
using testing::CompleteCheckpoints;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::RunPstrain;

constexpr uint32_t kTrain = 32768;  // 512 steps of 64 per epoch with one worker
constexpr uint32_t kTest = 1024;
constexpr uint32_t kIds = 100000;

// `n` samples of 8 ids each, id = kIds * u^3 (small ids are frequent), label
// drawn from sigmoid(sum of hidden weights).
void WriteLibsvm(const std::string& path, uint32_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::ofstream out(path);
  for (uint32_t i = 0; i < n; ++i) {
    std::vector<uint64_t> ids;
    for (int k = 0; k < 8; ++k) ids.push_back(uint64_t(kIds * std::pow(u(rng), 3.0)));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    double z = -0.3;
    for (uint64_t id : ids) z += double(int(id * 2654435761u % 7) - 3) * 0.6;
    out << (u(rng) < 1.0 / (1.0 + std::exp(-z)) ? 1 : 0);
    for (uint64_t id : ids) out << ' ' << id << ":1";
    out << '\n';
  }
}

// Trains an FM (Adagrad, BSP, 1 worker, 2 PS) for 2 epochs with a checkpoint
// every 8 steps (all kept) and eviction of rows untouched for 24 steps, so the
// checkpoints form chains with tombstones. Returns the run directory.
std::string TrainFm(const std::string& dir, nlohmann::json* result) {
  WriteLibsvm(dir + "/train.svm", kTrain, 1);
  WriteLibsvm(dir + "/test.svm", kTest, 2);
  const std::string job = dir + "/job.toml";
  std::ofstream(job) << "[data]\nformat = \"libsvm\"\ntrain = \"" << dir
                     << "/train.svm\"\ntest = \"" << dir << "/test.svm\"\n"
                     << "[model]\nkind = \"fm\"\nfactors = 4\n"
                     << "[optimizer]\nkind = \"adagrad\"\nlearning_rate = 0.1\n"
                     << "[train]\nbatch_size = 64\nbatches_per_shard = 8\nepochs = 4\n"
                     << "[checkpoint]\nevery_steps = 8\nkeep = 1000\n"
                     << "[cluster]\nservers = 2\nworkers = 1\n"
                     << "[[sparse_table]]\nname = \"fm.rows\"\nevict_after_steps = 48\n";
  const std::string run_dir = dir + "/run";
  auto r = RunPstrain({"pstrain", "launch", "--job", job, "--run-dir", run_dir}, seconds(300));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  testing::RequireNoOrphans(run_dir);
  *result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  return run_dir;
}

// The standard output of `command` (run by /bin/sh); fails the test on a
// non-zero exit.
std::string Shell(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  const int rc = ::pclose(p);
  INFO(command << "\n" << out);
  REQUIRE(rc == 0);
  return out;
}

// The rows of sparse table 0 of checkpoint `id`, replayed here from every
// shard's store (full checkpoint, then each increment: tombstones, then rows),
// independently of the PS's and the tools' replay. Sets *chain to the
// longest chain of increments seen and *tombstones to the tombstones read.
std::map<uint64_t, std::vector<float>> ReplayRows(const std::string& run_dir, uint64_t id,
                                                  uint32_t num_shards, uint32_t* chain,
                                                  uint64_t* tombstones) {
  std::map<uint64_t, std::vector<float>> rows;
  for (uint32_t k = 0; k < num_shards; ++k) {
    RocksDbParamStoreOptions o;
    o.path = PsStateDir(run_dir, k);
    o.read_only = true;
    auto store = RocksDbParamStore::Open(o);
    REQUIRE(store.ok());
    auto read = (*store)->ReadWrittenCheckpoint(id);
    REQUIRE(read.ok());
    const CheckpointManifest& m = read->first;
    REQUIRE(m.sparse_tables.size() == 1);
    *chain = std::max(*chain, m.sparse_chain);
    const uint32_t dim = m.sparse_tables[0].dim;
    const uint64_t stride = m.sparse_tables[0].stride();
    Status s = (*store)->ReadSparseChain(id, false, [&](const SparseChainPiece& p) {
      for (uint64_t gone : p.rows.removed) rows.erase(gone);
      *tombstones += p.rows.removed.size();
      for (size_t i = 0; i < p.rows.ids.size(); ++i)
        rows[p.rows.ids[i]].assign(p.rows.data.begin() + i * stride,
                                   p.rows.data.begin() + i * stride + dim);
      return Status::OK();
    });
    REQUIRE(s.ok());
  }
  return rows;
}

TEST_CASE("Sparse tools: export writes sorted ids and rows that numpy reads, equal to the "
          "checkpoint's replayed chain",
          "[integration]") {
  const std::string dir = MakeTempDir();
  nlohmann::json result;
  const std::string run_dir = TrainFm(dir, &result);
  const std::vector<CheckpointRecord> records = CompleteCheckpoints(run_dir);
  REQUIRE(records.size() >= 4);

  // The newest checkpoint that is an increment on some shard: export has to
  // replay a chain to get it right.
  uint32_t chain = 0;
  uint64_t tombstones = 0;
  std::map<uint64_t, std::vector<float>> want;
  const CheckpointRecord* picked = nullptr;
  for (auto it = records.rbegin(); it != records.rend() && chain == 0; ++it) {
    tombstones = 0;
    want = ReplayRows(run_dir, it->id, it->num_shards, &chain, &tombstones);
    picked = &*it;
  }
  REQUIRE(chain > 0);
  INFO("checkpoint " << picked->id << ", chain " << chain << ", tombstones " << tombstones);
  CHECK(tombstones > 0);  // eviction happened and the chain recorded it
  REQUIRE(want.size() > 100);

  const std::string out = dir + "/export";
  auto ex = RunPstrain(
      {"pstrain", "export", run_dir, "--checkpoint", std::to_string(picked->id), "--out", out},
      seconds(60));
  INFO(ex.output);
  REQUIRE(ex.exit_code == 0);
  CHECK(ex.output.find("1 sparse tables with " + std::to_string(want.size()) + " rows") !=
        std::string::npos);

  auto ids = ReadNpy(out + "/fm.rows.ids.npy");
  auto rows = ReadNpy(out + "/fm.rows.rows.npy");
  auto dense = ReadNpy(out + "/fm.dense.npy");
  REQUIRE(ids.ok());
  REQUIRE(rows.ok());
  REQUIRE(dense.ok());
  REQUIRE(ids->type == NpyType::kUint64);
  REQUIRE(rows->type == NpyType::kFloat32);
  REQUIRE(ids->shape == std::vector<uint64_t>{want.size()});
  REQUIRE(rows->shape == std::vector<uint64_t>{want.size(), 5});
  CHECK(dense->shape == std::vector<uint64_t>{1});  // libsvm: no dense features, the bias
  CHECK(std::is_sorted(ids->u64.begin(), ids->u64.end()));
  size_t i = 0;
  for (const auto& [id, row] : want) {
    REQUIRE(ids->u64[i] == id);
    CHECK(std::vector<float>(rows->f32.begin() + i * 5, rows->f32.begin() + (i + 1) * 5) == row);
    ++i;
  }
  auto manifest = nlohmann::json::parse(ReadFile(out + "/model.json"));
  CHECK(manifest["checkpoint"] == picked->id);
  CHECK(manifest["model"]["kind"] == "fm");
  CHECK(manifest["tables"][0]["rows"] == want.size());

  // numpy reads the files as they are.
  double sum = 0;
  for (float v : rows->f32) sum += v;
  const std::string script =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "ids = np.load(d + '/fm.rows.ids.npy'); rows = np.load(d + '/fm.rows.rows.npy')\n"
      "assert ids.dtype == np.uint64 and rows.dtype == np.float32, (ids.dtype, rows.dtype)\n"
      "assert rows.shape == (ids.shape[0], 5) and (np.diff(ids.astype(np.float64)) > 0).all()\n"
      "print(ids.shape[0], repr(float(rows.astype(np.float64).sum())))\n";
  std::ofstream(dir + "/check.py") << script;
  const std::string py = Shell("timeout 60 /usr/bin/python3 " + dir + "/check.py " + out);
  INFO(py);
  std::istringstream line(py);
  uint64_t n = 0;
  double py_sum = 0;
  line >> n >> py_sum;
  CHECK(n == want.size());
  CHECK(py_sum == Approx(sum).epsilon(1e-9));
}

}  // namespace
}  // namespace pst
