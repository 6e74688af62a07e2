// pst::Scheduler: the coordinator of one job. PS and workers register with it;
// once all have, it assigns each PS its key range and starts the job. It leases
// data shards to workers (scheduler/shard_pool.h), collects training and
// evaluation statistics, watches heartbeats (a node silent past the timeout
// fails the job), and answers JobStatus queries from clients such as
// `pstrain launch`. Single-threaded: Run() does everything on the calling
// thread; Shutdown() may be called from any thread. The HTTP admin endpoint
// (scheduler/admin_server.h) runs on a thread of its own and only sees the
// snapshots Run() publishes (every 200 ms and on state changes).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "common/status.h"
#include "scheduler/scheduler_options.h"

namespace pst {

class AdminServer;
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
  Scheduler(SchedulerOptions options, zmq::socket_t socket, std::string endpoint,
            std::unique_ptr<AdminServer> admin);
  // Hands a fresh snapshot of the job to the admin endpoint (if any).
  void PublishSnapshot();

  SchedulerOptions options_;
  zmq::socket_t socket_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<SchedulerState> state_;
  std::unique_ptr<AdminServer> admin_;  // null when disabled
};

}  // namespace pst
