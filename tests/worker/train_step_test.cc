// pst::TrainStep against a real in-process PS (and scheduler): steps at
// explicit clocks give the model that the same steps computed locally give.
#include "worker/train_step.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/job_spec.h"
#include "common/job_tables.h"
#include "common/table_spec.h"
#include "tests/inprocess_cluster.h"
#include "worker/dataset.h"
#include "worker/mlp.h"
#include "worker/ps_client.h"

namespace pst {
namespace {

using std::chrono::milliseconds;
constexpr float kLr = 0.25f;

JobSpec Job(uint64_t block_keys) {
  JobSpec job;
  job.model.layer_sizes = {32, 16, 3};  // 512 + 16 + 48 + 3 = 579 keys
  job.num_servers = 1;
  job.num_workers = 1;
  job.optimizer.kind = OptimizerKind::kSgd;
  job.optimizer.learning_rate = kLr;
  job.train.batch_size = 4;
  job.train.block_keys = block_keys;
  job.checkpoint.every_steps = 0;
  return job;
}

Dataset Data() {
  Dataset d;
  d.num_samples = 12;
  d.num_features = 32;
  d.num_classes = 3;
  for (size_t i = 0; i < d.num_samples * d.num_features; ++i)
    d.features.push_back(float((i * 7919) % 101) / 101.0f);
  for (size_t i = 0; i < d.num_samples; ++i) d.labels.push_back(int32_t(i % 3));
  return d;
}

// A 1-PS job in this process with the test as its worker: a PsClient to
// the PS, the job's MLP and a TrainStep on it.
struct Fixture {
  explicit Fixture(const JobSpec& job_spec, bool early_copy = false) : job(job_spec) {
    auto c = testing::InProcessCluster::Start(job, 0, "");
    REQUIRE(c.ok());
    cluster = std::move(c).value();
    auto w = cluster->JoinAsWorker();
    REQUIRE(w.ok());
    me = std::move(w).value();
    auto client = PsClient::Connect(cluster->client_ctx(), me.joined.servers, BlockKeys(job.train),
                                    me.joined.rank);
    REQUIRE(client.ok());
    ps = std::move(client).value();
    ps->set_generation(me.joined.generation);
    ps->set_pull_views(true);
    auto m = Mlp::Create(job.model);
    REQUIRE(m.ok());
    mlp = std::make_unique<Mlp>(std::move(m).value());
    TrainStepOptions so;
    so.train = job.train;
    so.timeout = milliseconds(10000);
    if (early_copy) so.early_copy_min_bytes = 0;
    auto s = TrainStep::Create(*mlp, so);
    REQUIRE(s.ok());
    step = std::move(s).value();
  }
  JobSpec job;
  std::unique_ptr<testing::InProcessCluster> cluster;
  testing::InProcessCluster::TestWorker me;
  std::unique_ptr<PsClient> ps;
  std::unique_ptr<Mlp> mlp;
  std::unique_ptr<TrainStep> step;
};

TEST_CASE("TrainStep: steps at explicit clocks update the PS as local SGD would", "[worker]") {
  uint64_t block_keys = 0;
  bool early_copy = false;
  SECTION("one block (pull views)") { block_keys = 0; }
  SECTION("blocks of 256 keys (waits and pushes per block)") { block_keys = 256; }
  SECTION("blocks of 256 keys, values taken as soon as they may land") {
    block_keys = 256;
    early_copy = true;
  }
  Fixture f(Job(block_keys), early_copy);
  const JobSpec& job = f.job;
  const Dataset data = Data();
  CHECK(f.ps->pull_views() == (block_keys == 0));

  // The same steps on a local copy of the initial model.
  auto tables = JobTables(job);
  REQUIRE(tables.ok());
  std::vector<float> local(f.mlp->num_keys()), grad(f.mlp->num_keys());
  InitDenseKeys(*tables, 0, local.size(), local.data());
  auto reference = Mlp::Create(job.model);
  REQUIRE(reference.ok());

  const uint32_t ids[3][4] = {{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}};
  for (uint64_t clock = 0; clock < 3; ++clock) {
    REQUIRE(f.step->Prepare(*f.ps, clock).ok());
    auto r = f.step->Run(*f.ps, f.me.joined.rank, clock, data, ids[clock], 4);
    REQUIRE(r.ok());
    std::vector<float> x;
    std::vector<int32_t> y;
    for (uint32_t s : ids[clock]) {
      x.insert(x.end(), data.row(s), data.row(s) + data.num_features);
      y.push_back(data.labels[s]);
    }
    MlpHooks hooks;
    hooks.block_keys = BlockKeys(job.train);
    auto loss = reference->ForwardBackward(local.data(), x.data(), y.data(), 4, grad.data(), hooks);
    REQUIRE(loss.ok());
    CHECK(r->loss_sum == *loss);  // the pass read exactly the local model
    for (size_t k = 0; k < local.size(); ++k) local[k] -= kLr * (grad[k] / 4.0f);
  }
  auto pulled = f.step->PulledModel(*f.ps, 3, 3);
  REQUIRE(pulled.ok());
  for (size_t k = 0; k < local.size(); ++k) CHECK((*pulled)[k] == Approx(local[k]).margin(1e-5));
}

TEST_CASE("TrainStep: Run needs its Prepare and a batch of 1 to batch_size samples", "[worker]") {
  Fixture f(Job(0));
  const Dataset data = Data();
  TrainStep& step = *f.step;
  PsClient& ps = *f.ps;
  const uint32_t ids[5] = {0, 1, 2, 3, 4};
  CHECK(step.Run(ps, 0, 0, data, ids, 4).status().code() == StatusCode::kFailedPrecondition);
  REQUIRE(step.Prepare(ps, 0).ok());
  CHECK(step.Run(ps, 0, 1, data, ids, 4).status().code() == StatusCode::kFailedPrecondition);
  REQUIRE(step.Prepare(ps, 0).ok());
  CHECK(step.Run(ps, 0, 0, data, ids, 5).status().code() == StatusCode::kInvalidArgument);
  REQUIRE(step.Prepare(ps, 0).ok());
  CHECK(step.Run(ps, 0, 0, data, ids, 0).status().code() == StatusCode::kInvalidArgument);
  TrainStepOptions bad;
  bad.train = f.job.train;
  bad.train.batch_size = 0;
  CHECK(TrainStep::Create(*f.mlp, bad).status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
