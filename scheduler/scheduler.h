// pst::Scheduler: the coordinator of one job. PS and workers register with it;
// once all have, it assigns each PS its key range and starts the job. It leases
// data shards to workers (scheduler/shard_pool.h), collects training and
// evaluation statistics, coordinates checkpoints (scheduler/
// checkpoint_coordinator.h), watches heartbeats and answers JobStatus queries
// from clients such as `pstrain launch`. Failures: a dead or departed worker's
// lease returns to the pool and the PS stop waiting for it; workers may join
// at any time; a dead PS rolls the job back to the last complete checkpoint
// once a replacement has registered. With a state directory the job state
// lives in RocksDB (scheduler/job_store.h), so a restarted scheduler takes the
// job over and a stopped job can be resumed. Its parts: membership and
// heartbeats (scheduler/membership.h), the lease service (lease_service.h),
// recovery (recovery.h), checkpoint rounds (checkpoint_rounds.h) and the job
// status (job_status.h), sharing a SchedulerCore (scheduler_core.h); this
// class only runs the loop. Single-threaded: Run() does everything on the calling
// thread; Shutdown() may be called from any thread. The HTTP admin endpoint
// (scheduler/admin_server.h) runs on a thread of its own and only sees the
// snapshots Run() publishes (one per GET that asks, within a loop turn).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "common/bind.h"
#include "common/client_table.h"
#include "common/log_throttle.h"
#include "common/status.h"
#include "scheduler/requests.h"
#include "scheduler/scheduler_options.h"

namespace pst {

class AdminServer;
class CheckpointRounds;
class InMessage;
class LeaseService;
class Membership;
class OutMessage;
class Recovery;
class SchedulerCore;
class SchedulerState;

class Scheduler {
 public:
  // Validates the job and binds. kInvalidArgument for a bad job or options,
  // kUnavailable if the address cannot be bound.
  static StatusOr<std::unique_ptr<Scheduler>> Create(zmq::context_t& ctx,
                                                     const SchedulerOptions& options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Where nodes connect, e.g. "tcp://127.0.0.1:7000".
  const std::string& endpoint() const { return endpoint_; }
  // The HTTP admin endpoint, e.g. "http://127.0.0.1:8080/"; "" when disabled
  // (options.admin_port < 0). It serves from Create() until destruction.
  const std::string& admin_url() const;

  // Runs the job to its end. OK when it finished, kAborted when it failed (a
  // node died, the cluster did not form, ...), kCancelled after Shutdown().
  Status Run();
  void Shutdown() { stop_ = true; }

 private:
  Scheduler(SchedulerOptions options, BoundRouter bound,
            std::unique_ptr<AdminServer> admin);
  // Hands a fresh snapshot of the job to the admin endpoint (if any).
  void PublishSnapshot();
  // Decodes and answers every message waiting on the socket (at most
  // options.messages_per_turn). kUnavailable-free errors of the socket itself
  // end Run().
  void HandleMessages();
  // Answers one decoded request; false when the answer is sent later (or,
  // for a heartbeat with nothing new to tell, not at all).
  bool Dispatch(const SchedulerCall& call, const InMessage& in, OutMessage& out);
  // The periodic work of one loop turn. Returns true when Run() should end
  // (the job is over and its nodes left, or linger passed).
  bool Tick(uint64_t total_keys);

  SchedulerOptions options_;
  std::unique_ptr<ZapHandler> zap_;  // with CURVE; outlives socket_
  zmq::socket_t socket_;
  // Every client that sent a request, with the job's network limits.
  ClientTable clients_;
  RefusedMessageLog refused_log_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<SchedulerState> state_;
  std::unique_ptr<AdminServer> admin_;  // null when disabled
  // The parts of the job's logic, created by Run() (see their headers).
  std::unique_ptr<SchedulerCore> core_;
  std::unique_ptr<CheckpointRounds> rounds_;
  std::unique_ptr<Recovery> recovery_;
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<LeaseService> leases_;
  uint64_t published_for_ = 0;  // the admin Requests() the last snapshot answered
  std::chrono::steady_clock::time_point swept_at_;  // last sweep (see Tick)
  bool all_gone_ = false;  // no node left at the last sweep
  // A message since the last tick may need its prompt work (see Run): the
  // loop then wakes for the tick after tick_interval, not loop_wait.
  bool prompt_ = false;
};

}  // namespace pst
