#include "scheduler/scheduler.h"

#include <unistd.h>

#include "common/bind.h"
#include "common/log.h"
#include "common/job_tables.h"
#include "common/proto_convert.h"
#include "scheduler/admin_server.h"
#include "scheduler/checkpoint_rounds.h"
#include "scheduler/job_status.h"
#include "scheduler/lease_service.h"
#include "scheduler/membership.h"
#include "scheduler/recovery.h"
#include "scheduler/scheduler_core.h"
#include "scheduler/scheduler_state.h"

namespace pst {

Scheduler::Scheduler(SchedulerOptions options, BoundRouter bound, std::unique_ptr<AdminServer> admin)
    : options_(std::move(options)),
      zap_(std::move(bound.zap)),
      socket_(std::move(bound.socket)),
      clients_(ClientLimits{options_.job.network.max_clients,
                            options_.job.network.max_in_flight_per_client}),
      endpoint_(std::move(bound.endpoint)),
      admin_(std::move(admin)) {}

Scheduler::~Scheduler() = default;

const std::string& Scheduler::admin_url() const {
  static const std::string kNone;
  return admin_ ? admin_->url() : kNone;
}

StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(zmq::context_t& ctx,
                                                       const SchedulerOptions& options) {
  PST_RETURN_IF_ERROR(ValidateJobSpec(options.job));
  if (options.heartbeat_interval.count() <= 0 ||
      options.heartbeat_timeout <= options.heartbeat_interval)
    return Status::InvalidArgument(
        "heartbeat timeout must be longer than the heartbeat interval (both > 0)");
  if (options.admin_port > 65535 || options.admin_port < -1)
    return Status::InvalidArgument("admin port must be in [0, 65535], or -1 to disable it; got " +
                                   std::to_string(options.admin_port));
  SchedulerOptions o = options;
  o.limits.max_floats_per_frame = o.job.network.max_frame_bytes / sizeof(float);
  // Jobs with short heartbeats (tests, drills) notice a silence as promptly.
  o.sweep_interval = std::min(o.sweep_interval, o.heartbeat_interval);
  PST_ASSIGN_OR_RETURN(BoundRouter bound,
                       BindRouter(ctx, o.bind_host, o.port, o.advertise_host, o.limits,
                                  o.curve.get()));
  std::unique_ptr<AdminServer> admin;
  if (options.admin_port >= 0) {
    // A wildcard bind is reached at the advertised host (or this host's name).
    std::string url_host;
    if (options.admin_bind == "0.0.0.0" || options.admin_bind == "::") {
      url_host = options.advertise_host;
      if (url_host.empty()) {
        char name[256] = {};
        url_host = gethostname(name, sizeof(name) - 1) == 0 ? name : "127.0.0.1";
      }
    }
    // POSTs reach the scheduler's own socket from this host.
    const std::string port = bound.endpoint.substr(bound.endpoint.rfind(':') + 1);
    const bool wildcard = options.bind_host == "0.0.0.0" || options.bind_host == "*";
    AdminControl control{options.curve ? options.curve->admin_token : "",
                         "tcp://" + (wildcard ? std::string("127.0.0.1") : options.bind_host) + ":" + port,
                         options.curve};
    PST_ASSIGN_OR_RETURN(
        admin, AdminServer::Start(options.admin_bind, static_cast<uint16_t>(options.admin_port),
                                  url_host, std::move(control)));
  }
  return std::unique_ptr<Scheduler>(new Scheduler(std::move(o), std::move(bound), std::move(admin)));
}

void Scheduler::PublishSnapshot() {
  if (!admin_ || !core_) return;
  // Read before building: the GETs counted so far are answered by this one.
  published_for_ = admin_->Requests();
  AdminSnapshot snapshot = BuildAdminSnapshot(*core_, admin_->url());
  snapshot.scheduler_refusals = clients_.refusals();
  if (zap_) {
    snapshot.scheduler_refusals.client_key = zap_->refused();
    snapshot.scheduler_refusals.handshake = zap_->failed_handshakes();
  }
  admin_->Publish(std::move(snapshot), published_for_);
}

bool Scheduler::Dispatch(const SchedulerCall& call, const InMessage& in, OutMessage& out) {
  const std::string identity(static_cast<const char*>(in.identity().data()), in.identity().size());
  auto reply = out.envelope().getBody();
  if (auto* c = std::get_if<RegisterCall>(&call)) {
    membership_->Register(*c, identity, reply.initRegisterResponse());
  } else if (auto* c = std::get_if<HeartbeatCall>(&call)) {
    return membership_->Heartbeat(*c, reply.initHeartbeatResponse());
  } else if (auto* c = std::get_if<ShardCall>(&call)) {
    leases_->Shard(*c, reply.initShardResponse());
  } else if (auto* c = std::get_if<EvalCall>(&call)) {
    SetRpcStatus(leases_->Eval(*c), reply.initAck());
  } else if (auto* c = std::get_if<LeaveCall>(&call)) {
    SetRpcStatus(membership_->Leave(*c), reply.initAck());
  } else if (std::holds_alternative<JobStatusCall>(call)) {
    FillJobStatus(*core_, reply.initJobStatusResponse());
  } else if (auto* c = std::get_if<CheckpointCall>(&call)) {
    return !rounds_->Request(*c, identity, in.envelope().getRequestId(), reply.initCheckpointResponse());
  } else if (auto* c = std::get_if<ScaleCall>(&call)) {
    membership_->Scale(*c, reply.initScaleResponse());
  }
  return true;
}

void Scheduler::HandleMessages() {
  for (uint32_t budget = 0; budget < options_.messages_per_turn; ++budget) {
    InMessage in;
    Status s = RecvMessage(socket_, /*routed=*/true, options_.limits, &in);
    if (s.code() == StatusCode::kUnavailable) break;
    if (in.identity().size() > 0) {
      Status admitted = clients_.Admit(in.identity(), Clock::now());
      if (!admitted.ok()) s = admitted;
      else if (s.code() == StatusCode::kResourceExhausted) clients_.CountFrameRefusal();
    }
    OutMessage out;
    bool answer_now = true;
    if (!s.ok()) {
      refused_log_.Log(s);
      if (in.has_envelope()) out.envelope().setRequestId(in.envelope().getRequestId());
      SetRpcStatus(s, out.envelope().getBody().initError());
    } else {
      out.envelope().setRequestId(in.envelope().getRequestId());
      StatusOr<SchedulerCall> call = DecodeRequest(in.envelope());
      if (call.ok()) {
        const uint64_t clock_bound = state_->clock_bound;
        answer_now = Dispatch(*call, in, out);
        // What a worker's heartbeat changes waits for the next tick, unless
        // it moved the largest clock (a checkpoint round may be due); any
        // other request may need the prompt work.
        const auto* hb = std::get_if<HeartbeatCall>(&*call);
        if (!hb || hb->role != proto::Role::WORKER || state_->clock_bound != clock_bound) prompt_ = true;
      } else {
        SetRpcStatus(call.status(), out.envelope().getBody().initError());
      }
    }
    if (in.identity().size() == 0 || !answer_now) continue;
    Status sent = SendMessage(socket_, out, &in.identity());
    sent.IgnoreError();  // the peer may be gone; nothing to undo
  }
}

bool Scheduler::Tick(uint64_t total_keys) {
  SchedulerState& st = *state_;
  const auto now = Clock::now();
  if (st.state == proto::JobState::FORMING) membership_->StartJobIfFormed(now, total_keys);
  membership_->SendToNewcomers();
  // What walks every node but has seconds to act (heartbeat timeouts) or
  // where a few tens of ms do not matter (admission, removals) runs at the
  // slower sweep cadence: with a thousand nodes these walks cost more per
  // tick than a tick's messages.
  const bool sweep = now - swept_at_ >= options_.sweep_interval;
  if (sweep) {
    swept_at_ = now;
    all_gone_ = membership_->SweepHeartbeats(now);
  }
  recovery_->Tick(now);
  leases_->WatchWorkers(now);
  if (st.state == proto::JobState::RUNNING) {
    if (sweep) {
      membership_->ProgressRemovals();
      membership_->AdmitWorkers();
    }
    // Every tick: a fast job's rounds (checkpoint.every_steps) are placed
    // clocks ahead and must keep pace with it.
    rounds_->Tick(now);
  }
  if (st.state == proto::JobState::RUNNING || st.state == proto::JobState::RECOVERING)
    membership_->PushDirective(/*rehash_roster=*/sweep);
  if (st.state == proto::JobState::RUNNING && now - st.saved_at > options_.save_interval)
    core_->SaveState(/*sync=*/false);
  rounds_->ExpireWaiters(now);
  if (admin_) {
    SampleHistory(options_, st);
    // Built only when a GET asks for one (a thousand nodes' snapshot costs
    // more than the ticks between two scrapes).
    if (admin_->Requests() != published_for_) PublishSnapshot();
  }
  if (st.state != proto::JobState::DONE && st.state != proto::JobState::FAILED) return false;
  // Stay a little after the last node left so clients can read the final status.
  const auto since_end = now - st.ended;
  return (all_gone_ && since_end > options_.end_grace) || since_end > options_.linger;
}

Status Scheduler::Run() {
  state_ = std::make_unique<SchedulerState>();
  SchedulerState& st = *state_;
  st.admin_url = admin_url();
  core_ = std::make_unique<SchedulerCore>(options_, st, socket_, endpoint_);
  rounds_ = std::make_unique<CheckpointRounds>(*core_, clients_);
  recovery_ = std::make_unique<Recovery>(*core_, *rounds_);
  membership_ = std::make_unique<Membership>(*core_, *recovery_);
  leases_ = std::make_unique<LeaseService>(*core_, *membership_);
  PST_RETURN_IF_ERROR(recovery_->OpenStore());
  st.desired_workers = st.desired_workers ? st.desired_workers : options_.job.num_workers;
  if (!st.admin_url.empty())
    PST_LOG_INFO("admin endpoint (dashboard, /status, /metrics) at {}", st.admin_url);
  PublishSnapshot();
  // The dense key space of the job's tables (a sparse model's sparse tables
  // are hash-partitioned by slot instead).
  PST_ASSIGN_OR_RETURN(const std::vector<TableSpec> tables, JobTables(options_.job));
  const uint64_t dense_keys = DenseKeyCount(tables);
  core_->ranges = PartitionKeys(dense_keys, options_.job.num_servers);
  if (options_.job.sparse()) {
    PST_ASSIGN_OR_RETURN(SlotMap map, SlotMap::Even(kDefaultSparseSlots, options_.job.num_servers));
    core_->slot_map = std::move(map);
  }
  if (st.state == proto::JobState::FORMING)
    PST_LOG_INFO("scheduler listening at {}; waiting for {} PS and {} workers", endpoint_,
                 options_.job.num_servers, options_.job.num_workers);
  // The periodic work runs at most every tick_interval rather than after
  // every message, and at least every loop_wait.
  auto ticked = Clock::now() - options_.tick_interval;
  auto wait = options_.loop_wait;
  if (admin_) admin_->SetOnDemand(true);  // until the loop ends
  while (!stop_) {
    if (Status s = WaitReadable(socket_, wait); !s.ok()) {
      if (admin_) admin_->SetOnDemand(false);
      return s;
    }
    HandleMessages();
    const auto now = Clock::now();
    if (now - ticked < options_.tick_interval) {
      // Woken early only when a message may need the prompt work; else the
      // tick runs at the first wake-up after tick_interval, or loop_wait.
      const auto next = prompt_ ? options_.tick_interval : options_.loop_wait;
      wait = std::chrono::ceil<std::chrono::milliseconds>(next - (now - ticked));
      continue;
    }
    if (Tick(dense_keys)) break;
    ticked = now;
    prompt_ = false;
    wait = options_.loop_wait;
  }
  core_->SaveState(/*sync=*/true);
  PublishSnapshot();
  if (admin_) admin_->SetOnDemand(false);  // the final snapshot, served at once from now on
  if (stop_) return Status::Cancelled("scheduler stopped by signal");
  if (st.state == proto::JobState::FAILED) return Status::Aborted("job failed: " + st.failure);
  return Status::OK();
}

}  // namespace pst
