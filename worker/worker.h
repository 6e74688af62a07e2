// pst::Worker: one training worker. It registers with the scheduler (and
// heartbeats, worker/worker_heartbeat.h), loads the training and test data,
// checks that its model (worker/model.h; the MLP) computes on the tables the
// job's servers hold, and runs the TrainingLoop (worker/training_loop.h):
// lease a data shard (LeaseClient), and for each batch of it pull the model
// from every PS at the version of its clock, compute the gradient sums, push
// them (TrainStep); idle or evaluate when told (EvalReporter); follow
// rollbacks. Asked to leave (scaled down), it hands its lease back.
// Single-threaded apart from its heartbeat and evaluation threads; Shutdown()
// may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <zmq.hpp>

#include "common/channel.h"
#include "common/heartbeat.h"
#include "common/registration.h"
#include "common/status.h"
#include "worker/worker_heartbeat.h"
#include "worker/worker_options.h"

namespace pst {

class Worker {
 public:
  // kInvalidArgument for bad options.
  static StatusOr<std::unique_ptr<Worker>> Create(zmq::context_t& ctx,
                                                  const WorkerOptions& options);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Trains until the scheduler says the job is done (OK), the job fails
  // (kAborted), Shutdown() is called (OK), or an error occurs. Blocks.
  Status Run();
  void Shutdown() {
    stop_ = true;
    interrupt_ = true;
  }

 private:
  Worker(zmq::context_t& ctx, WorkerOptions options) : ctx_(ctx), options_(std::move(options)) {}
  // Registers and starts heartbeats reporting `progress` (set to the joined
  // generation and clock). kCancelled if stopped while joining.
  StatusOr<JoinedJob> Join(Channel& sched, WorkerProgress& progress,
                           std::unique_ptr<Heartbeater>* heartbeat);

  zmq::context_t& ctx_;
  WorkerOptions options_;
  std::atomic<bool> stop_{false};
  // Ends every blocking wait: set on Shutdown() and when the scheduler starts
  // a rollback (new generation, recovering) or asks this worker to leave.
  std::atomic<bool> interrupt_{false};
};

}  // namespace pst
