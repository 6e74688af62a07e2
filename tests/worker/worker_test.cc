// pst::Worker in one process with a real Scheduler and real Servers (each on
// a thread with its own ZeroMQ context, over loopback TCP port 0): the whole
// training logic of a worker, without processes.
#include "worker/worker.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/local_trainer.h"
#include "common/job_spec.h"
#include "common/model_file.h"
#include "tests/inprocess_cluster.h"
#include "worker/idx_reader.h"
#include "worker/mlp.h"

namespace pst {
namespace {

using std::chrono::milliseconds;

const char* const kDataDir = "/usr/share/datasets/fashion-mnist";

JobSpec SmallJob(uint32_t servers, uint32_t workers) {
  JobSpec job;
  job.model.layer_sizes = {784, 32, 10};
  job.num_servers = servers;
  job.num_workers = workers;
  job.train.epochs = 2;
  job.train.train_limit = 1024;
  job.train.test_limit = 500;
  job.train.batch_size = 32;
  job.train.batches_per_shard = 4;
  job.checkpoint.every_steps = 0;
  job.data_dir = kDataDir;
  return job;
}

std::string TempPrefix() {
  char dir[] = "/tmp/pst-worker-test-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  return std::string(dir) + "/model";
}

// Runs `job` with every worker a pst::Worker in this process and returns the
// final model the last evaluating worker saved.
std::vector<float> TrainInProcess(const JobSpec& job) {
  const std::string prefix = TempPrefix();
  auto cluster = testing::InProcessCluster::Start(job, job.num_workers, prefix);
  REQUIRE(cluster.ok());
  const Status done = (*cluster)->WaitWorkersThenAll(milliseconds(120000));
  INFO(done.ToString());
  REQUIRE(done.ok());
  std::vector<float> params;
  int saved = 0;
  for (uint32_t i = 0; i < job.num_workers; ++i) {
    const std::string path = prefix + std::to_string(i) + ".safetensors";
    auto model = LoadModel(path);
    if (!model.ok()) continue;
    ++saved;
    params = model->params;
    std::remove(path.c_str());
  }
  std::remove(prefix.substr(0, prefix.rfind('/')).c_str());
  CHECK(saved == 1);  // only the worker that ran the final evaluation saves
  return params;
}

LocalResult TrainReference(const JobSpec& job) {
  auto train = LoadFashionMnist(kDataDir, true, job.train.train_limit);
  auto test = LoadFashionMnist(kDataDir, false, job.train.test_limit);
  REQUIRE(train.ok());
  REQUIRE(test.ok());
  LocalOptions lo;
  lo.num_workers = job.num_workers;
  auto local = TrainLocal(job, *train, *test, lo);
  REQUIRE(local.ok());
  return std::move(local).value();
}

TEST_CASE("Worker: one in-process worker and PS reproduce the local BSP run bit for bit",
          "[worker]") {
  JobSpec job = SmallJob(1, 1);
  SECTION("one block: the step reads the pulled answer in place") {}
  SECTION("many blocks: the pass waits for each block and pushes each as it is done") {
    job.train.block_keys = 4096;
  }
  SECTION("clipped gradients are pushed after the pass") { job.optimizer.clip_norm = 0.05f; }
  const std::vector<float> cluster = TrainInProcess(job);
  const LocalResult local = TrainReference(job);
  REQUIRE(cluster.size() == local.params.size());
  CHECK(std::memcmp(cluster.data(), local.params.data(), cluster.size() * sizeof(float)) == 0);
  // It did train.
  CHECK(local.epochs.back().test_accuracy > 0.5);
}

TEST_CASE("Worker: two in-process workers and two PS match the local BSP run", "[worker]") {
  const JobSpec job = SmallJob(2, 2);
  const std::vector<float> cluster = TrainInProcess(job);
  const LocalResult local = TrainReference(job);
  REQUIRE(cluster.size() == local.params.size());
  double max_diff = 0;
  for (size_t i = 0; i < cluster.size(); ++i)
    max_diff = std::max(max_diff, double(std::abs(cluster[i] - local.params[i])));
  // Two workers' sums are added in arrival order: equal up to rounding.
  CHECK(max_diff <= 1e-4);
}

TEST_CASE("Worker: ASP and SSP workers in one process train and finish", "[worker]") {
  JobSpec job = SmallJob(1, 2);
  SECTION("ASP") { job.train.consistency = Consistency::kAsp; }
  SECTION("SSP with prefetch") {
    job.train.consistency = Consistency::kSsp;
    job.train.staleness = 1;
  }
  const std::vector<float> params = TrainInProcess(job);
  REQUIRE(!params.empty());
  // The saved model is the trained one: it classifies the test set well.
  auto test = LoadFashionMnist(kDataDir, false, job.train.test_limit);
  REQUIRE(test.ok());
  auto mlp = Mlp::Create(job.model);
  REQUIRE(mlp.ok());
  const double accuracy = double(mlp->CountCorrect(params.data(), test->features.data(),
                                                   test->labels.data(), test->num_samples)) /
                          test->num_samples;
  CHECK(accuracy > 0.5);
}

TEST_CASE("Worker: Create refuses bad options", "[worker]") {
  zmq::context_t ctx(1);
  WorkerOptions o;
  CHECK(Worker::Create(ctx, o).status().code() == StatusCode::kInvalidArgument);
  o.scheduler_endpoint = "tcp://127.0.0.1:1";
  CHECK(Worker::Create(ctx, o).ok());
  o.lease_wait_retry = milliseconds(0);
  CHECK(Worker::Create(ctx, o).status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
