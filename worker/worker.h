// pst::Worker: one training worker. It registers with the scheduler, loads the
// training data, and then repeats: lease a data shard, and for each batch of it
// pull the model from every PS (at the version of its clock), compute the
// gradient sums with the MLP, push them. Between shards it may be told to idle
// (sending empty pushes so BSP clocks advance) or to evaluate the model on the
// test set and report the accuracy. When the job rolls back to a checkpoint
// (a PS died, the scheduler restarted) it drops its lease and pulls, waits,
// and continues at the clock and generation the scheduler gives; asked to
// leave (scaled down), it hands its lease back. Single-threaded apart from its heartbeat
// thread; Shutdown() may be called from any thread.
#pragma once

#include <atomic>
#include <memory>

#include <zmq.hpp>

#include "common/status.h"
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

  zmq::context_t& ctx_;
  WorkerOptions options_;
  std::atomic<bool> stop_{false};
  // Ends every blocking wait: set on Shutdown() and when the scheduler starts
  // a rollback (new generation, recovering) or asks this worker to leave.
  std::atomic<bool> interrupt_{false};
};

}  // namespace pst
