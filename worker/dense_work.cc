#include "worker/dense_work.h"

#include <string>

#include "common/job_tables.h"
#include "common/log.h"
#include "worker/epoch_order.h"
#include "worker/idx_reader.h"

namespace pst {
namespace {

Status CheckDataFitsModel(const Dataset& d, const Model& m, const char* split) {
  const std::string set = std::string("the ") + split + " set";
  if (d.num_samples == 0) return Status::InvalidArgument(set + " is empty");
  if (d.num_features != m.num_inputs())
    return Status::InvalidArgument(set + " has " + std::to_string(d.num_features) +
                                   " features per sample but model.layers starts with " +
                                   std::to_string(m.num_inputs()));
  if (d.num_classes > m.num_classes())
    return Status::InvalidArgument(set + " has " + std::to_string(d.num_classes) +
                                   " classes but model.layers ends with " +
                                   std::to_string(m.num_classes()));
  return Status::OK();
}

// The model must compute on exactly the tables the servers created.
Status CheckTables(const Model& model, const JobSpec& job) {
  PST_ASSIGN_OR_RETURN(std::vector<TableSpec> job_tables, JobTables(job));
  if (model.Tables(job.optimizer) != job_tables)
    return Status::FailedPrecondition(
        "the worker's model declares other tables than the job's servers hold");
  return Status::OK();
}

}  // namespace

StatusOr<std::unique_ptr<DenseWork>> DenseWork::Create(const JobSpec& job, uint32_t rank,
                                                       Channel& scheduler,
                                                       const WorkerOptions& options,
                                                       const std::atomic<bool>* interrupt) {
  PST_ASSIGN_OR_RETURN(Mlp mlp, Mlp::Create(job.model));
  PST_RETURN_IF_ERROR(CheckTables(mlp, job));
  const std::string data_dir = options.data_dir.empty() ? job.data_dir : options.data_dir;
  PST_ASSIGN_OR_RETURN(Dataset train, LoadFashionMnist(data_dir, true, job.train.train_limit));
  PST_RETURN_IF_ERROR(CheckDataFitsModel(train, mlp, "training"));
  // The test set too, before training starts: any worker may be asked to
  // evaluate, and loading it then would stall the job at the epoch's end.
  PST_ASSIGN_OR_RETURN(Dataset test, LoadFashionMnist(data_dir, false, job.train.test_limit));
  PST_RETURN_IF_ERROR(CheckDataFitsModel(test, mlp, "test"));
  PST_LOG_INFO("loaded {} training and {} test samples from {}", train.num_samples,
               test.num_samples, data_dir);
  std::unique_ptr<DenseWork> work(new DenseWork(std::move(train), std::move(test), job.model.seed,
                                                std::make_unique<Mlp>(std::move(mlp))));
  EvalReporterOptions eo;
  eo.rank = rank;
  eo.model = job.model;
  eo.target_accuracy = job.train.target_accuracy;
  eo.model_out = options.model_out;
  eo.timeout = options.request_timeout;
  eo.interrupt = interrupt;
  PST_ASSIGN_OR_RETURN(work->reporter_, EvalReporter::Create(work->test_, scheduler, eo));
  TrainStepOptions so;
  so.train = job.train;
  so.clip_norm = job.optimizer.clip_norm;
  so.timeout = options.request_timeout;
  so.interrupt = interrupt;
  PST_ASSIGN_OR_RETURN(work->step_, TrainStep::Create(*work->mlp_, so));
  return work;
}

Status DenseWork::BeginLease(uint32_t epoch, uint64_t begin, uint64_t end) {
  if (end > train_.num_samples || begin >= end)
    return Status::InvalidArgument("lease outside the training set");
  if (order_epoch_ != epoch) {
    order_ = EpochOrder(train_.num_samples, seed_, epoch);
    order_epoch_ = epoch;
  }
  return Status::OK();
}

StatusOr<StepResult> DenseWork::Run(PsClient& ps, uint32_t rank, uint64_t clock, uint64_t pos,
                                    size_t n) {
  if (pos + n > order_.size()) return Status::Internal("step past the epoch's samples");
  return step_->Run(ps, rank, clock, train_, order_.data() + pos, n,
                    DataOrder(order_epoch_, train_.num_samples, pos));
}

Status DenseWork::PushEmpty(PsClient& ps, uint32_t rank, uint64_t clock) {
  PST_RETURN_IF_ERROR(ps.CollectPushAcks());
  return ps.PushEmpty(rank, clock);
}

Status DenseWork::Evaluate(PsClient& ps, const EvalOrder& order, uint64_t clock, uint64_t version,
                           bool final_model) {
  PST_ASSIGN_OR_RETURN(const float* params, step_->PulledModel(ps, clock, version));
  return reporter_->Start(order, params, final_model);
}

}  // namespace pst
