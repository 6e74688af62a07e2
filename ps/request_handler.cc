#include "ps/request_handler.h"

#include <algorithm>
#include <string>

#include "common/log.h"

namespace pst {
// Requests of another generation (from before a rollback, or from a worker
// that has not caught up yet) are refused; the worker restarts its step.
Status StaleGeneration(uint32_t got, uint32_t have) {
  return Status::Aborted("generation " + std::to_string(got) + " is not the current " +
                         std::to_string(have) + " (the job rolled back to a checkpoint)");
}

void RequestHandler::Reply(zmq::message_t& identity, OutMessage& out) {
  Status s = SendMessage(socket_, out, &identity);
  // A worker that went away cannot be answered; nothing to undo.
  if (!s.ok()) PST_LOG_DEBUG("reply dropped: {}", s.message());
}

void RequestHandler::AbortPendingPulls(uint32_t next) {
  for (auto& p : pending_pulls_) {
    OutMessage out;
    out.envelope().setRequestId(p.request_id);
    SetRpcStatus(StaleGeneration(generation_, next),
                 out.envelope().getBody().initPullResponse().initStatus());
    Reply(p.identity, out);
    if (clients_) clients_->Release(p.identity);
  }
  pending_pulls_.clear();
}

void RequestHandler::SetShard(Shard* shard, uint32_t generation) {
  shard_ = shard;
  generation_ = generation;
}

void RequestHandler::Handle(InMessage& in) {
  StatusOr<PsRequest> request = DecodePsRequest(in);
  if (!request.ok()) {
    OutMessage out;
    out.envelope().setRequestId(in.envelope().getRequestId());
    SetRpcStatus(request.status(), out.envelope().getBody().initError());
    Reply(in.identity(), out);
    return;
  }
  if (const PushCall* push = std::get_if<PushCall>(&*request)) return HandlePush(in, *push);
  const PullCall& pull = std::get<PullCall>(*request);
  if (pull.generation != generation_) {
    OutMessage out;
    out.envelope().setRequestId(pull.request_id);
    SetRpcStatus(StaleGeneration(pull.generation, generation_),
                 out.envelope().getBody().initPullResponse().initStatus());
    Reply(in.identity(), out);
    return;
  }
  AnswerPull(in, pull.request_id, pull.keys, pull.min_version, pull.clock, pull.rank);
}

void RequestHandler::HandlePush(InMessage& in, const PushCall& push) {
  Status s = push.generation != generation_ ? StaleGeneration(push.generation, generation_)
             : push.num_frames != 1
                 ? Status::InvalidArgument("push: expected exactly one value frame")
             : push.retire ? shard_->Retire(push.rank)
                           : shard_->Push(push.rank, push.clock, push.keys, push.sample_count,
                                          push.vals, push.num_vals, push.data_order);
  if (std::string more; !s.ok() && rejected_log_.Note(LogThrottle::Clock::now(), &more))
    PST_LOG_WARN("rejected push from worker {}: {}{}", push.rank, s.message(), more);
  // The pulls this push unblocked go out before its answer and before the
  // next message is read: a worker waiting for the first block of the next
  // version gets it while later blocks are still on their way in. An empty
  // push (an idle worker) or a retirement affects every block.
  if (s.ok()) AnswerReadyPulls(push.keys.empty() || push.retire ? kAllKeys : push.keys);
  if (push.then_pull && s.ok()) {
    AnswerPull(in, push.request_id, push.keys, push.pull_min_version, push.pull_clock, push.rank);
    return;
  }
  OutMessage out;
  out.envelope().setRequestId(push.request_id);
  if (push.then_pull)
    SetRpcStatus(s, out.envelope().getBody().initPullResponse().initStatus());
  else
    SetRpcStatus(s, out.envelope().getBody().initPushResponse().initStatus());
  Reply(in.identity(), out);
}

void RequestHandler::FillPullResponse(uint64_t request_id, KeyRange keys, uint64_t clock,
                                      OutMessage& out) {
  out.envelope().setRequestId(request_id);
  auto resp = out.envelope().getBody().initPullResponse();
  SetRpcStatus(Status::OK(), resp.initStatus());
  resp.setKeyBegin(keys.begin);
  resp.setKeyEnd(keys.end);
  resp.setVersion(keys.empty() ? shard_->version() : shard_->VersionOf(keys));
  const uint64_t slowest = shard_->SlowestClock(keys);
  resp.setSlowestClock(slowest);
  if (slowest != UINT64_MAX && clock > slowest)
    max_staleness_ = std::max(max_staleness_, clock - slowest);
  // One copy out of the live parameters: they change with the next update,
  // while ZeroMQ may still be sending this frame.
  out.AddFloatsCopy(shard_->values(keys), keys.size());
}

void RequestHandler::AnswerPull(InMessage& in, uint64_t request_id, KeyRange keys,
                                uint64_t min_version, uint64_t clock, uint32_t rank) {
  Status s = shard_->CheckPull(keys, min_version, rank);
  if (s.code() == StatusCode::kUnavailable) {
    s = clients_ ? clients_->Hold(in.identity()) : Status::OK();
    if (s.ok()) {
      pending_pulls_.push_back(
          {std::move(in.identity()), request_id, keys, min_version, clock, rank});
      return;
    }
  }
  OutMessage out;
  out.envelope().setRequestId(request_id);
  if (s.ok())
    FillPullResponse(request_id, keys, clock, out);
  else
    SetRpcStatus(s, out.envelope().getBody().initPullResponse().initStatus());
  Reply(in.identity(), out);
}

void RequestHandler::AnswerReadyPulls(KeyRange changed) {
  for (auto it = pending_pulls_.begin(); it != pending_pulls_.end();) {
    // Only a pull overlapping the changed keys can have become ready; the
    // overlap test is far cheaper than CheckPull when many pulls wait.
    const bool overlaps =
        changed == kAllKeys || (it->keys.begin < changed.end && changed.begin < it->keys.end);
    if (!overlaps || !shard_->CheckPull(it->keys, it->min_version, it->rank).ok()) {
      ++it;
      continue;
    }
    OutMessage out;
    FillPullResponse(it->request_id, it->keys, it->clock, out);
    Status s = SendMessage(socket_, out, &it->identity);
    if (!s.ok()) PST_LOG_DEBUG("deferred pull reply dropped: {}", s.message());
    if (clients_) clients_->Release(it->identity);
    it = pending_pulls_.erase(it);
  }
}

}  // namespace pst
