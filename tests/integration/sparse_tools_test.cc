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
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
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
  CHECK(result["model"].is_null());  // no model file: the model is in the checkpoints
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


// Computes, in numpy, an FM's test AUC (ties count one half), log-loss (p
// clamped to [1e-7, 1 - 1e-7]) and accuracy at 0.5 from an export directory
// and a libsvm file whose ids all have rows: an implementation that shares
// nothing with pstrain's.
constexpr char kNumpyFmEval[] = R"(
import numpy as np, sys
d, path = sys.argv[1], sys.argv[2]
ids = np.load(d + '/fm.rows.ids.npy'); rows = np.load(d + '/fm.rows.rows.npy').astype(np.float64)
bias = float(np.load(d + '/fm.dense.npy')[0])
ps, ys = [], []
for line in open(path):
    tok = line.split()
    ys.append(float(tok[0]))
    feats = [(int(t.split(':')[0]), float(t.split(':')[1])) for t in tok[1:]]
    at = np.searchsorted(ids, np.array([f for f, _ in feats], dtype=np.uint64))
    assert (ids[at] == np.array([f for f, _ in feats], dtype=np.uint64)).all()
    x = np.array([v for _, v in feats])
    r = rows[at]
    vx = r[:, 1:] * x[:, None]
    z = bias + (r[:, 0] * x).sum() + 0.5 * ((vx.sum(0) ** 2).sum() - (vx ** 2).sum())
    ps.append(np.float32(1.0 / (1.0 + np.exp(-z))))
p = np.array(ps, dtype=np.float32).astype(np.float64); y = np.array(ys)
order = np.argsort(p, kind='stable'); ranks = np.empty(len(p))
sp = p[order]; i = 0
while i < len(sp):
    j = i
    while j + 1 < len(sp) and sp[j + 1] == sp[i]: j += 1
    ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
    i = j + 1
npos = (y == 1).sum(); nneg = len(y) - npos
auc = (ranks[y == 1].sum() - npos * (npos + 1) / 2.0) / (npos * nneg)
q = np.clip(p, 1e-7, 1 - 1e-7)
loss = -np.mean(np.where(y == 1, np.log(q), np.log(1 - q)))
acc = np.mean((p >= 0.5) == (y == 1))
print(repr(float(auc)), repr(float(loss)), repr(float(acc)), len(y))
)";

TEST_CASE("Sparse tools: eval gives the workers' AUC, log-loss and accuracy, equal to an "
          "independent computation from the export",
          "[integration]") {
  const std::string dir = MakeTempDir();
  nlohmann::json result;
  const std::string run_dir = TrainFm(dir, &result);
  const CheckpointRecord last = CompleteCheckpoints(run_dir).back();

  // The job's test file. The numbers are not compared with result.json's:
  // no checkpoint is taken at the last clock, and which clock the latest one
  // has depends on timing; the exact check is the numpy one below.
  auto ev = RunPstrain({"pstrain", "eval", run_dir, "--json"}, seconds(60));
  INFO(ev.output);
  REQUIRE(ev.exit_code == 0);
  auto j = nlohmann::json::parse(testing::LastLine(ev.output));
  CHECK(j["checkpoint"] == last.id);
  CHECK(j["samples"] == kTest);
  CHECK(j["auc"].get<double>() > 0.6);
  CHECK(j["log_loss"].get<double>() < std::log(2.0));

  // A test file of ids that all have rows, so numpy can compute the FM from
  // the export alone; labels from the hidden model.
  const std::string out = dir + "/export";
  auto ex = RunPstrain({"pstrain", "export", run_dir, "--checkpoint", std::to_string(last.id),
                        "--out", out},
                       seconds(60));
  INFO(ex.output);
  REQUIRE(ex.exit_code == 0);
  auto ids = ReadNpy(out + "/fm.rows.ids.npy");
  REQUIRE(ids.ok());
  REQUIRE(ids->u64.size() > 100);
  {
    std::mt19937_64 rng(5);
    std::ofstream known(dir + "/known.svm");
    for (int i = 0; i < 3000; ++i) {
      std::vector<uint64_t> f;
      for (int k = 0; k < 6; ++k) f.push_back(ids->u64[rng() % ids->u64.size()]);
      std::sort(f.begin(), f.end());
      f.erase(std::unique(f.begin(), f.end()), f.end());
      double z = -0.3;
      for (uint64_t id : f) z += double(int(id * 2654435761u % 7) - 3) * 0.6;
      known << (double(rng() % 10000) / 10000.0 < 1.0 / (1.0 + std::exp(-z)) ? 1 : 0);
      for (uint64_t id : f) known << ' ' << id << ':' << (1 + rng() % 3) * 0.5;
      known << '\n';
    }
  }
  auto ek = RunPstrain({"pstrain", "eval", run_dir, "--checkpoint", std::to_string(last.id),
                        "--test", dir + "/known.svm", "--json"},
                       seconds(60));
  INFO(ek.output);
  REQUIRE(ek.exit_code == 0);
  auto k = nlohmann::json::parse(testing::LastLine(ek.output));
  std::ofstream(dir + "/fm_eval.py") << kNumpyFmEval;
  std::istringstream py(Shell("timeout 60 /usr/bin/python3 " + dir + "/fm_eval.py " + out + " " +
                              dir + "/known.svm"));
  double auc = 0, loss = 0, accuracy = 0;
  uint64_t n = 0;
  py >> auc >> loss >> accuracy >> n;
  CHECK(n == 3000);
  CHECK(k["samples"] == 3000);
  // Same float32 probabilities up to the order of a double sum: AUC within
  // one flipped pair of near-equal scores, loss and accuracy to rounding.
  CHECK(std::abs(k["auc"].get<double>() - auc) < 1e-5);
  CHECK(std::abs(k["log_loss"].get<double>() - loss) < 1e-6);
  CHECK(std::abs(k["accuracy"].get<double>() - accuracy) < 1e-3);

  auto bad = RunPstrain({"pstrain", "eval", run_dir, "--test", dir + "/none.svm"}, seconds(30));
  CHECK(bad.exit_code != 0);
  CHECK(bad.output.find("none.svm") != std::string::npos);
}

// The test AUC of every epoch in `pstrain local`'s output.
std::vector<double> LocalAucs(const std::string& output) {
  std::vector<double> aucs;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find("test AUC ");
    if (line.rfind("epoch ", 0) == 0 && at != std::string::npos)
      aucs.push_back(std::stod(line.substr(at + 9)));
  }
  return aucs;
}

TEST_CASE("Sparse tools: pstrain local trains a sparse job as its BSP cluster does, workers and "
          "eviction included",
          "[integration]") {
  const std::string dir = MakeTempDir();
  WriteLibsvm(dir + "/train.svm", kTrain, 1);
  WriteLibsvm(dir + "/test.svm", kTest, 2);
  const std::string job = dir + "/job.toml";
  // Rows untouched for 16 clocks are evicted (about 170 clocks per epoch with
  // 3 workers), so the rows of rare ids come and go during training.
  std::ofstream(job) << "[data]\nformat = \"libsvm\"\ntrain = \"" << dir
                     << "/train.svm\"\ntest = \"" << dir << "/test.svm\"\n"
                     << "[model]\nkind = \"fm\"\nfactors = 4\n"
                     << "[optimizer]\nkind = \"adagrad\"\nlearning_rate = 0.1\n"
                     << "[train]\nbatch_size = 64\nbatches_per_shard = 8\nepochs = 2\n"
                     << "[checkpoint]\nevery_steps = 0\n"
                     << "[cluster]\nservers = 2\nworkers = 3\n"
                     << "[[sparse_table]]\nname = \"fm.rows\"\nevict_after_steps = 16\n";
  auto local = RunPstrain({"pstrain", "local", "--job", job}, seconds(120));
  INFO(local.output);
  REQUIRE(local.exit_code == 0);
  CHECK(local.output.find("(2 PS + 3 worker(s), BSP)") != std::string::npos);
  const std::vector<double> aucs = LocalAucs(local.output);
  REQUIRE(aucs.size() == 2);
  CHECK(aucs[1] > 0.6);  // the hidden model's ids are learnt
  CHECK(testing::LastLine(local.output).rfind("final test AUC: ", 0) == 0);
  std::smatch evicted;
  REQUIRE(std::regex_search(local.output, evicted,
                            std::regex("table fm.rows: [0-9]+ rows, ([0-9]+) evicted")));
  CHECK(std::stoull(evicted[1]) > 0);

  const std::string run_dir = dir + "/run";
  auto launch = RunPstrain({"pstrain", "launch", "--job", job, "--run-dir", run_dir}, seconds(300));
  INFO(launch.output);
  REQUIRE(launch.exit_code == 0);
  testing::RequireNoOrphans(run_dir);
  const auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  REQUIRE(result["epochs"].size() == 2);
  // The same tables, rules, eviction, model, batches and sums in the same
  // order: the same model, so the same AUC to the digits printed.
  for (size_t e = 0; e < 2; ++e)
    CHECK(fmt::format("{:.4f}", result["epochs"][e]["test_auc"].get<double>()) ==
          fmt::format("{:.4f}", aucs[e]));
}

}  // namespace
}  // namespace pst
