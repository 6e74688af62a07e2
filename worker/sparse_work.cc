#include "worker/sparse_work.h"

#include <algorithm>
#include <string>

#include "common/consistency.h"
#include "common/job_tables.h"
#include "common/key_range.h"
#include "common/log.h"
#include "common/slot_map.h"
#include "common/sparse_model_tables.h"
#include "worker/epoch_order.h"
#include "worker/sparse_evaluation.h"

namespace pst {

using SteadyClock = std::chrono::steady_clock;

SparseReaderOptions SparseReaderOptionsFor(const SparseDataSpec& data) {
  SparseReaderOptions o;
  o.format = data.format;
  o.criteo.num_dense = data.dense_features;
  o.criteo.num_categorical = data.categorical_fields;
  o.criteo.hash_seed = data.hash_seed;
  o.skip_bad_lines = data.skip_bad_lines;
  return o;
}

namespace {

// The worker computes on exactly the tables the servers hold: same names,
// kinds and shapes (initial values and optimizers are the servers' business).
Status CheckTables(const SparseModel& model, const JobSpec& job) {
  PST_ASSIGN_OR_RETURN(std::vector<TableSpec> job_tables, JobTables(job));
  const std::vector<TableSpec>& mine = model.tables();
  bool same = mine.size() == job_tables.size();
  for (size_t i = 0; same && i < mine.size(); ++i) {
    same = mine[i].name == job_tables[i].name && mine[i].kind == job_tables[i].kind &&
           mine[i].size == job_tables[i].size && mine[i].dim == job_tables[i].dim;
  }
  if (!same)
    return Status::FailedPrecondition(
        "the worker's model declares other tables than the job's servers hold");
  return Status::OK();
}

}  // namespace

SparseModelConfig SparseModelConfigFor(const JobSpec& job) {
  SparseModelConfig c;
  c.kind = job.model.kind == ModelKind::kLr   ? "lr"
           : job.model.kind == ModelKind::kFm ? "fm"
                                              : "dlrm";
  c.num_fields = SparseDataFields(job.sparse_data);
  c.num_dense = SparseDataDense(job.sparse_data);
  c.num_factors = job.model.factors;
  c.embedding_dim = job.model.embedding_dim;
  c.hidden = job.model.hidden;
  c.init_scale = job.model.init_scale;
  c.seed = job.model.seed;
  return c;
}

StatusOr<std::unique_ptr<SparseWork>> SparseWork::Create(zmq::context_t& ctx, Channel& scheduler,
                                                         const JobSpec& job,
                                                         const SparseWorkOptions& options) {
  if (!job.sparse()) return Status::InvalidArgument("sparse work: the job's model is the MLP");
  if (!options.slot_map)
    return Status::InvalidArgument("sparse work: no slot map (the scheduler sends it with the job)");
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseModel> model,
                       CreateSparseModel(SparseModelConfigFor(job)));
  PST_RETURN_IF_ERROR(CheckTables(*model, job));
  const SparseReaderOptions reader = SparseReaderOptionsFor(job.sparse_data);
  const uint64_t stride = uint64_t{job.train.batch_size} * job.train.batches_per_shard;
  PST_ASSIGN_OR_RETURN(SparseFileIndex index,
                       SparseFileIndex::Build(job.sparse_data.train, reader, stride));
  // The test file must be readable before training starts: any worker may be
  // asked to evaluate.
  PST_RETURN_IF_ERROR(SparseReader::Open({job.sparse_data.test}, reader).status());
  PST_LOG_INFO("{}: {} training records", job.sparse_data.train, index.records());
  return std::unique_ptr<SparseWork>(
      new SparseWork(ctx, scheduler, job, std::move(model), options, std::move(index)));
}

SparseWork::SparseWork(zmq::context_t& ctx, Channel& scheduler, const JobSpec& job,
                       std::unique_ptr<SparseModel> model, const SparseWorkOptions& options,
                       SparseFileIndex index)
    : ctx_(ctx),
      sched_(scheduler),
      job_(job),
      model_(std::move(model)),
      options_(options),
      index_(std::move(index)),
      reader_options_(SparseReaderOptionsFor(job.sparse_data)) {
  for (const TableSpec& t : model_->tables()) {
    if (t.kind == TableKind::kSparse) {
      sparse_.push_back({t.name, t.dim});
    } else {
      dense_offsets_.push_back(dense_keys_);
      dense_keys_ += t.size;
    }
  }
  rows_.resize(sparse_.size());
  dense_params_.resize(dense_keys_);
  dense_grad_ = std::make_shared<std::vector<float>>(dense_keys_);
}

Status SparseWork::Connect(const std::vector<ServerEntry>& servers, uint32_t generation) {
  SparseClientOptions o;
  for (const ServerEntry& s : servers) o.endpoints.push_back(s.endpoint);
  if (!options_.slot_map || options_.slot_map->num_shards() != servers.size())
    return Status::InvalidArgument("sparse work: the scheduler's slot map does not match its " +
                                   std::to_string(servers.size()) + " servers");
  o.slot_map = options_.slot_map;
  o.max_ids_per_request = job_.network.max_ids_per_request;  // the PS refuses more
  o.push_to_every_shard = ConsistencyPolicy(job_.train).lockstep();
  o.timeout = options_.timeout;
  o.interrupt = options_.interrupt;
  o.curve = options_.curve;
  PST_ASSIGN_OR_RETURN(client_, SparseClient::Create(ctx_, o));
  generation_ = generation;
  reader_.reset();
  return Status::OK();
}

Status SparseWork::BeginLease(uint32_t epoch, uint64_t begin, uint64_t end) {
  if (begin >= end || end > index_.records())
    return Status::InvalidArgument("lease outside the training file's records");
  PST_ASSIGN_OR_RETURN(reader_, index_.OpenAt(begin));
  next_pos_ = begin;
  epoch_ = epoch;
  return Status::OK();
}

Status SparseWork::Prepare(PsClient& ps, uint64_t /*clock*/) { return ps.CollectPushAcks(); }

StatusOr<SteadyClock::duration> SparseWork::PullDense(PsClient& ps, uint64_t clock,
                                                      uint64_t version,
                                                      std::vector<float>& buffer,
                                                      ModelParams* params) {
  const auto t0 = SteadyClock::now();
  PST_ASSIGN_OR_RETURN(PullHandle pull, ps.StartPull({buffer.data(), clock, version}));
  PST_RETURN_IF_ERROR(ps.WaitAll(pull, options_.timeout, options_.interrupt).status());
  const float* values = ps.Values(pull);
  if (values == nullptr) return Status::Internal("dense pull has no values");
  params->dense.clear();
  for (uint64_t offset : dense_offsets_) params->dense.push_back(values + offset);
  return SteadyClock::now() - t0;
}

Status SparseWork::PullSparse(const SparseCaller& caller, uint64_t version, ModelParams* params) {
  if (client_ == nullptr) return Status::FailedPrecondition("sparse work: not connected");
  params->sparse.clear();
  for (size_t t = 0; t < sparse_.size(); ++t) {
    rows_[t].resize(ids_.size() * sparse_[t].dim);
    PST_RETURN_IF_ERROR(client_->Pull(sparse_[t].name, ids_.ids, sparse_[t].dim,
                                      SparseVersion(version), caller, rows_[t].data()));
    params->sparse.push_back({&ids_, rows_[t].data()});
  }
  return Status::OK();
}

StatusOr<StepResult> SparseWork::Run(PsClient& ps, uint32_t rank, uint64_t clock, uint64_t pos,
                                     size_t n) {
  const auto start = SteadyClock::now();
  if (reader_ == nullptr || pos != next_pos_)
    return Status::Internal("sparse step at record " + std::to_string(pos) +
                            " but the lease reads at " + std::to_string(next_pos_));
  PST_ASSIGN_OR_RETURN(const size_t got, reader_->ReadBatch(n, &batch_));
  if (got != n)
    return Status::DataLoss("data file '" + index_.path() + "' changed while training (" +
                            std::to_string(got) + " of " + std::to_string(n) + " records left)");
  next_pos_ += n;
  StepResult result;
  DedupIds(batch_.ids, &ids_);
  const uint64_t version = ConsistencyPolicy(job_.train).PullVersion(clock);
  const SparseCaller caller{rank, clock, generation_,
                            DataOrder(epoch_, index_.records(), pos)};
  ModelParams params;
  PST_ASSIGN_OR_RETURN(result.waited, PullDense(ps, clock, version, dense_params_, &params));
  const auto t1 = SteadyClock::now();
  PST_RETURN_IF_ERROR(PullSparse(caller, version, &params));
  result.waited += SteadyClock::now() - t1;
  PST_ASSIGN_OR_RETURN(result.loss_sum, model_->ForwardBackward(batch_, params, &grads_));
  const auto t2 = SteadyClock::now();
  const uint32_t samples = static_cast<uint32_t>(n);
  for (size_t t = 0; t < sparse_.size(); ++t) {
    PST_RETURN_IF_ERROR(client_->Push(sparse_[t].name, ids_.ids, sparse_[t].dim,
                                      grads_.sparse[t].data(), samples, caller));
  }
  // The dense gradient goes last: a clock whose dense push completed had its
  // sparse pushes applied (what the scheduler's count of completed clocks
  // assumes when a worker dies).
  float* grad = dense_grad_->data();
  for (size_t t = 0; t < grads_.dense.size(); ++t)
    std::copy(grads_.dense[t].begin(), grads_.dense[t].end(), grad + dense_offsets_[t]);
  PushSpec push;
  push.rank = rank;
  push.clock = clock;
  push.samples = samples;
  push.data_order = caller.data_order;
  push.grad = grad;
  push.owner = dense_grad_;
  ps.BeginPush(std::move(push));
  PST_RETURN_IF_ERROR(ps.GradReady(KeyRange{0, dense_keys_}));
  PST_RETURN_IF_ERROR(ps.EndPush());
  const auto end = SteadyClock::now();
  result.pushing = end - t2;
  result.total = end - start;
  return result;
}

Status SparseWork::PushEmpty(PsClient& ps, uint32_t rank, uint64_t clock) {
  PST_RETURN_IF_ERROR(ps.CollectPushAcks());
  PST_RETURN_IF_ERROR(ps.PushEmpty(rank, clock));
  if (client_ == nullptr) return Status::FailedPrecondition("sparse work: not connected");
  const SparseCaller caller{rank, clock, generation_};
  for (const Table& t : sparse_)
    PST_RETURN_IF_ERROR(client_->Push(t.name, {}, t.dim, nullptr, 0, caller));
  return Status::OK();
}

Status SparseWork::Evaluate(PsClient& ps, const EvalOrder& order, uint64_t clock,
                            uint64_t version, bool /*final_model*/) {
  ModelParams params;
  std::vector<float> dense(dense_keys_);
  PST_RETURN_IF_ERROR(PullDense(ps, clock, version, dense, &params).status());
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseReader> reader,
                       SparseReader::Open({job_.sparse_data.test}, reader_options_));
  const SparseCaller caller{options_.rank, clock, generation_};
  PST_ASSIGN_OR_RETURN(
      const SparseEvaluation ev,
      EvaluateSparseModel(*model_, *reader, job_.sparse_data.test, options_.eval_batch, &ids_,
                          [&](const UniqueIds&, ModelParams* p) {
                            return PullSparse(caller, version, p);
                          },
                          &params));
  if (ev.bad_lines > 0)
    PST_LOG_WARN("test file: skipped {} malformed lines, the last: {}", ev.bad_lines,
                 ev.last_bad_line);
  const double auc = ev.auc, log_loss = ev.log_loss;
  const uint64_t correct = ev.correct, total = ev.samples;
  PST_LOG_INFO("epoch {}: test AUC {:.4f}, log-loss {:.4f}, accuracy {:.4f}", order.epoch + 1, auc,
               log_loss, double(correct) / double(total));
  const TrainSpec& t = job_.train;
  if ((t.target_auc > 0 && auc >= t.target_auc) ||
      (t.target_accuracy > 0 && double(correct) / double(total) >= t.target_accuracy))
    target_reached_ = true;
  return Report(order, correct, total, log_loss * double(total), auc);
}

Status SparseWork::Report(const EvalOrder& order, uint64_t correct, uint64_t total,
                          double loss_sum, double auc) {
  OutMessage msg;
  auto r = msg.envelope().getBody().initEvalReport();
  r.setRank(options_.rank);
  r.setEpoch(order.epoch);
  r.setVersion(order.version);
  r.setCorrect(correct);
  r.setTotal(total);
  r.setLossSum(loss_sum);
  r.setHasAuc(true);
  r.setAuc(auc);
  PST_ASSIGN_OR_RETURN(InMessage reply, sched_.Call(msg, options_.timeout, options_.interrupt));
  if (!reply.envelope().getBody().isAck())
    return Status::InvalidArgument("scheduler answered an eval report with the wrong message");
  return FromRpcStatus(reply.envelope().getBody().getAck());
}

}  // namespace pst
