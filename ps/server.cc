#include "ps/server.h"

#include <algorithm>
#include <deque>

#include "common/bind.h"
#include "common/channel.h"
#include "common/heartbeat.h"
#include "common/log.h"
#include "common/registration.h"
#include "ps/shard.h"

namespace pst {

// Everything that exists once the job has started.
class ServerState {
 public:
  struct PendingPull {
    zmq::message_t identity;
    uint64_t request_id;
    KeyRange keys;
    uint64_t min_version;
    uint64_t clock;  // the puller's clock
  };
  JoinedJob joined;
  std::unique_ptr<Shard> shard;
  std::deque<PendingPull> pending_pulls;
  // Largest staleness seen when answering a pull: the puller's clock minus the
  // clocks every live worker had pushed (ASP/SSP; 0 under BSP).
  uint64_t max_staleness = 0;
};

namespace {

void FillPullResponse(const Shard& shard, uint64_t request_id, KeyRange keys, uint64_t clock,
                      uint64_t* max_staleness, OutMessage& out) {
  out.envelope().setRequestId(request_id);
  auto resp = out.envelope().getBody().initPullResponse();
  SetRpcStatus(Status::OK(), resp.initStatus());
  resp.setKeyBegin(keys.begin);
  resp.setKeyEnd(keys.end);
  resp.setVersion(keys.empty() ? shard.version() : shard.VersionOf(keys));
  const uint64_t slowest = shard.SlowestClock(keys);
  resp.setSlowestClock(slowest);
  if (slowest != UINT64_MAX && clock > slowest)
    *max_staleness = std::max(*max_staleness, clock - slowest);
  // One copy out of the live parameters: they change with the next update,
  // while ZeroMQ may still be sending this frame.
  out.AddFloatsCopy(shard.values(keys), keys.size());
}

}  // namespace

Server::Server(zmq::context_t& ctx, ServerOptions options, zmq::socket_t socket,
               std::string endpoint)
    : ctx_(ctx),
      options_(std::move(options)),
      socket_(std::move(socket)),
      endpoint_(std::move(endpoint)) {}

Server::~Server() = default;

StatusOr<std::unique_ptr<Server>> Server::Create(zmq::context_t& ctx,
                                                 const ServerOptions& options) {
  if (options.scheduler_endpoint.empty())
    return Status::InvalidArgument("--scheduler is required (e.g. tcp://127.0.0.1:7000)");
  PST_ASSIGN_OR_RETURN(BoundRouter bound, BindRouter(ctx, options.bind_host, options.port,
                                                     options.advertise_host, options.limits));
  return std::unique_ptr<Server>(
      new Server(ctx, options, std::move(bound.socket), std::move(bound.endpoint)));
}

void Server::Reply(InMessage& in, OutMessage& out) {
  Status s = SendMessage(socket_, out, &in.identity());
  // A worker that went away cannot be answered; nothing to undo.
  if (!s.ok()) PST_LOG_DEBUG("reply dropped: {}", s.message());
}

void Server::HandleRequest(InMessage& in) {
  auto env = in.envelope();
  const uint64_t id = env.getRequestId();
  auto body = env.getBody();
  OutMessage out;
  out.envelope().setRequestId(id);
  Shard& shard = *state_->shard;
  try {
    if (body.isPushRequest()) {
      auto req = body.getPushRequest();
      const KeyRange keys{req.getKeyBegin(), req.getKeyEnd()};
      Status s = in.num_bulk_frames() != 1
                     ? Status::InvalidArgument("push: expected exactly one value frame")
                 : req.getRetire()
                     ? shard.Retire(req.getRank())
                     : shard.Push(req.getRank(), req.getClock(), keys, req.getSampleCount(),
                                  in.floats(0), in.num_floats(0));
      if (!s.ok()) PST_LOG_WARN("rejected push from worker {}: {}", req.getRank(), s.message());
      SetRpcStatus(s, out.envelope().getBody().initPushResponse().initStatus());
      Reply(in, out);
      return;
    }
    if (body.isPullRequest()) {
      auto req = body.getPullRequest();
      const KeyRange keys{req.getKeyBegin(), req.getKeyEnd()};
      Status s = shard.CheckPull(keys, req.getMinVersion());
      if (s.ok()) {
        FillPullResponse(shard, id, keys, req.getClock(), &state_->max_staleness, out);
      } else if (s.code() == StatusCode::kUnavailable) {
        state_->pending_pulls.push_back(
            {std::move(in.identity()), id, keys, req.getMinVersion(), req.getClock()});
        return;
      } else {
        SetRpcStatus(s, out.envelope().getBody().initPullResponse().initStatus());
      }
      Reply(in, out);
      return;
    }
    SetRpcStatus(Status::InvalidArgument("a parameter server does not handle this message"),
                 out.envelope().getBody().initError());
  } catch (const kj::Exception& e) {
    SetRpcStatus(Status::InvalidArgument(std::string("malformed request: ") +
                                         e.getDescription().cStr()),
                 out.envelope().getBody().initError());
  }
  Reply(in, out);
}

Status Server::Run() {
  auto sched_or = Channel::Connect(ctx_, options_.scheduler_endpoint);
  if (!sched_or.ok()) return sched_or.status();
  std::unique_ptr<Channel> sched = std::move(sched_or).value();

  std::atomic<uint64_t> version{0};
  std::atomic<uint64_t> staleness{0};
  std::atomic<uint32_t> rank{0};
  std::unique_ptr<Heartbeater> heartbeat;
  Status hb_status;
  JoinOptions join;
  join.role = proto::Role::SERVER;
  join.endpoint = endpoint_;
  join.connect_timeout = options_.connect_timeout;
  join.form_timeout = options_.form_timeout;
  auto joined = JoinJob(*sched, join, &stop_, [&](const JoinedJob& j) {
    rank = j.rank;
    SetLogNodeName("ps " + std::to_string(j.rank));
    PST_LOG_INFO("registered as PS {} serving {}", j.rank, endpoint_);
    HeartbeaterOptions ho;
    ho.scheduler_endpoint = options_.scheduler_endpoint;
    ho.interval = j.heartbeat_interval;
    auto hb = Heartbeater::Start(ctx_, ho, [&](proto::HeartbeatRequest::Builder b) {
      b.setRole(proto::Role::SERVER);
      b.setRank(rank.load());
      b.setClock(version.load());
      b.setMaxStaleness(staleness.load());
    });
    if (hb.ok()) heartbeat = std::move(hb).value();
    else hb_status = hb.status();
  });
  if (joined.status().code() == StatusCode::kCancelled) return Status::OK();
  if (!joined.ok()) return joined.status();
  PST_RETURN_IF_ERROR(hb_status);

  state_ = std::make_unique<ServerState>();
  state_->joined = std::move(joined).value();
  if (state_->joined.rank >= state_->joined.servers.size())
    return Status::InvalidArgument("scheduler gave rank outside the server list");
  const KeyRange range = state_->joined.servers[state_->joined.rank].range;
  PST_ASSIGN_OR_RETURN(state_->shard, Shard::Create(state_->joined.job, range,
                                                     state_->joined.num_workers,
                                                     options_.max_clocks_ahead));
  PST_LOG_INFO("job started: keys [{}, {}) of the model, {} workers", range.begin, range.end,
               state_->joined.num_workers);

  Status result;
  while (!stop_) {
    PST_RETURN_IF_ERROR(WaitReadable(socket_, std::chrono::milliseconds(100)));
    // Drain everything waiting before answering deferred pulls, so one
    // version bump answers them all.
    for (int budget = 0; budget < 4096; ++budget) {
      InMessage in;
      Status s = RecvMessage(socket_, /*routed=*/true, options_.limits, &in);
      if (s.code() == StatusCode::kUnavailable) break;
      if (!s.ok()) {
        PST_LOG_WARN("malformed message: {}", s.message());
        if (in.identity().size() > 0) {
          OutMessage out;
          SetRpcStatus(s, out.envelope().getBody().initError());
          Reply(in, out);
        }
        continue;
      }
      HandleRequest(in);
    }
    version = state_->shard->version();
    staleness = state_->max_staleness;
    auto& pulls = state_->pending_pulls;
    for (auto it = pulls.begin(); it != pulls.end();) {
      if (!state_->shard->CheckPull(it->keys, it->min_version).ok()) {
        ++it;
        continue;
      }
      OutMessage out;
      FillPullResponse(*state_->shard, it->request_id, it->keys, it->clock,
                       &state_->max_staleness, out);
      Status s = SendMessage(socket_, out, &it->identity);
      if (!s.ok()) PST_LOG_DEBUG("deferred pull reply dropped: {}", s.message());
      it = pulls.erase(it);
    }
    const auto job_state = heartbeat->job_state();
    if (job_state == proto::JobState::DONE) {
      PST_LOG_INFO("job done at model version {}; largest staleness served: {}; exiting",
                   state_->shard->version(), state_->max_staleness);
      break;
    }
    if (job_state == proto::JobState::FAILED) {
      result = Status::Aborted("the scheduler reports the job failed; see the scheduler log");
      break;
    }
    if (heartbeat->lost_contact()) {
      result = Status::Unavailable("lost contact with the scheduler at " +
                                   options_.scheduler_endpoint);
      break;
    }
  }
  OutMessage leave;
  auto lr = leave.envelope().getBody().initLeaveRequest();
  lr.setRole(proto::Role::SERVER);
  lr.setRank(state_->joined.rank);
  auto bye = sched->Call(leave, std::chrono::milliseconds(1000));
  bye.status().IgnoreError();  // leaving is best effort: heartbeats time out otherwise
  return result;
}

}  // namespace pst
