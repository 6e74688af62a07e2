#include "worker/ps_client.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace pst {

PsClient::PsClient(std::vector<std::unique_ptr<Channel>> channels, std::vector<Block> blocks,
                   uint32_t rank)
    : channels_(std::move(channels)), blocks_(std::move(blocks)), rank_(rank) {
  for (auto& c : channels_) channel_ptrs_.push_back(c.get());
}

StatusOr<std::unique_ptr<PsClient>> PsClient::Connect(zmq::context_t& ctx,
                                                      const std::vector<ServerEntry>& servers,
                                                      uint64_t block_keys, uint32_t rank,
                                                      const WireLimits& limits,
                                                      const ClusterKeys* curve) {
  std::vector<std::unique_ptr<Channel>> channels;
  std::vector<Block> blocks;
  for (size_t s = 0; s < servers.size(); ++s) {
    PST_ASSIGN_OR_RETURN(auto channel, Channel::Connect(ctx, servers[s].endpoint, limits, curve));
    channels.push_back(std::move(channel));
    for (const KeyRange& keys : SplitIntoChunks(servers[s].range, block_keys))
      if (!keys.empty()) blocks.push_back({s, keys});
  }
  return std::unique_ptr<PsClient>(new PsClient(std::move(channels), std::move(blocks), rank));
}

size_t PsClient::FirstBlockAfter(uint64_t key) const {
  return std::upper_bound(blocks_.begin(), blocks_.end(), key,
                          [](uint64_t k, const Block& b) { return k < b.keys.end; }) -
         blocks_.begin();
}

PsClient::PullSlot* PsClient::FindPull(const float* dest) {
  for (PullSlot& p : pulls_)
    if (p.target.dest == dest) return &p;
  return nullptr;
}

const PsClient::PullSlot* PsClient::SlotOf(PullHandle pull) const {
  if (pull.slot_ < 0 || pull.slot_ >= 2) return nullptr;
  const PullSlot& slot = pulls_[pull.slot_];
  return slot.target.dest && slot.serial == pull.serial_ ? &slot : nullptr;
}

PsClient::PullSlot* PsClient::SlotOf(PullHandle pull) {
  return const_cast<PullSlot*>(static_cast<const PsClient*>(this)->SlotOf(pull));
}

void PsClient::CancelPull(PullSlot& slot) {
  for (size_t i = 0; i < slot.ids.size(); ++i)
    if (slot.ids[i] && slot.ids[i] != kNotSent) channels_[blocks_[i].server]->Discard(slot.ids[i]);
  slot.ids.assign(blocks_.size(), 0);
  slot.timed.assign(blocks_.size(), false);
  slot.sent.resize(blocks_.size());
  slot.outstanding = 0;
  slot.via_push = false;
  if (push_pull_ == &slot) push_pull_ = nullptr;
}

PsClient::PullSlot* PsClient::SlotFor(float* dest) {
  PullSlot* slot = FindPull(dest);
  // Otherwise a free slot, or one whose pull is complete (its buffer is the
  // caller's to reuse).
  for (PullSlot& p : pulls_)
    if (!slot && p.target.dest == nullptr) slot = &p;
  for (PullSlot& p : pulls_)
    if (!slot && p.outstanding == 0) slot = &p;
  return slot;
}

StatusOr<PsClient::PullSlot*> PsClient::ClaimSlot(const PullTarget& target) {
  if (!target.dest) return Status::InvalidArgument("a pull needs a buffer");
  PullSlot* slot = SlotFor(target.dest);
  if (!slot) return Status::FailedPrecondition("two pulls into other buffers are still in flight");
  CancelPull(*slot);
  if (slot->target.dest != target.dest) {  // a view of another buffer's values
    slot->view = nullptr;
    slot->view_frame = InMessage();
  }
  slot->target = target;
  ++slot->serial;
  slot->version_seen = UINT64_MAX;
  return slot;
}

StatusOr<PullHandle> PsClient::StartPull(const PullTarget& target) {
  PST_ASSIGN_OR_RETURN(PullSlot * slot, ClaimSlot(target));
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    OutMessage msg;
    auto req = msg.envelope().getBody().initPullRequest();
    req.setKeyBegin(b.keys.begin);
    req.setKeyEnd(b.keys.end);
    req.setMinVersion(target.min_version);
    req.setRank(rank_);
    req.setClock(target.clock);
    req.setGeneration(generation_);
    slot->sent[i] = std::chrono::steady_clock::now();
    PST_ASSIGN_OR_RETURN(slot->ids[i], channels_[b.server]->Send(msg));
    slot->timed[i] = true;
    ++slot->outstanding;
  }
  return HandleOf(*slot);
}

void PsClient::NoteArrivals() {
  std::chrono::steady_clock::time_point now{};  // read once, when something arrived
  auto when = [&now] {
    if (now == std::chrono::steady_clock::time_point{}) now = std::chrono::steady_clock::now();
    return now;
  };
  for (PullSlot& p : pulls_) {
    if (p.outstanding == 0) continue;
    for (size_t i = 0; i < p.ids.size(); ++i) {
      if (p.timed[i] && channels_[blocks_[i].server]->HasReply(p.ids[i])) {
        pull_latency_.Record(when() - p.sent[i]);
        // The answer to a push-and-pull also acknowledges the push.
        if (p.via_push) push_latency_.Record(when() - p.sent[i]);
        p.timed[i] = false;
      }
    }
  }
  for (Pending& p : push_acks_) {
    if (p.timed && channels_[p.server]->HasReply(p.id)) {
      push_latency_.Record(when() - p.sent);
      p.timed = false;
    }
  }
}

void PsClient::TakeLatencies(LatencyHistogram* pull, LatencyHistogram* push) {
  pull->Merge(pull_latency_);
  push->Merge(push_latency_);
  pull_latency_.Clear();
  push_latency_.Clear();
}

Status PsClient::TakePullReplies(PullSlot& slot, size_t first, size_t last) {
  for (size_t i = first; i < last; ++i) {
    const Block& b = blocks_[i];
    Channel& ch = *channels_[b.server];
    if (!slot.ids[i] || !ch.HasReply(slot.ids[i])) continue;
    if (slot.timed[i]) {  // received since the last NoteArrivals
      const auto latency = std::chrono::steady_clock::now() - slot.sent[i];
      pull_latency_.Record(latency);
      if (slot.via_push) push_latency_.Record(latency);
      slot.timed[i] = false;
    }
    auto reply = ch.Await(slot.ids[i], std::chrono::milliseconds(0));
    slot.ids[i] = 0;
    --slot.outstanding;
    if (!reply.ok()) return reply.status().WithContext("pull from PS " + ch.endpoint());
    auto body = reply->envelope().getBody();
    if (!body.isPullResponse())
      return Status::InvalidArgument("PS " + ch.endpoint() +
                                     " answered a pull with the wrong message");
    auto resp = body.getPullResponse();
    PST_RETURN_IF_ERROR(
        FromRpcStatus(resp.getStatus()).WithContext("pull from PS " + ch.endpoint()));
    if (resp.getKeyBegin() != b.keys.begin || resp.getKeyEnd() != b.keys.end ||
        reply->num_bulk_frames() != 1 || reply->num_floats(0) != b.keys.size())
      return Status::InvalidArgument("PS " + ch.endpoint() +
                                     " answered a pull with the wrong keys or sizes");
    if (resp.getVersion() < slot.target.min_version)
      return Status::InvalidArgument("PS " + ch.endpoint() +
                                     " answered a pull with an old version");
    slot.version_seen = std::min(slot.version_seen, resp.getVersion());
    const uint64_t slowest = resp.getSlowestClock();
    if (slowest != UINT64_MAX && slot.target.clock > slowest)
      max_staleness_ = std::max(max_staleness_, slot.target.clock - slowest);
    if (pull_views_) {
      // No copy: the BLAS calls read the frame (the answer is the whole model).
      slot.view_frame = std::move(*reply);
      slot.view = slot.view_frame.floats(0);
    } else {
      // The one copy from the network frame into the buffer the BLAS calls read.
      std::memcpy(slot.target.dest + b.keys.begin, reply->floats(0), b.keys.size() * sizeof(float));
    }
  }
  return Status::OK();
}

Status PsClient::WaitKeys(PullHandle pull, KeyRange keys, std::chrono::milliseconds timeout,
                          const std::atomic<bool>* stop) {
  PullSlot* slot = SlotOf(pull);
  if (!slot) return Status::FailedPrecondition("WaitKeys: the pull was replaced or never started");
  const size_t first = FirstBlockAfter(keys.begin);
  size_t last = first;
  while (last < blocks_.size() && blocks_[last].keys.begin < keys.end) ++last;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    PST_RETURN_IF_ERROR(TakePullReplies(*slot, first, last));
    NoteArrivals();  // answers for other blocks and push acks received meanwhile
    size_t missing = last;
    for (size_t i = first; i < last; ++i)
      if (slot->ids[i]) {
        missing = i;
        break;
      }
    if (missing == last) return Status::OK();
    if (stop && stop->load()) return Status::Cancelled("stopped while waiting for the PS");
    if (std::chrono::steady_clock::now() > deadline)
      return Status::DeadlineExceeded("no answer from PS " +
                                      channels_[blocks_[missing].server]->endpoint() + " within " +
                                      std::to_string(timeout.count()) + " ms");
    // Wake on any server's message, not only the one of the block we need
    // next: push acks and other blocks' answers are then received (and timed)
    // as they arrive rather than when that server answers.
    PollChannels(channel_ptrs_.data(), channel_ptrs_.size(), std::chrono::milliseconds(50));
  }
}

const float* PsClient::Values(PullHandle pull) const {
  const PullSlot* slot = SlotOf(pull);
  if (!slot) return nullptr;
  return slot->view ? slot->view : slot->target.dest;
}

Status PsClient::TakeArrived(const PullTarget& target, KeyRange keys) {
  PullSlot* slot = FindPull(target.dest);
  if (!slot || !(slot->target == target) || slot->outstanding == 0 || pull_views_)
    return Status::OK();
  for (Channel* c : channel_ptrs_) c->Pump();
  size_t first = FirstBlockAfter(keys.begin);
  if (first < blocks_.size() && blocks_[first].keys.begin < keys.begin) ++first;  // partly outside
  size_t last = first;
  while (last < blocks_.size() && blocks_[last].keys.end <= keys.end) ++last;
  return TakePullReplies(*slot, first, last);
}

StatusOr<PullHandle> PsClient::EnsurePull(const PullTarget& target) {
  const PullSlot* slot = FindPull(target.dest);
  if (slot && slot->target == target) return HandleOf(*slot);
  return StartPull(target);
}

StatusOr<uint64_t> PsClient::WaitAll(PullHandle pull, std::chrono::milliseconds timeout,
                                     const std::atomic<bool>* stop) {
  if (!blocks_.empty())
    PST_RETURN_IF_ERROR(
        WaitKeys(pull, {blocks_.front().keys.begin, blocks_.back().keys.end}, timeout, stop));
  const PullSlot* slot = SlotOf(pull);
  if (!slot) return Status::FailedPrecondition("WaitAll: the pull was replaced or never started");
  return slot->version_seen == UINT64_MAX ? slot->target.min_version : slot->version_seen;
}

void PsClient::BeginPush(PushSpec push) {
  push_pull_ = nullptr;
  push_ = std::move(push);
  for (Block& b : blocks_) {
    b.ready_keys = 0;
    b.pushed = false;
  }
}

Status PsClient::SendPush(Block& b) {
  OutMessage msg;
  auto req = msg.envelope().getBody().initPushRequest();
  req.setRank(push_.rank);
  req.setClock(push_.clock);
  req.setGeneration(generation_);
  req.setKeyBegin(b.keys.begin);
  req.setKeyEnd(b.keys.end);
  req.setSampleCount(push_.samples);
  req.setDataOrder(push_.data_order);
  req.setChunks(1);
  // The pull is set up at the first block sent, not in BeginPush: the buffer
  // may be the one whose pull this step's forward pass is still waiting for.
  if (push_.then_pull.dest && !push_pull_) {
    PST_ASSIGN_OR_RETURN(PullSlot * slot, ClaimSlot(push_.then_pull));
    slot->via_push = true;
    // Every block is missing until its push (which asks for it) is answered.
    slot->ids.assign(blocks_.size(), kNotSent);
    slot->outstanding = blocks_.size();
    push_pull_ = slot;
  }
  if (push_pull_) {
    req.setThenPull(true);
    req.setPullMinVersion(push_pull_->target.min_version);
    req.setPullClock(push_pull_->target.clock);
  }
  msg.AddFloatsZeroCopy(push_.owner, push_.grad + b.keys.begin, b.keys.size());
  const auto sent = std::chrono::steady_clock::now();
  PST_ASSIGN_OR_RETURN(uint64_t id, channels_[b.server]->Send(msg));
  if (push_pull_) {
    const size_t i = static_cast<size_t>(&b - blocks_.data());
    push_pull_->ids[i] = id;
    push_pull_->sent[i] = sent;
    push_pull_->timed[i] = true;
  } else {
    push_acks_.push_back({b.server, id, sent, true});
  }
  b.pushed = true;
  return Status::OK();
}

Status PsClient::GradReady(KeyRange keys) {
  for (size_t i = FirstBlockAfter(keys.begin);
       i < blocks_.size() && blocks_[i].keys.begin < keys.end; ++i) {
    Block& b = blocks_[i];
    b.ready_keys += Intersect(b.keys, keys).size();
    if (!b.pushed && b.ready_keys >= b.keys.size()) PST_RETURN_IF_ERROR(SendPush(b));
  }
  return Status::OK();
}

Status PsClient::EndPush() {
  for (const Block& b : blocks_)
    if (!b.pushed)
      return Status::Internal("block [" + std::to_string(b.keys.begin) + ", " +
                              std::to_string(b.keys.end) + ") was never reported ready");
  push_.owner.reset();
  push_pull_ = nullptr;
  push_.then_pull = PullTarget{};
  return Status::OK();
}

Status PsClient::PushEmpty(uint32_t rank, uint64_t clock) {
  for (size_t s = 0; s < channels_.size(); ++s) {
    OutMessage msg;
    auto req = msg.envelope().getBody().initPushRequest();
    req.setRank(rank);
    req.setClock(clock);
    req.setGeneration(generation_);
    req.setSampleCount(0);
    req.setChunks(1);
    msg.AddFloatsCopy(nullptr, 0);
    PST_ASSIGN_OR_RETURN(uint64_t id, channels_[s]->Send(msg));
    push_acks_.push_back({s, id});
  }
  return Status::OK();
}

Status PsClient::Retire(uint32_t rank) {
  for (size_t s = 0; s < channels_.size(); ++s) {
    OutMessage msg;
    auto req = msg.envelope().getBody().initPushRequest();
    req.setRank(rank);
    req.setGeneration(generation_);
    req.setRetire(true);
    msg.AddFloatsCopy(nullptr, 0);
    PST_ASSIGN_OR_RETURN(uint64_t id, channels_[s]->Send(msg));
    push_acks_.push_back({s, id});
  }
  return Status::OK();
}

Status PsClient::HandlePushAck(InMessage& in) {
  auto body = in.envelope().getBody();
  if (!body.isPushResponse())
    return Status::InvalidArgument("push answered with the wrong message");
  return FromRpcStatus(body.getPushResponse().getStatus());
}

Status PsClient::CollectPushAcks() {
  Status first_error;
  for (Channel* c : channel_ptrs_) c->Pump();
  NoteArrivals();
  for (auto it = push_acks_.begin(); it != push_acks_.end();) {
    Channel& ch = *channels_[it->server];
    if (!ch.HasReply(it->id)) {
      ++it;
      continue;
    }
    if (it->timed) {  // received by an Await below, after NoteArrivals
      push_latency_.Record(std::chrono::steady_clock::now() - it->sent);
      it->timed = false;
    }
    auto reply = ch.Await(it->id, std::chrono::milliseconds(0));
    Status s = reply.ok() ? HandlePushAck(*reply) : reply.status();
    if (!s.ok() && first_error.ok()) first_error = s.WithContext("push to PS " + ch.endpoint());
    it = push_acks_.erase(it);
  }
  return first_error;
}

Status PsClient::WaitPushes(std::chrono::milliseconds timeout, const std::atomic<bool>* stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    PST_RETURN_IF_ERROR(CollectPushAcks());
    // The pulls that pushes carried are their acks (blocks never sent have none).
    const Channel* silent =
        push_acks_.empty() ? nullptr : channels_[push_acks_.front().server].get();
    for (const PullSlot& p : pulls_)
      for (size_t i = 0; p.via_push && i < p.ids.size(); ++i)
        if (p.ids[i] && p.ids[i] != kNotSent && !channels_[blocks_[i].server]->HasReply(p.ids[i]))
          silent = channels_[blocks_[i].server].get();
    if (!silent) return Status::OK();
    if (stop && stop->load()) return Status::Cancelled("stopped while waiting for the PS");
    if (std::chrono::steady_clock::now() > deadline)
      return Status::DeadlineExceeded("no push acknowledgement from PS " + silent->endpoint() +
                                      " within " + std::to_string(timeout.count()) + " ms");
    PollChannels(channel_ptrs_.data(), channel_ptrs_.size(), std::chrono::milliseconds(50));
  }
}

}  // namespace pst
