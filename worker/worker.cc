#include "worker/worker.h"

#include <string>

#include "common/channel.h"
#include "common/cpu_affinity.h"
#include "common/job_tables.h"
#include "common/log.h"
#include "common/registration.h"
#include "worker/eval_reporter.h"
#include "worker/idx_reader.h"
#include "worker/lease_client.h"
#include "worker/mlp.h"
#include "worker/train_step.h"
#include "worker/training_loop.h"
#include "worker/worker_heartbeat.h"

namespace pst {

StatusOr<std::unique_ptr<Worker>> Worker::Create(zmq::context_t& ctx,
                                                 const WorkerOptions& options) {
  if (options.scheduler_endpoint.empty())
    return Status::InvalidArgument("--scheduler is required (e.g. tcp://127.0.0.1:7000)");
  if (options.request_timeout.count() <= 0)
    return Status::InvalidArgument("--request-timeout-ms must be positive");
  if (options.lease_wait_retry.count() <= 0 || options.idle_poll.count() <= 0 ||
      options.final_push_wait.count() < 0 || options.leave_timeout.count() < 0)
    return Status::InvalidArgument("worker: retry and poll intervals must be positive");
  return std::unique_ptr<Worker>(new Worker(ctx, options));
}

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

StatusOr<JoinedJob> Worker::Join(Channel& sched, WorkerProgress& progress,
                                 std::unique_ptr<Heartbeater>* heartbeat) {
  Status hb_status;
  JoinOptions join;
  join.role = proto::Role::WORKER;
  join.connect_timeout = options_.connect_timeout;
  join.form_timeout = options_.form_timeout;
  auto joined = JoinJob(sched, join, &stop_, [&](const JoinedJob& j) {
    progress.rank = j.rank;
    SetLogNodeName("worker " + std::to_string(j.rank));
    PST_LOG_INFO("registered as worker {}", j.rank);
    auto hb = StartWorkerHeartbeat(ctx_, options_.scheduler_endpoint, j.heartbeat_interval,
                                   &progress, &stop_, &interrupt_, options_.curve);
    if (hb.ok())
      *heartbeat = std::move(hb).value();
    else
      hb_status = hb.status();
  });
  PST_RETURN_IF_ERROR(joined.status());
  PST_RETURN_IF_ERROR(hb_status);
  progress.generation = joined->generation;
  progress.clock = joined->resume_clock;
  if (!stop_) interrupt_ = false;
  return joined;
}

Status Worker::Run() {
  PST_ASSIGN_OR_RETURN(auto sched, Channel::Connect(ctx_, options_.scheduler_endpoint, {}, options_.curve.get()));
  WorkerProgress progress;
  std::unique_ptr<Heartbeater> heartbeat;
  StatusOr<JoinedJob> joined_or = Join(*sched, progress, &heartbeat);
  if (joined_or.status().code() == StatusCode::kCancelled) return Status::OK();
  PST_RETURN_IF_ERROR(joined_or.status());
  const JoinedJob joined = std::move(joined_or).value();
  const JobSpec& job = joined.job;

  SetBlasThreads(options_.blas_threads);
  PST_ASSIGN_OR_RETURN(Mlp mlp, Mlp::Create(job.model));
  PST_RETURN_IF_ERROR(CheckTables(mlp, job));
  const std::string data_dir = options_.data_dir.empty() ? job.data_dir : options_.data_dir;
  PST_ASSIGN_OR_RETURN(Dataset train, LoadFashionMnist(data_dir, true, job.train.train_limit));
  PST_RETURN_IF_ERROR(CheckDataFitsModel(train, mlp, "training"));
  // The test set too, before training starts: any worker may be asked to
  // evaluate, and loading it then would stall the job at the epoch's end.
  PST_ASSIGN_OR_RETURN(Dataset test, LoadFashionMnist(data_dir, false, job.train.test_limit));
  PST_RETURN_IF_ERROR(CheckDataFitsModel(test, mlp, "test"));
  PST_LOG_INFO("loaded {} training and {} test samples from {}", train.num_samples,
               test.num_samples, data_dir);

  // Before the training thread is pinned: evaluations then run on the
  // process's other CPUs, beside training.
  EvalReporterOptions eo;
  eo.rank = joined.rank;
  eo.model = job.model;
  eo.target_accuracy = job.train.target_accuracy;
  eo.model_out = options_.model_out;
  eo.timeout = options_.request_timeout;
  eo.interrupt = &interrupt_;
  PST_ASSIGN_OR_RETURN(auto reporter, EvalReporter::Create(test, *sched, eo));
  LeaseClientOptions lo;
  lo.rank = joined.rank;
  lo.num_samples = train.num_samples;
  lo.ask_ahead = job.train.consistency != Consistency::kBsp;
  lo.timeout = options_.request_timeout;
  lo.interrupt = &interrupt_;
  LeaseClient leases(*sched, lo);
  TrainStepOptions so;
  so.train = job.train;
  so.clip_norm = job.optimizer.clip_norm;
  so.timeout = options_.request_timeout;
  so.interrupt = &interrupt_;
  PST_ASSIGN_OR_RETURN(auto step, TrainStep::Create(mlp, so));

  TrainingLoop loop({&ctx_, &options_, &job, joined.rank, &train, heartbeat.get(), &progress,
                     &stop_, &interrupt_, &leases, step.get(), reporter.get()});
  PST_RETURN_IF_ERROR(loop.Start(joined.servers, joined.generation, joined.resume_clock));
  if (!options_.compute_cpus.empty()) {
    // Only now: the threads started so far (ZeroMQ's, the heartbeat) keep the
    // process's CPUs, so the training thread has its CPUs to itself.
    PST_RETURN_IF_ERROR(PinCallingThread(options_.compute_cpus).WithContext("--compute-cpus"));
    PST_LOG_INFO("training thread on CPUs {} (--compute-cpus)", FormatCpuList(AllowedCpus()));
  }
  Status result = loop.Run();

  OutMessage leave;
  auto lr = leave.envelope().getBody().initLeaveRequest();
  lr.setRole(proto::Role::WORKER);
  lr.setRank(joined.rank);
  auto bye = sched->Call(leave, options_.leave_timeout);
  bye.status().IgnoreError();  // best effort: the scheduler's heartbeat timeout covers it
  return result;
}

}  // namespace pst
