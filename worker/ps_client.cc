#include "worker/ps_client.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>

namespace pst {

StatusOr<std::unique_ptr<PsClient>> PsClient::Connect(zmq::context_t& ctx,
                                                      const std::vector<ServerEntry>& servers,
                                                      uint64_t max_chunk,
                                                      const WireLimits& limits) {
  std::vector<Target> targets;
  for (const ServerEntry& s : servers) {
    PST_ASSIGN_OR_RETURN(auto channel, Channel::Connect(ctx, s.endpoint, limits));
    targets.push_back({std::move(channel), s.range, SplitIntoChunks(s.range, max_chunk)});
  }
  std::unique_ptr<PsClient> client(new PsClient(std::move(targets)));
  for (auto& t : client->targets_) client->channels_.push_back(t.channel.get());
  return client;
}

Status PsClient::Gather(std::vector<Pending>& pending, std::chrono::milliseconds timeout,
                        const std::atomic<bool>* stop,
                        const std::function<Status(const Pending&, InMessage&)>& on_reply) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Status first_error;
  while (!pending.empty()) {
    for (auto it = pending.begin(); it != pending.end();) {
      Channel& ch = *targets_[it->server].channel;
      if (!ch.HasReply(it->id)) {
        ++it;
        continue;
      }
      auto reply = ch.Await(it->id, std::chrono::milliseconds(0));
      Status s = reply.ok() ? on_reply(*it, *reply) : reply.status();
      if (!s.ok() && first_error.ok()) first_error = s.WithContext("PS " + ch.endpoint());
      it = pending.erase(it);
    }
    if (pending.empty()) break;
    if (stop && stop->load()) return Status::Cancelled("stopped while waiting for the PS");
    if (std::chrono::steady_clock::now() > deadline) {
      const auto& silent = *targets_[pending.front().server].channel;
      for (const Pending& p : pending) targets_[p.server].channel->Discard(p.id);
      pending.clear();
      return Status::DeadlineExceeded("no answer from PS " + silent.endpoint() + " within " +
                                      std::to_string(timeout.count()) + " ms");
    }
    PollChannels(channels_.data(), channels_.size(), std::chrono::milliseconds(50));
  }
  return first_error;
}

Status PsClient::StartPull(uint64_t min_version) {
  for (const Pending& p : pulls_) targets_[p.server].channel->Discard(p.id);
  pulls_.clear();
  pulls_version_ = min_version;
  for (size_t s = 0; s < targets_.size(); ++s) {
    for (const KeyRange& chunk : targets_[s].chunks) {
      if (chunk.empty()) continue;
      OutMessage msg;
      auto req = msg.envelope().getBody().initPullRequest();
      req.setKeyBegin(chunk.begin);
      req.setKeyEnd(chunk.end);
      req.setMinVersion(min_version);
      PST_ASSIGN_OR_RETURN(uint64_t id, targets_[s].channel->Send(msg));
      pulls_.push_back({s, id});
    }
  }
  return Status::OK();
}

StatusOr<uint64_t> PsClient::Pull(uint64_t min_version, float* params,
                                  std::chrono::milliseconds timeout,
                                  const std::atomic<bool>* stop) {
  if (pulls_.empty() || pulls_version_ != min_version) PST_RETURN_IF_ERROR(StartPull(min_version));
  std::vector<Pending> pending = std::move(pulls_);
  pulls_.clear();
  uint64_t version = UINT64_MAX;
  PST_RETURN_IF_ERROR(Gather(pending, timeout, stop, [&](const Pending&, InMessage& in) -> Status {
    auto body = in.envelope().getBody();
    if (!body.isPullResponse()) return Status::InvalidArgument("pull answered with the wrong message");
    auto resp = body.getPullResponse();
    PST_RETURN_IF_ERROR(FromRpcStatus(resp.getStatus()));
    const KeyRange keys{resp.getKeyBegin(), resp.getKeyEnd()};
    if (in.num_bulk_frames() != 1 || in.num_floats(0) != keys.size() || keys.end < keys.begin)
      return Status::InvalidArgument("pull reply sizes do not match its key range");
    // The one copy from the network frame into the model buffer the BLAS calls read.
    std::memcpy(params + keys.begin, in.floats(0), keys.size() * sizeof(float));
    version = std::min(version, resp.getVersion());
    return Status::OK();
  }));
  return version;
}

Status PsClient::Push(uint32_t rank, uint64_t clock, std::shared_ptr<const void> owner,
                      const float* grad, uint32_t samples) {
  for (size_t s = 0; s < targets_.size(); ++s) {
    const auto& chunks = targets_[s].chunks;
    const bool empty = samples == 0;
    const size_t n = empty ? 1 : chunks.size();
    for (size_t c = 0; c < n; ++c) {
      const KeyRange keys = empty ? KeyRange{} : chunks[c];
      OutMessage msg;
      auto req = msg.envelope().getBody().initPushRequest();
      req.setRank(rank);
      req.setClock(clock);
      req.setKeyBegin(keys.begin);
      req.setKeyEnd(keys.end);
      req.setSampleCount(samples);
      req.setChunks(static_cast<uint32_t>(n));
      msg.AddFloatsZeroCopy(owner, empty ? nullptr : grad + keys.begin, keys.size());
      PST_ASSIGN_OR_RETURN(uint64_t id, targets_[s].channel->Send(msg));
      pushes_.push_back({s, id});
    }
  }
  return Status::OK();
}

Status PsClient::WaitPushes(std::chrono::milliseconds timeout, const std::atomic<bool>* stop) {
  return Gather(pushes_, timeout, stop, [](const Pending&, InMessage& in) -> Status {
    auto body = in.envelope().getBody();
    if (!body.isPushResponse()) return Status::InvalidArgument("push answered with the wrong message");
    return FromRpcStatus(body.getPushResponse().getStatus());
  });
}

}  // namespace pst
