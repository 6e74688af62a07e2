// Test helper: the roles of one job running in this process, each on a thread
// of its own with its own ZeroMQ context (as separate processes would have),
// bound to 127.0.0.1 port 0: a pst::Scheduler, job.num_servers pst::Server
// and `run_workers` pst::Worker (the test may play the remaining
// job.num_workers - run_workers workers itself through client_ctx()). No
// process is started. Used from one test thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/channel.h"
#include "common/heartbeat.h"
#include "common/job_spec.h"
#include "common/registration.h"
#include "common/status.h"
#include "ps/server.h"
#include "scheduler/scheduler.h"
#include "worker/worker.h"

namespace pst::testing {

class InProcessCluster {
 public:
  // Starts the roles. Worker i saves the final model (if it evaluates last)
  // to model_out_prefix + i + ".safetensors" unless the prefix is "".
  static StatusOr<std::unique_ptr<InProcessCluster>> Start(const JobSpec& job, uint32_t run_workers,
                                                           const std::string& model_out_prefix);
  // Shuts down every role still running and joins it (roles that do not
  // return within 10 s are leaked, so the test process ends anyway).
  ~InProcessCluster();
  InProcessCluster(const InProcessCluster&) = delete;
  InProcessCluster& operator=(const InProcessCluster&) = delete;

  const std::string& scheduler_endpoint() const { return scheduler_->endpoint(); }
  // A context for the test's own clients.
  zmq::context_t& client_ctx() { return client_ctx_; }

  // The test as a worker of the job: registered, heartbeating (until
  // destroyed) and connected to the scheduler.
  struct TestWorker {
    std::unique_ptr<Channel> scheduler;
    std::unique_ptr<Heartbeater> heartbeat;
    JoinedJob joined;
  };
  StatusOr<TestWorker> JoinAsWorker();

  // Waits up to `timeout` for the workers' Run() to return, then for the
  // servers' and the scheduler's. OK if every one returned OK; otherwise the
  // first failure, naming the role (kDeadlineExceeded if one did not return).
  Status WaitWorkersThenAll(std::chrono::milliseconds timeout);
  // Shuts every role down and waits for each (up to 10 s); returns the first
  // role's status other than OK and kCancelled.
  Status Stop();

 private:
  struct Role;
  InProcessCluster() = default;
  void Launch(Role& role, std::function<Status()> run);

  zmq::context_t client_ctx_{1};
  // Scheduler, servers, workers: each with the context its role's sockets
  // use, so declared before the roles (destroyed after them: a context
  // waits for its sockets to close).
  std::vector<std::unique_ptr<Role>> roles_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace pst::testing
