#include "common/registration.h"

#include <unistd.h>

#include "common/log.h"
#include "common/proto_convert.h"

namespace pst {
namespace {

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

std::vector<WorkerSlot> DecodeWorkerSlots(capnp::List<proto::WorkerSlot>::Reader list) {
  std::vector<WorkerSlot> out;
  out.reserve(list.size());
  for (auto w : list) out.push_back({w.getRank(), w.getFromClock()});
  return out;
}

namespace {

Status DecodeJobStart(proto::JobStart::Reader start, JoinedJob* out) {
  PST_ASSIGN_OR_RETURN(out->job, FromProto(start.getJob()));
  out->num_workers = start.getNumWorkers();
  out->generation = start.getGeneration();
  out->restore_checkpoint = start.getRestoreCheckpoint();
  out->resume_clock = start.getResumeClock();
  out->workers = DecodeWorkerSlots(start.getWorkers());
  out->servers.clear();
  uint64_t expect = 0;
  for (auto s : start.getServers()) {
    ServerEntry e{s.getRank(), s.getEndpoint().cStr(), {s.getKeyBegin(), s.getKeyEnd()}};
    if (e.rank != out->servers.size() || e.range.begin != expect || e.range.end < e.range.begin)
      return Status::InvalidArgument("job start: server list is not a contiguous key partition");
    expect = e.range.end;
    out->servers.push_back(std::move(e));
  }
  if (out->servers.empty() || out->num_workers == 0)
    return Status::InvalidArgument("job start: no servers or no workers");
  out->slot_map.reset();
  if (out->job.sparse()) {
    auto list = start.getSlotMap();
    std::vector<uint32_t> shards;
    shards.reserve(list.size());
    for (uint32_t shard : list) shards.push_back(shard);
    auto map = SlotMap::FromAssignment(std::move(shards), static_cast<uint32_t>(out->servers.size()));
    if (!map.ok()) return map.status().WithContext("job start: the sparse slot map");
    out->slot_map = std::move(map).value();
  }
  return Status::OK();
}

}  // namespace

StatusOr<JoinedJob> JoinJob(Channel& scheduler, const JoinOptions& options,
                            const std::atomic<bool>* stop,
                            const std::function<void(const JoinedJob&)>& on_registered) {
  OutMessage msg;
  auto req = msg.envelope().getBody().initRegisterRequest();
  req.setRole(options.role);
  req.setEndpoint(options.endpoint);
  req.setPid(static_cast<uint32_t>(getpid()));
  req.setHost(HostName());
  req.setShardId(options.shard_id);
  auto reply = scheduler.Call(msg, options.connect_timeout, stop);
  if (reply.status().code() == StatusCode::kDeadlineExceeded)
    return Status::Unavailable("cannot reach the scheduler at " + scheduler.endpoint() +
                               " (no answer within " +
                               std::to_string(options.connect_timeout.count()) +
                               " ms): check --scheduler and that pstrain-scheduler is running");
  if (!reply.ok()) return reply.status();
  auto body = reply->envelope().getBody();
  if (!body.isRegisterResponse())
    return Status::InvalidArgument("scheduler answered registration with the wrong message");
  auto resp = body.getRegisterResponse();
  PST_RETURN_IF_ERROR(FromRpcStatus(resp.getStatus()).WithContext("scheduler refused to register"));
  JoinedJob joined;
  joined.rank = resp.getRank();
  joined.heartbeat_interval = std::chrono::milliseconds(resp.getHeartbeatIntervalMs());
  if (joined.heartbeat_interval.count() == 0) joined.heartbeat_interval = std::chrono::milliseconds(500);
  if (on_registered) on_registered(joined);

  const auto deadline = std::chrono::steady_clock::now() + options.form_timeout;
  for (;;) {
    InMessage in;
    while (scheduler.PopUnsolicited(&in)) {
      auto b = in.envelope().getBody();
      if (!b.isJobStart()) continue;
      try {
        PST_RETURN_IF_ERROR(DecodeJobStart(b.getJobStart(), &joined));
      } catch (const kj::Exception& e) {
        return Status::InvalidArgument(std::string("job start: malformed: ") +
                                       e.getDescription().cStr());
      }
      return joined;
    }
    if (stop && stop->load()) return Status::Cancelled("stopped while waiting for the job to start");
    if (std::chrono::steady_clock::now() > deadline)
      return Status::DeadlineExceeded(
          "the job did not start within " + std::to_string(options.form_timeout.count()) +
          " ms: not every PS and worker registered with the scheduler at " + scheduler.endpoint());
    Channel* c = &scheduler;
    PollChannels(&c, 1, std::chrono::milliseconds(100));
  }
}

}  // namespace pst
