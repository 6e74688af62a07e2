// pst::LeaseService: hands out the job's data. Workers ask for data shards
// (scheduler/shard_pool.h leases them), report the ones they finished, and
// report evaluations of closed epochs; the job is done when the last epoch
// is evaluated (or the target accuracy is reached). An evaluation whose
// worker is gone goes to the next live worker that asks. Run() thread only;
// not thread-safe.
#pragma once

#include "common/status.h"
#include "proto/scheduler.capnp.h"
#include "scheduler/requests.h"
#include "scheduler/scheduler_core.h"

namespace pst {

class Membership;

class LeaseService {
 public:
  LeaseService(SchedulerCore& core, Membership& membership)
      : core_(core), st_(core.st), membership_(membership) {}
  LeaseService(const LeaseService&) = delete;
  LeaseService& operator=(const LeaseService&) = delete;

  // A worker reports its finished lease (if any) and asks for the next one.
  // The answer: a lease, idle, done, wait (joining, recovering, not yet
  // admitted), restart (where to continue) or reported; maybe with an
  // evaluation order. Errors in the answer's status: kFailedPrecondition (the
  // job is not running, the worker is gone, its data differs from the
  // others'), kInvalidArgument (unknown rank, bad epoch, empty data).
  void Shard(const ShardCall& call, proto::ShardResponse::Builder resp);
  // A worker's evaluation of a closed epoch. kInvalidArgument for an unknown
  // epoch or inconsistent counts.
  Status Eval(const EvalCall& call);
  // While running: when no live worker is left (every one died or left, and
  // none joined) for longer than heartbeat_timeout, the job cannot go on by
  // itself. Says so once (log line, SchedulerState::waiting_for, which the
  // job status and /status show) and fails the job once recovery_timeout has
  // passed without a worker.
  void WatchWorkers(Clock::time_point now);

 private:
  Status ShardImpl(const ShardCall& call, proto::ShardResponse::Builder resp);
  // Creates the pool at the first request (the workers know the data size).
  Status OpenPool(const ShardCall& call);
  // Hands an evaluation whose worker is gone to worker `rank`.
  void HandOverEvaluation(uint32_t rank, proto::ShardResponse::Builder resp);
  uint64_t NowMs() const { return st_.ElapsedMs(); }
  // What the job waits for without a live worker, for WatchWorkers.
  std::string PendingWork() const;

  SchedulerCore& core_;
  SchedulerState& st_;
  Membership& membership_;
};

}  // namespace pst
