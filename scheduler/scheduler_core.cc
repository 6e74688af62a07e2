#include "scheduler/scheduler_core.h"

#include <algorithm>

#include "common/consistency.h"
#include "common/log.h"
#include "scheduler/state_json.h"

namespace pst {

void SchedulerCore::Fail(std::string why) {
  if (st.state == proto::JobState::FAILED || st.state == proto::JobState::DONE) return;
  PST_LOG_ERROR("job failed: {}", why);
  st.failure = std::move(why);
  st.state = proto::JobState::FAILED;
  st.ended = Clock::now();
}

void SchedulerCore::SaveState(bool sync) {
  st.saved_at = Clock::now();
  if (!st.store) return;
  Status s = st.store->SaveState(StateToJson(st, endpoint).dump(), sync);
  if (!s.ok()) PST_LOG_ERROR("cannot save the job state: {}", s.message());
}

void SchedulerCore::SendTo(const std::string& identity, OutMessage& msg) {
  zmq::message_t id(identity.data(), identity.size());
  Status sent = SendMessage(socket, msg, &id);
  sent.IgnoreError();  // the peer may be gone; what matters is sent again
}

uint64_t SchedulerCore::FastestClock() const {
  uint64_t c = st.resume_clock;
  const bool servers = ConsistencyPolicy(options.job.train).lockstep();
  for (const auto* list : {&st.servers, &st.workers})
    for (const NodeInfo& n : *list)
      if (!n.Gone() && !n.identity.empty() && n.generation == st.generation &&
          (servers || n.role == proto::Role::WORKER))
        c = std::max(c, n.clock);
  return c;
}

std::string Describe(const NodeInfo& n) {
  const char* role = n.role == proto::Role::SERVER ? "PS" : n.role == proto::Role::WORKER ? "worker" : "client";
  return std::string(role) + " " + std::to_string(n.rank) + " (pid " + std::to_string(n.pid) + " on " +
         n.host + ")";
}

size_t CountRoster(const SchedulerState& st) {
  size_t n = 0;
  for (const NodeInfo& w : st.workers) n += w.in_roster ? 1 : 0;
  return n;
}

void FillRoster(const SchedulerState& st, capnp::List<proto::WorkerSlot>::Builder list) {
  size_t i = 0;
  for (const NodeInfo& w : st.workers) {
    if (!w.in_roster) continue;
    list[i].setRank(w.rank);
    list[i].setFromClock(w.from_clock);
    ++i;
  }
}

void FillServerList(const SchedulerState& st, const std::vector<KeyRange>& ranges,
                    capnp::List<proto::ServerInfo>::Builder list) {
  for (size_t i = 0; i < st.servers.size(); ++i) {
    list[i].setRank(static_cast<uint32_t>(i));
    list[i].setEndpoint(st.servers[i].endpoint);
    list[i].setKeyBegin(ranges[i].begin);
    list[i].setKeyEnd(ranges[i].end);
  }
}

}  // namespace pst
