#include "cli/control_commands.h"

#include <fmt/format.h>
#include <kj/exception.h>
#include <memory>
#include <zmq.hpp>

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
  return Channel::Connect(ctx, endpoint);
}

// A timeout reads as "nobody answers": the job is probably not running.
Status NoAnswerIsUnavailable(Status s, const std::string& endpoint,
                             std::chrono::milliseconds timeout) {
  if (s.code() != StatusCode::kDeadlineExceeded) return s;
  return Status::Unavailable("no answer from the scheduler at " + endpoint + " within " +
                             std::to_string(timeout.count()) + " ms: is the job running?");
}

// One request to the scheduler, answered within `timeout`.
StatusOr<InMessage> Ask(const ControlTarget& target, OutMessage& msg,
                        std::chrono::milliseconds timeout, zmq::context_t& ctx,
                        std::string* endpoint_out) {
  PST_ASSIGN_OR_RETURN(auto channel, ConnectScheduler(target, ctx, endpoint_out));
  auto reply = channel->Call(msg, timeout);
  if (!reply.ok()) return NoAnswerIsUnavailable(reply.status(), *endpoint_out, timeout);
  return reply;
}

}  // namespace

Status RunCheckpointCommand(const ControlTarget& target, std::chrono::milliseconds timeout,
                            std::ostream& out) {
  zmq::context_t ctx(1);
  OutMessage msg;
  msg.envelope().getBody().initCheckpointRequest().setTimeoutMs(timeout.count());
  std::string endpoint;
  // The scheduler answers once the round is decided; allow it a little more.
  PST_ASSIGN_OR_RETURN(InMessage reply,
                       Ask(target, msg, timeout + std::chrono::seconds(5), ctx, &endpoint));
  try {
    auto body = reply.envelope().getBody();
    if (!body.isCheckpointResponse())
      return Status::Internal("the scheduler answered with the wrong message");
    auto r = body.getCheckpointResponse();
    PST_RETURN_IF_ERROR(FromRpcStatus(r.getStatus()).WithContext("checkpoint"));
    out << fmt::format("checkpoint {} complete at clock {} ({:.0f} ms); every PS has it on disk\n",
                       r.getCheckpointId(), r.getClock(), r.getDurationMs());
  } catch (const kj::Exception& e) {
    return Status::Internal(std::string("unreadable answer: ") + e.getDescription().cStr());
  }
  return Status::OK();
}

StatusOr<uint32_t> RequestScale(Channel& channel, uint32_t workers,
                                std::chrono::milliseconds timeout) {
  OutMessage msg;
  msg.envelope().getBody().initScaleRequest().setWorkers(workers);
  PST_ASSIGN_OR_RETURN(InMessage reply, channel.Call(msg, timeout));
  try {
    auto body = reply.envelope().getBody();
    if (!body.isScaleResponse()) return Status::Internal("the scheduler answered with the wrong message");
    auto r = body.getScaleResponse();
    PST_RETURN_IF_ERROR(FromRpcStatus(r.getStatus()).WithContext("scale"));
    return r.getLiveWorkers();
  } catch (const kj::Exception& e) {
    return Status::Internal(std::string("unreadable answer: ") + e.getDescription().cStr());
  }
}

Status RunScaleCommand(const ControlTarget& target, uint32_t workers, std::ostream& out) {
  zmq::context_t ctx(1);
  std::string endpoint;
  PST_ASSIGN_OR_RETURN(auto channel, ConnectScheduler(target, ctx, &endpoint));
  const auto timeout = std::chrono::seconds(5);
  auto live_or = RequestScale(*channel, workers, timeout);
  if (!live_or.ok()) return NoAnswerIsUnavailable(live_or.status(), endpoint, timeout);
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
