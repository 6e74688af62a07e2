#include "cli/control_commands.h"

#include <fmt/format.h>
#include <memory>
#include <zmq.hpp>

#include "cli/key_setup.h"
#include "cli/status_command.h"
#include "common/channel.h"

namespace pst {
namespace {

// A channel to the scheduler `target` names; *endpoint_out gets its address.
StatusOr<std::unique_ptr<Channel>> ConnectScheduler(const ControlTarget& target,
                                                    zmq::context_t& ctx, std::string* endpoint_out) {
  PST_ASSIGN_OR_RETURN(const std::string endpoint,
                       ResolveSchedulerEndpoint(target.scheduler, target.run_dir));
  *endpoint_out = endpoint;
  PST_ASSIGN_OR_RETURN(const auto curve, ResolveControlKeys(target.key_dir, target.run_dir));
  return Channel::Connect(ctx, endpoint, {}, curve.get());
}

// A scheduler that does not answer: say what to check.
Status NoAnswerHint(Status s) {
  if (s.code() != StatusCode::kUnavailable) return s;
  return Status::Unavailable(s.message() +
                             ": is the job running (and, for a secured job, is --key-dir its key directory)?");
}

}  // namespace

Status RunCheckpointCommand(const ControlTarget& target, std::chrono::milliseconds timeout,
                            std::ostream& out) {
  zmq::context_t ctx(1);
  std::string endpoint;
  PST_ASSIGN_OR_RETURN(auto channel, ConnectScheduler(target, ctx, &endpoint));
  auto done = RequestCheckpoint(*channel, timeout);
  if (!done.ok()) return NoAnswerHint(done.status());
  out << fmt::format("checkpoint {} complete at clock {} ({:.0f} ms); every PS has it on disk\n",
                     done->id, done->clock, done->duration_ms);
  return Status::OK();
}

Status RunScaleCommand(const ControlTarget& target, uint32_t workers, std::ostream& out) {
  zmq::context_t ctx(1);
  std::string endpoint;
  PST_ASSIGN_OR_RETURN(auto channel, ConnectScheduler(target, ctx, &endpoint));
  const auto timeout = std::chrono::seconds(5);
  auto live_or = RequestScale(*channel, workers, timeout);
  if (!live_or.ok()) return NoAnswerHint(live_or.status());
  const uint32_t live = *live_or;
  if (workers > live)
    out << fmt::format(
        "scaling up from {} to {} workers: a supervising `pstrain launch` starts {} more; "
        "otherwise start them with: pstrain-worker --scheduler {}\n",
        live, workers, workers - live, endpoint);
  else if (workers < live)
    out << fmt::format("scaling down from {} to {} workers: the newest {} hand back their leases and leave\n",
                       live, workers, live - workers);
  else
    out << fmt::format("the job already has {} workers\n", live);
  return Status::OK();
}

}  // namespace pst
