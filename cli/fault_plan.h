// pst::FaultPlan: one fault `pstrain launch` injects into its own cluster while
// the job trains, for fault-recovery drills (`pstrain drill`), and what it
// measured about the recovery.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace pst {

enum class FaultKind : uint8_t {
  kNone = 0,
  kKillWorker,     // SIGKILL one worker
  kKillPs,         // SIGKILL one PS (the launcher starts a replacement)
  kKillScheduler,  // SIGKILL the scheduler (the launcher restarts it)
  kAddWorkers,     // start `count` more workers (pstrain scale up)
  kRemoveWorkers,  // ask the scheduler to drop `count` workers (scale down)
  kPauseWorker,    // SIGSTOP one worker for pause_seconds, then SIGCONT
};

struct FaultPlan {
  FaultKind kind = FaultKind::kNone;
  // When: once this fraction of the job's training samples is done. Default: 0.4.
  double at_fraction = 0.4;
  // Which process of the kind (worker or PS index); the drill picks it from
  // its seed. Default: 0.
  uint32_t target = 0;
  // Workers to add or remove. Default: 1.
  uint32_t count = 1;
  // kPauseWorker: how long the process stays stopped. Default: 3.
  double pause_seconds = 3;
};

// What the launcher saw of an injected fault, in seconds of training time
// since the job started (-1: did not happen).
struct FaultTimeline {
  bool injected = false;
  double injected_at = -1;
  double detected_at = -1;   // the scheduler saw it (node dead/left, rollback, restart)
  double recovered_at = -1;  // training ran again at full membership afterwards
  std::string target;        // e.g. "ps 1"
};

// "kill-worker", "kill-ps", "kill-scheduler", "add-workers", "remove-workers",
// "pause-worker". kInvalidArgument listing them for anything else.
StatusOr<FaultKind> ParseFaultKind(const std::string& name);
const char* FaultKindName(FaultKind k);

}  // namespace pst
