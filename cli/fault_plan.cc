#include "cli/fault_plan.h"

namespace pst {
namespace {

constexpr struct {
  FaultKind kind;
  const char* name;
} kNames[] = {
    {FaultKind::kKillWorker, "kill-worker"},       {FaultKind::kKillPs, "kill-ps"},
    {FaultKind::kKillScheduler, "kill-scheduler"}, {FaultKind::kAddWorkers, "add-workers"},
    {FaultKind::kRemoveWorkers, "remove-workers"}, {FaultKind::kPauseWorker, "pause-worker"},
};

}  // namespace

StatusOr<FaultKind> ParseFaultKind(const std::string& name) {
  std::string all;
  for (const auto& n : kNames) {
    if (name == n.name) return n.kind;
    all += (all.empty() ? "" : ", ") + std::string(n.name);
  }
  return Status::InvalidArgument("unknown scenario '" + name + "' (allowed: " + all + ")");
}

const char* FaultKindName(FaultKind k) {
  for (const auto& n : kNames)
    if (n.kind == k) return n.name;
  return "none";
}

}  // namespace pst
