#include "cli/local_sparse_trainer.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "cli/local_sparse_servers.h"
#include "common/consistency.h"
#include "common/sparse_model_tables.h"
#include "scheduler/shard_pool.h"
#include "worker/data/sparse_file_index.h"
#include "worker/data/sparse_reader.h"
#include "worker/epoch_order.h"
#include "worker/mlp.h"
#include "worker/models/model_factory.h"
#include "worker/models/unique_ids.h"
#include "worker/sparse_evaluation.h"
#include "worker/sparse_work.h"

namespace pst {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A worker of the BSP schedule: its lease and the reader of it.
struct VirtualWorker {
  bool done = false;
  uint64_t idle_until = 0;
  std::unique_ptr<SparseReader> reader;  // null: no lease
  uint32_t epoch = 0;
  uint64_t next = 0, end = 0;  // records of the lease
};

// One training step of a virtual worker, as SparseWork::Run does it.
class Stepper {
 public:
  Stepper(SparseModel& model, LocalSparseServers& servers)
      : model_(model), servers_(servers), rows_(servers.num_sparse_tables()),
        dense_grad_(servers.dense_keys()) {
    uint64_t offset = 0;
    for (const TableSpec& t : model.tables()) {
      if (t.kind != TableKind::kDense) continue;
      dense_offsets_.push_back(offset);
      offset += t.size;
    }
  }

  // Fills params with the rows of ids (at min_version) and the dense values.
  Status Pull(const UniqueIds& ids, uint64_t min_version, ModelParams* params) {
    params->sparse.clear();
    params->dense.clear();
    for (size_t t = 0; t < rows_.size(); ++t) {
      rows_[t].resize(ids.size() * servers_.dim(t));
      PST_RETURN_IF_ERROR(servers_.PullSparse(t, ids.ids, min_version, rows_[t].data()));
      params->sparse.push_back({&ids, rows_[t].data()});
    }
    for (uint64_t offset : dense_offsets_) params->dense.push_back(servers_.dense_values() + offset);
    return Status::OK();
  }

  // Trains the next n records of w's lease at `clock`; returns the loss sum.
  StatusOr<double> Step(uint32_t rank, uint64_t clock, uint64_t records, VirtualWorker& w,
                        size_t n) {
    PST_ASSIGN_OR_RETURN(const size_t got, w.reader->ReadBatch(n, &batch_));
    if (got != n) return Status::DataLoss("the training file changed while training");
    DedupIds(batch_.ids, &ids_);
    ModelParams params;
    PST_RETURN_IF_ERROR(Pull(ids_, clock, &params));
    PST_ASSIGN_OR_RETURN(const double loss, model_.ForwardBackward(batch_, params, &grads_));
    for (size_t t = 0; t < grads_.dense.size(); ++t)
      std::copy(grads_.dense[t].begin(), grads_.dense[t].end(),
                dense_grad_.begin() + static_cast<ptrdiff_t>(dense_offsets_[t]));
    PST_RETURN_IF_ERROR(servers_.Push(rank, clock, ids_.ids, grads_.sparse, dense_grad_.data(),
                                      static_cast<uint32_t>(n),
                                      DataOrder(w.epoch, records, w.next)));
    w.next += n;
    return loss;
  }

 private:
  SparseModel& model_;
  LocalSparseServers& servers_;
  std::vector<uint64_t> dense_offsets_;
  SparseBatch batch_;
  UniqueIds ids_;
  std::vector<std::vector<float>> rows_;
  ModelGrads grads_;
  std::vector<float> dense_grad_;
};

}  // namespace

StatusOr<SparseLocalResult> TrainSparseLocal(const JobSpec& job,
                                             const SparseLocalOptions& options) {
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));
  if (!job.sparse()) return Status::InvalidArgument("in-process sparse trainer: not a sparse job");
  if (!ConsistencyPolicy(job.train).lockstep())
    return Status::InvalidArgument(
        "the in-process trainer runs the BSP schedule only; use consistency bsp");
  if (options.num_workers == 0) return Status::InvalidArgument("need at least one worker");
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseModel> model,
                       CreateSparseModel(SparseModelConfigFor(job)));
  PST_ASSIGN_OR_RETURN(std::vector<TableSpec> specs, SparseModelTables(job));
  PST_ASSIGN_OR_RETURN(auto servers, LocalSparseServers::Create(specs, job, options.num_workers));
  SetBlasThreads(1);
  const SparseReaderOptions reader_options = SparseReaderOptionsFor(job.sparse_data);
  const TrainSpec& t = job.train;
  PST_ASSIGN_OR_RETURN(
      SparseFileIndex index,
      SparseFileIndex::Build(job.sparse_data.train, reader_options,
                             uint64_t{t.batch_size} * t.batches_per_shard));
  ShardPool pool(index.records(), t.batch_size, t.batches_per_shard, t.epochs);
  Stepper stepper(*model, *servers);

  SparseLocalResult result;
  result.epochs.resize(t.epochs);
  std::vector<double> loss(t.epochs, 0.0);
  auto epoch_start = SteadyClock::now();
  double train_seconds = 0;
  // The epoch the scheduler closes at this clock: the model is at version == clock.
  auto close_epoch = [&](uint32_t e) -> Status {
    SparseLocalEpoch& out = result.epochs[e];
    out.epoch = e;
    out.seconds = std::chrono::duration<double>(SteadyClock::now() - epoch_start).count();
    train_seconds += out.seconds;
    out.train_loss = out.samples ? loss[e] / double(out.samples) : 0;
    result.samples += out.samples;
    if (options.evaluate_every_epoch || e + 1 == t.epochs) {
      PST_ASSIGN_OR_RETURN(auto test, SparseReader::Open({job.sparse_data.test}, reader_options));
      UniqueIds ids;
      ModelParams params;
      PST_ASSIGN_OR_RETURN(
          const SparseEvaluation ev,
          EvaluateSparseModel(*model, *test, job.sparse_data.test, SparseWorkOptions{}.eval_batch,
                              &ids,
                              [&](const UniqueIds& unique, ModelParams* p) {
                                return stepper.Pull(unique, 0, p);
                              },
                              &params));
      out.evaluated = true;
      out.test_auc = ev.auc;
      out.test_log_loss = ev.log_loss;
      out.test_accuracy = double(ev.correct) / double(ev.samples);
      result.test_auc = ev.auc;
    }
    if (options.on_epoch) options.on_epoch(out);
    epoch_start = SteadyClock::now();
    return Status::OK();
  };

  std::vector<VirtualWorker> workers(options.num_workers);
  for (uint64_t clock = 0;; ++clock) {
    bool any_left = false;
    for (VirtualWorker& w : workers) {
      if (!w.done && !w.reader && clock >= w.idle_until) {
        const ShardGrant g = pool.Next(clock);
        if (g.evaluate) PST_RETURN_IF_ERROR(close_epoch(g.eval_epoch));
        if (g.kind == ShardGrant::Kind::kLease) {
          PST_ASSIGN_OR_RETURN(w.reader, index.OpenAt(g.sample_begin));
          w.epoch = g.epoch;
          w.next = g.sample_begin;
          w.end = g.sample_end;
        } else if (g.kind == ShardGrant::Kind::kIdle) {
          w.idle_until = g.idle_until;
        } else if (g.kind == ShardGrant::Kind::kDone) {
          w.done = true;
        }
      }
      any_left |= !w.done;
    }
    if (!any_left) break;
    for (uint32_t rank = 0; rank < workers.size(); ++rank) {
      VirtualWorker& w = workers[rank];
      if (w.done) continue;
      if (!w.reader) {
        PST_RETURN_IF_ERROR(servers->PushEmpty(rank, clock));
        continue;
      }
      const size_t n = std::min<uint64_t>(t.batch_size, w.end - w.next);
      const uint32_t epoch = w.epoch;
      PST_ASSIGN_OR_RETURN(const double l, stepper.Step(rank, clock, index.records(), w, n));
      loss[epoch] += l;
      result.epochs[epoch].samples += n;
      if (w.next >= w.end) w.reader.reset();
    }
  }
  result.train_seconds = train_seconds;
  for (size_t t = 0; t < servers->num_sparse_tables(); ++t) {
    const SparseTableStats s = servers->stats(t);
    result.tables.push_back({servers->name(t), s.rows, s.evicted, s.unadmitted_updates});
  }
  return result;
}

}  // namespace pst
