#include "common/control_requests.h"

#include <kj/exception.h>

namespace pst {
namespace {

// A reply that never came reads as "nobody answers": the job is probably not running.
Status NoAnswerIsUnavailable(Status s, const Channel& channel, std::chrono::milliseconds timeout) {
  if (s.code() != StatusCode::kDeadlineExceeded) return s;
  return Status::Unavailable("no answer from the scheduler at " + channel.endpoint() + " within " +
                             std::to_string(timeout.count()) + " ms");
}

}  // namespace

StatusOr<uint32_t> RequestScale(Channel& channel, uint32_t workers, std::chrono::milliseconds timeout) {
  OutMessage msg;
  msg.envelope().getBody().initScaleRequest().setWorkers(workers);
  StatusOr<InMessage> reply = channel.Call(msg, timeout);
  if (!reply.ok()) return NoAnswerIsUnavailable(reply.status(), channel, timeout);
  try {
    auto body = reply->envelope().getBody();
    if (!body.isScaleResponse()) return Status::Internal("the scheduler answered with the wrong message");
    auto r = body.getScaleResponse();
    PST_RETURN_IF_ERROR(FromRpcStatus(r.getStatus()).WithContext("scale"));
    return r.getLiveWorkers();
  } catch (const kj::Exception& e) {
    return Status::Internal(std::string("unreadable answer: ") + e.getDescription().cStr());
  }
}

StatusOr<CheckpointDone> RequestCheckpoint(Channel& channel, std::chrono::milliseconds timeout) {
  OutMessage msg;
  msg.envelope().getBody().initCheckpointRequest().setTimeoutMs(timeout.count());
  // The scheduler answers once the round is decided; allow it a little more.
  const auto wait = timeout + std::chrono::seconds(5);
  StatusOr<InMessage> reply = channel.Call(msg, wait);
  if (!reply.ok()) return NoAnswerIsUnavailable(reply.status(), channel, wait);
  try {
    auto body = reply->envelope().getBody();
    if (!body.isCheckpointResponse()) return Status::Internal("the scheduler answered with the wrong message");
    auto r = body.getCheckpointResponse();
    PST_RETURN_IF_ERROR(FromRpcStatus(r.getStatus()).WithContext("checkpoint"));
    return CheckpointDone{r.getCheckpointId(), r.getClock(), r.getDurationMs()};
  } catch (const kj::Exception& e) {
    return Status::Internal(std::string("unreadable answer: ") + e.getDescription().cStr());
  }
}

}  // namespace pst
