#include "common/heartbeat.h"

#include "common/channel.h"
#include "common/log.h"

namespace pst {

StatusOr<std::unique_ptr<Heartbeater>> Heartbeater::Start(zmq::context_t& ctx,
                                                          const HeartbeaterOptions& options,
                                                          FillFn fill, ReplyFn on_reply) {
  if (options.scheduler_endpoint.empty())
    return Status::InvalidArgument("heartbeat: scheduler endpoint is empty");
  std::unique_ptr<Heartbeater> hb(new Heartbeater(options, std::move(fill), std::move(on_reply)));
  // Connect here so a bad endpoint is reported to the caller, not the thread.
  PST_ASSIGN_OR_RETURN(auto channel, Channel::Connect(ctx, options.scheduler_endpoint, {}, options.curve.get()));
  channel.reset();
  hb->thread_ = std::thread(&Heartbeater::Loop, hb.get(), &ctx);
  return hb;
}

Heartbeater::~Heartbeater() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Heartbeater::Loop(zmq::context_t* ctx) {
  auto channel_or = Channel::Connect(*ctx, options_.scheduler_endpoint, {}, options_.curve.get());
  if (!channel_or.ok()) {
    lost_ = true;
    return;
  }
  auto channel = std::move(channel_or).value();
  auto last_answer = std::chrono::steady_clock::now();
  uint64_t pending = 0;
  auto interval = options_.interval;
  while (!stop_) {
    OutMessage msg;
    fill_(msg.envelope().getBody().initHeartbeatRequest());
    auto id = channel->Send(msg);
    if (pending) channel->Discard(pending);
    pending = id.ok() ? *id : 0;
    // Against the interval as it is now: an answer may change it.
    const auto sent_at = std::chrono::steady_clock::now();
    while (!stop_ && std::chrono::steady_clock::now() < sent_at + interval) {
      Channel* c = channel.get();
      PollChannels(&c, 1, std::chrono::milliseconds(pending ? 5 : 10));
      if (poke_.exchange(false)) break;
      if (pending && channel->HasReply(pending)) {
        auto reply = channel->Await(pending, std::chrono::milliseconds(0));
        pending = 0;
        if (reply.ok() && reply->envelope().getBody().isHeartbeatResponse()) {
          last_answer = std::chrono::steady_clock::now();
          auto resp = reply->envelope().getBody().getHeartbeatResponse();
          state_ = resp.getState();
          // A large job's scheduler asks for fewer heartbeats; never so few
          // that the scheduler would count as lost between two of them.
          if (const uint64_t ms = resp.getHeartbeatIntervalMs(); ms > 0)
            interval = std::min(std::chrono::milliseconds(ms), options_.lost_after / 4);
          if (on_reply_) {
            try {
              on_reply_(resp);
            } catch (const kj::Exception& e) {
              // A malformed answer is skipped; the next heartbeat brings a fresh one.
              PST_LOG_WARN("malformed heartbeat answer: {}", e.getDescription().cStr());
            }
          }
          lost_ = false;
          if (options_.set_on_job_end &&
              (state_ == proto::JobState::DONE || state_ == proto::JobState::FAILED))
            *options_.set_on_job_end = true;
        }
      }
    }
    if (std::chrono::steady_clock::now() - last_answer > options_.lost_after) lost_ = true;
  }
}

}  // namespace pst
