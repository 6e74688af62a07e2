// pst::Recovery: rolling the job back to its last complete checkpoint. A dead
// or replaced PS, or a scheduler taking over a job, starts a new generation:
// the PS restore the checkpoint, the workers continue from its clock, the
// epochs it reopens are trained and evaluated again. The job runs again once
// every PS has restored, and fails if that takes longer than
// recovery_timeout (or a PS cannot restore). It also opens the job store: a
// stored job is taken over (scheduler restart) or resumed (options.resume).
// Run() thread only; not thread-safe.
#pragma once

#include <string>

#include "common/status.h"
#include "scheduler/scheduler_core.h"

namespace pst {

class CheckpointRounds;

class Recovery {
 public:
  Recovery(SchedulerCore& core, CheckpointRounds& rounds) : core_(core), st_(core.st), rounds_(rounds) {}
  Recovery(const Recovery&) = delete;
  Recovery& operator=(const Recovery&) = delete;

  // Opens the job store (options.state_dir; no-op without one) and, if it
  // holds a job, takes it over or resumes it. Errors from the store
  // (scheduler/job_store.h), kDataLoss for a state it cannot read.
  Status OpenStore();
  // Starts a rollback to the last complete checkpoint (a new generation).
  // Logged as a warning unless `expected` (a job shutting down: its PS leave
  // after every worker did).
  void Start(const std::string& reason, bool expected = false);
  // While recovering: runs the job again once every PS restored the
  // generation; fails it when a PS cannot restore or recovery_timeout passed.
  void Tick(Clock::time_point now);

 private:
  SchedulerCore& core_;
  SchedulerState& st_;
  CheckpointRounds& rounds_;
};

}  // namespace pst
