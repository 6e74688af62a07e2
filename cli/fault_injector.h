// pst::FaultInjector: the fault of a drill (`pstrain drill`, LaunchOptions::
// fault), injected into a launched run once enough of the job is trained, and
// followed through the job status until the job recovered: it fills the
// run's FaultTimeline (injected, detected, recovered). Used from the
// launcher's one thread; not thread-safe.
#pragma once

#include <chrono>
#include <optional>

#include <sys/types.h>

#include "cli/fault_plan.h"
#include "cli/progress.h"
#include "cli/supervisor.h"
#include "common/channel.h"
#include "common/job_spec.h"
#include "proto/scheduler.capnp.h"

namespace pst {

class FaultInjector {
 public:
  FaultInjector(const FaultPlan& plan, const JobSpec& job, Supervisor& procs, Channel& scheduler,
                ProgressPrinter& progress, FaultTimeline* timeline)
      : plan_(plan), job_(job), procs_(procs), scheduler_(scheduler), progress_(progress), fault_(*timeline) {}
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  // Every loop turn: resumes a paused worker when its pause is over, and
  // injects the fault once plan.at_fraction of the job's samples are done.
  void Tick(proto::JobState state, double elapsed_s, uint64_t samples_done, uint64_t samples_per_epoch,
            uint32_t desired_workers);
  // A process the supervisor saw die: a PS or scheduler that is the target
  // counts as detected then.
  void OnExit(const std::string& name, double elapsed_s);
  // Follows the fault through a job status: detected when the scheduler
  // shows it, recovered when training runs again with every worker the job
  // asks for (or the job finished).
  void Track(proto::JobStatusResponse::Reader st);

 private:
  const FaultPlan& plan_;
  const JobSpec& job_;
  Supervisor& procs_;
  Channel& scheduler_;
  ProgressPrinter& progress_;
  FaultTimeline& fault_;
  uint32_t generation_before_ = 0;  // the job's generation when the fault was injected
  size_t dead_before_ = 0;          // dead or departed nodes then
  uint32_t generation_ = 0;         // from the latest status
  std::optional<std::chrono::steady_clock::time_point> resume_paused_;  // kPauseWorker: when to SIGCONT
  pid_t paused_pid_ = 0;
};

}  // namespace pst
