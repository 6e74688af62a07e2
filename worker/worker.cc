#include "worker/worker.h"

#include <string>

#include "common/channel.h"
#include "common/consistency.h"
#include "common/cpu_affinity.h"
#include "common/log.h"
#include "common/registration.h"
#include "worker/dense_work.h"
#include "worker/lease_client.h"
#include "worker/sparse_work.h"
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

// The work of the job's model: the MLP on the IDX dataset, or a sparse model
// on its data files.
StatusOr<std::unique_ptr<LeaseWork>> CreateWork(zmq::context_t& ctx, const JobSpec& job,
                                                const JoinedJob& joined, Channel& sched,
                                                const WorkerOptions& options,
                                                const std::atomic<bool>* interrupt) {
  if (!job.sparse()) {
    PST_ASSIGN_OR_RETURN(std::unique_ptr<DenseWork> dense,
                         DenseWork::Create(job, joined.rank, sched, options, interrupt));
    return std::unique_ptr<LeaseWork>(std::move(dense));
  }
  SparseWorkOptions so;
  so.rank = joined.rank;
  so.slot_map = joined.slot_map;
  so.timeout = options.request_timeout;
  so.interrupt = interrupt;
  so.curve = options.curve;
  PST_ASSIGN_OR_RETURN(std::unique_ptr<SparseWork> sparse, SparseWork::Create(ctx, sched, job, so));
  return std::unique_ptr<LeaseWork>(std::move(sparse));
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
  // Before the training thread is pinned: evaluations then run on the
  // process's other CPUs, beside training.
  PST_ASSIGN_OR_RETURN(std::unique_ptr<LeaseWork> work,
                       CreateWork(ctx_, job, joined, *sched, options_, &interrupt_));
  LeaseClientOptions lo;
  lo.rank = joined.rank;
  lo.num_samples = work->num_samples();
  lo.ask_ahead = ConsistencyPolicy(job.train).ask_ahead();
  lo.timeout = options_.request_timeout;
  lo.interrupt = &interrupt_;
  LeaseClient leases(*sched, lo);

  TrainingLoop loop({&ctx_, &options_, &job, joined.rank, heartbeat.get(), &progress, &stop_,
                     &interrupt_, &leases, work.get()});
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
