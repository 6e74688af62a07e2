// pst::TrainingLoop: what a worker does between joining the job and leaving
// it. It repeats: lease a data shard (LeaseClient), run its steps (LeaseWork)
// against the servers of the current generation (PsClient), run the
// evaluations the scheduler orders (LeaseWork); told to idle (BSP: the
// epoch's end; ASP/SSP: every shard is leased but another worker's lease may
// come back), it pushes empty clocks so the servers' clocks advance without it. When the job
// rolls back (a newer generation, via *interrupt) it drops its lease, pulls
// and pushes, and continues where the scheduler's RESTART answer says.
//
// Not thread-safe: runs on the worker's training thread. The heartbeat thread
// only sets the stop/interrupt flags and reads WorkerProgress.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>
#include <zmq.hpp>

#include "common/heartbeat.h"
#include "common/job_spec.h"
#include "common/registration.h"
#include "common/status.h"
#include "worker/lease_client.h"
#include "worker/lease_work.h"
#include "worker/ps_client.h"
#include "worker/worker_heartbeat.h"
#include "worker/worker_options.h"

namespace pst {

// What the loop works with; everything must outlive it.
struct TrainingLoopParts {
  zmq::context_t* ctx = nullptr;  // for the PS connections
  const WorkerOptions* options = nullptr;
  const JobSpec* job = nullptr;
  uint32_t rank = 0;
  Heartbeater* heartbeat = nullptr;
  WorkerProgress* progress = nullptr;
  // Set by Shutdown() and the heartbeat thread (see worker/worker_heartbeat.h).
  std::atomic<bool>* stop = nullptr;
  std::atomic<bool>* interrupt = nullptr;
  LeaseClient* leases = nullptr;
  // The data, steps and evaluations (the MLP's or a sparse model's).
  LeaseWork* work = nullptr;
};

class TrainingLoop {
 public:
  explicit TrainingLoop(const TrainingLoopParts& parts) : p_(parts) {}
  TrainingLoop(const TrainingLoop&) = delete;
  TrainingLoop& operator=(const TrainingLoop&) = delete;

  // Connects to `servers` of `generation` and sets the clock to start at.
  // Errors: the connection's.
  Status Start(const std::vector<ServerEntry>& servers, uint32_t generation, uint64_t clock);

  // Trains until out of data or our evaluation reached the target accuracy
  // (OK), *stop (OK: leave or Shutdown), the job's end (OK) or failure
  // (kAborted), lost contact with the scheduler (kUnavailable), or another
  // error; rollbacks in between are followed. Then waits (briefly) for the
  // last pushes and logs where the time went.
  Status Run();

 private:
  // The loop within one generation: returns OK or kCancelled when
  // interrupted (rollback, leave, job end) or finished_, else the error.
  Status TrainUntilInterrupted();
  // Asks for the next lease and takes the answer in: true if the loop goes
  // on with it, false if it starts over (wait, restart, interrupted).
  StatusOr<bool> NextLease();
  // ASP/SSP, told to idle until `idle_until` (every shard is leased, and
  // another worker's lease may still come back): says so once per wait, and
  // paces the asks when there is no clock to catch up with.
  void WaitForOthers(uint64_t idle_until);
  // Evaluates the model the order names (see EvalReporter).
  Status Evaluate(const EvalOrder& order, bool final_model);
  // One step of the current lease.
  Status Step();
  // After an interruption: forgets the lease, requests and evaluation in
  // flight, and the servers, until the scheduler says where to go on.
  void DropGeneration(const Status& why);
  Status Connect(const std::vector<ServerEntry>& servers, uint32_t generation);
  void LogTotals() const;

  struct ActiveLease {
    bool active = false;
    uint64_t next = 0;  // next position in the epoch order
    uint64_t end = 0;
    LeaseReport report;
  };

  TrainingLoopParts p_;
  std::unique_ptr<PsClient> ps_;  // null while awaiting a restart
  uint32_t generation_ = 0;
  uint64_t clock_ = 0;
  uint64_t idle_until_ = 0;
  ActiveLease lease_;
  bool done_ = false;              // the scheduler has no more data for us
  bool finished_ = false;          // out of data, or our evaluation reached the target
  bool awaiting_restart_ = false;  // after a rollback: no PsClient until RESTART
  bool waiting_ = false;           // ASP/SSP: idling for other workers' leases
  // Per run.
  std::chrono::steady_clock::duration wait_pull_{}, compute_{}, push_{};
};

}  // namespace pst
