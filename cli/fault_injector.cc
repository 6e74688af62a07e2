#include "cli/fault_injector.h"

#include <signal.h>

#include <fmt/format.h>

#include "cli/control_commands.h"

namespace pst {

void FaultInjector::Tick(proto::JobState state, double elapsed_s, uint64_t samples_done,
                         uint64_t samples_per_epoch, uint32_t desired_workers) {
  const FaultPlan& f = plan_;
  if (resume_paused_ && std::chrono::steady_clock::now() >= *resume_paused_) {
    kill(paused_pid_, SIGCONT);
    resume_paused_.reset();
  }
  if (f.kind == FaultKind::kNone || fault_.injected || state != proto::JobState::RUNNING) return;
  const double total = double(job_.train.epochs) * std::max<uint64_t>(1, samples_per_epoch);
  if (samples_per_epoch == 0 || samples_done < f.at_fraction * total) return;
  fault_.injected = true;
  fault_.injected_at = elapsed_s;
  generation_before_ = generation_;
  switch (f.kind) {
    case FaultKind::kKillWorker:
    case FaultKind::kPauseWorker:
    case FaultKind::kKillPs: {
      const bool ps = f.kind == FaultKind::kKillPs;
      SupervisedProcess* p = procs_.Live(!ps, ps ? f.target % job_.num_servers : f.target, desired_workers);
      if (!p) return;
      fault_.target = p->name;
      if (f.kind == FaultKind::kPauseWorker) {
        paused_pid_ = p->child.pid();
        p->child.Signal(SIGSTOP);
        resume_paused_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(f.pause_seconds * 1000));
      } else {
        p->child.Signal(SIGKILL);
      }
      break;
    }
    case FaultKind::kKillScheduler:
      fault_.target = "scheduler";
      procs_.SignalScheduler(SIGKILL);
      break;
    case FaultKind::kAddWorkers:
    case FaultKind::kRemoveWorkers: {
      const uint32_t want = f.kind == FaultKind::kAddWorkers
                                ? desired_workers + f.count
                                : std::max<uint32_t>(1, desired_workers - std::min(desired_workers - 1, f.count));
      fault_.target = fmt::format("{} -> {} workers", desired_workers, want);
      auto live = RequestScale(scheduler_, want, std::chrono::seconds(5));
      if (!live.ok()) progress_.Line("warning: scale request failed: " + live.status().message());
      break;
    }
    case FaultKind::kNone:
      break;
  }
  progress_.Line(fmt::format("drill: {} ({}) at {:.2f} s", FaultKindName(f.kind), fault_.target, elapsed_s));
}

void FaultInjector::OnExit(const std::string& name, double elapsed_s) {
  const bool worker = name.rfind("worker", 0) == 0;
  if (fault_.injected && fault_.detected_at < 0 && name == fault_.target && !worker) fault_.detected_at = elapsed_s;
}

void FaultInjector::Track(proto::JobStatusResponse::Reader st) {
  generation_ = st.getGeneration();
  size_t dead = 0, live_workers = 0;
  for (auto n : st.getNodes()) {
    const bool gone = n.getState() == proto::NodeState::DEAD || n.getState() == proto::NodeState::LEFT;
    dead += gone ? 1 : 0;
    if (n.getRole() == proto::Role::WORKER && n.getState() == proto::NodeState::ALIVE) ++live_workers;
  }
  if (!fault_.injected) {
    dead_before_ = dead;
    return;
  }
  if (fault_.recovered_at >= 0) return;
  const FaultKind k = plan_.kind;
  if (fault_.detected_at < 0) {
    const bool seen = st.getGeneration() > generation_before_ || dead > dead_before_ ||
                      st.getState() == proto::JobState::RECOVERING ||
                      ((k == FaultKind::kAddWorkers || k == FaultKind::kRemoveWorkers) &&
                       st.getDesiredWorkers() != job_.num_workers);
    if (!seen) return;
    fault_.detected_at = st.getElapsedMs() / 1000.0;
  }
  if ((st.getState() == proto::JobState::RUNNING && live_workers >= st.getDesiredWorkers() &&
       st.getElapsedMs() / 1000.0 >= fault_.detected_at) ||
      st.getState() == proto::JobState::DONE)
    fault_.recovered_at = st.getElapsedMs() / 1000.0;
}

}  // namespace pst
