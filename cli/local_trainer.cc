#include "cli/local_trainer.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "common/consistency.h"
#include "common/key_range.h"
#include "ps/shard.h"
#include "scheduler/shard_pool.h"
#include "worker/epoch_order.h"
#include "worker/gradient_clip.h"
#include "worker/mlp.h"

namespace pst {
namespace {

struct VirtualWorker {
  bool active = false;
  bool done = false;
  uint32_t epoch = 0;
  uint64_t next = 0, end = 0;
  uint64_t idle_until = 0;
};

}  // namespace

StatusOr<LocalResult> TrainLocal(const JobSpec& job, const Dataset& train, const Dataset& test,
                                 const LocalOptions& options) {
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));
  if (options.num_workers == 0) return Status::InvalidArgument("need at least one worker");
  if (!ConsistencyPolicy(job.train).lockstep())
    return Status::InvalidArgument(
        "the in-process trainer runs the BSP schedule only; use consistency bsp");
  if (train.num_samples == 0) return Status::InvalidArgument("the training set is empty");
  SetBlasThreads(options.blas_threads);
  PST_ASSIGN_OR_RETURN(Mlp mlp, Mlp::Create(job.model));
  const uint64_t total = mlp.layout().total();
  PST_ASSIGN_OR_RETURN(auto shard, Shard::Create(MlpTables(job.model, mlp.layout(), job.optimizer),
                                                 job.train, KeyRange{0, total}, options.num_workers,
                                                 /*max_clocks_ahead=*/2));
  const std::vector<KeyRange> blocks = shard->blocks();
  // The same blocking as the workers' pipelined passes, so results match bit for bit.
  MlpHooks hooks;
  hooks.block_keys = BlockKeys(job.train);
  const TrainSpec& t = job.train;
  ShardPool pool(train.num_samples, t.batch_size, t.batches_per_shard, t.epochs);

  LocalResult result;
  std::vector<float> params(total), grad(total);
  std::vector<float> batch_x(size_t{t.batch_size} * train.num_features);
  std::vector<int32_t> batch_y(t.batch_size);
  std::vector<VirtualWorker> workers(options.num_workers);
  std::vector<uint32_t> order;
  uint32_t order_epoch = UINT32_MAX;
  std::vector<double> epoch_loss(t.epochs, 0.0);
  std::vector<uint64_t> epoch_samples(t.epochs, 0);
  using Clock = std::chrono::steady_clock;
  auto epoch_start = Clock::now();
  double eval_seconds = 0;
  const auto train_start = Clock::now();

  auto close_epoch = [&](uint32_t e) {
    LocalEpoch le;
    le.epoch = e;
    le.samples = epoch_samples[e];
    le.train_loss = le.samples ? epoch_loss[e] / le.samples : 0.0;
    le.seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    const auto eval_start = Clock::now();
    if (options.evaluate && test.num_samples > 0) {
      std::copy(shard->values({0, total}), shard->values({0, total}) + total, params.begin());
      le.test_accuracy = double(mlp.CountCorrect(params.data(), test.features.data(),
                                                 test.labels.data(), test.num_samples)) /
                         test.num_samples;
    }
    eval_seconds += std::chrono::duration<double>(Clock::now() - eval_start).count();
    result.epochs.push_back(le);
    if (options.on_epoch) options.on_epoch(le);
    epoch_start = Clock::now();
  };

  for (uint64_t clock = 0;; ++clock) {
    bool any_left = false;
    for (VirtualWorker& w : workers) {
      if (!w.done && !w.active && clock >= w.idle_until) {
        const ShardGrant g = pool.Next(clock);
        if (g.evaluate) close_epoch(g.eval_epoch);
        switch (g.kind) {
          case ShardGrant::Kind::kLease:
            w.active = true;
            w.epoch = g.epoch;
            w.next = g.sample_begin;
            w.end = g.sample_end;
            break;
          case ShardGrant::Kind::kIdle: w.idle_until = g.idle_until; break;
          case ShardGrant::Kind::kDone: w.done = true; break;
          case ShardGrant::Kind::kNone: break;  // only EvaluationOnly answers it
        }
      }
      any_left |= !w.done;
    }
    if (!any_left) break;
    // The model every virtual worker reads at this clock (version == clock).
    std::copy(shard->values({0, total}), shard->values({0, total}) + total, params.begin());
    for (uint32_t rank = 0; rank < workers.size(); ++rank) {
      VirtualWorker& w = workers[rank];
      if (w.done) continue;
      if (!w.active) {
        PST_RETURN_IF_ERROR(shard->Push(rank, clock, {}, 0, nullptr, 0));
        continue;
      }
      if (order_epoch != w.epoch) {
        order = EpochOrder(train.num_samples, job.model.seed, w.epoch);
        order_epoch = w.epoch;
      }
      const size_t n = std::min<uint64_t>(t.batch_size, w.end - w.next);
      for (size_t i = 0; i < n; ++i) {
        const uint32_t s = order[w.next + i];
        std::copy(train.row(s), train.row(s) + train.num_features,
                  batch_x.begin() + i * train.num_features);
        batch_y[i] = train.labels[s];
      }
      PST_ASSIGN_OR_RETURN(const double loss, mlp.ForwardBackward(params.data(), batch_x.data(),
                                                                  batch_y.data(), n, grad.data(),
                                                                  hooks));
      epoch_loss[w.epoch] += loss;
      ClipGradientSum(grad.data(), total, n, job.optimizer.clip_norm);
      epoch_samples[w.epoch] += n;
      result.samples += n;
      for (const KeyRange& b : blocks)
        PST_RETURN_IF_ERROR(shard->Push(rank, clock, b, static_cast<uint32_t>(n),
                                        grad.data() + b.begin, b.size(),
                                        DataOrder(w.epoch, train.num_samples, w.next)));
      w.next += n;
      if (w.next >= w.end) w.active = false;
    }
  }
  result.train_seconds =
      std::chrono::duration<double>(Clock::now() - train_start).count() - eval_seconds;
  result.params.assign(shard->values({0, total}), shard->values({0, total}) + total);
  return result;
}

}  // namespace pst
