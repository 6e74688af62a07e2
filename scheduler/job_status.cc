#include "scheduler/job_status.h"

#include <capnp/message.h>

#include "common/log.h"
#include "common/proto_convert.h"
#include "scheduler/records.h"

namespace pst {
namespace {

void FillNode(const NodeInfo& n, Clock::time_point now, proto::NodeStatus::Builder b) {
  b.setRole(n.role);
  b.setRank(n.rank);
  b.setEndpoint(n.endpoint);
  b.setHost(n.host);
  b.setPid(n.pid);
  b.setState(n.state);
  b.setClock(n.clock);
  b.setSamples(n.samples);
  b.setLossSum(n.loss_sum);
  b.setSteps(n.steps);
  b.setMaxStaleness(n.max_staleness);
  ToProto(n.sparse_tables, b.initSparseTables(n.sparse_tables.size()));
  b.setSamplesPerSecond(n.Gone() ? 0 : n.samples_per_second);
  b.setLastHeartbeatAgeMs(std::chrono::duration_cast<std::chrono::milliseconds>(now - n.last_seen).count());
}

}  // namespace

void FillJobStatus(const SchedulerCore& core, proto::JobStatusResponse::Builder resp) {
  const SchedulerState& st = core.st;
  SetRpcStatus(Status::OK(), resp.initStatus());
  resp.setState(st.state);
  resp.setMessage(st.failure);
  resp.setWaitingFor(st.waiting_for);
  resp.setTotalEpochs(core.options.job.train.epochs);
  resp.setSamplesPerEpoch(st.pool ? st.pool->num_samples() : 0);
  resp.setElapsedMs(st.ElapsedMs());
  resp.setAdminUrl(st.admin_url);
  resp.setGeneration(st.generation);
  resp.setDesiredWorkers(st.desired_workers);
  auto cks = resp.initCheckpoints(st.checkpoints.size());
  for (size_t i = 0; i < st.checkpoints.size(); ++i) ToProto(st.checkpoints[i], cks[i]);
  auto rbs = resp.initRollbacks(st.rollbacks.size());
  for (size_t i = 0; i < st.rollbacks.size(); ++i) ToProto(st.rollbacks[i], rbs[i]);
  auto epochs = resp.initEpochs(st.epochs.size());
  for (size_t i = 0; i < st.epochs.size(); ++i) ToProto(st.epochs[i], static_cast<uint32_t>(i), epochs[i]);
  size_t count = 0;
  for (const auto* list : {&st.servers, &st.workers})
    for (const NodeInfo& n : *list) count += n.identity.empty() ? 0 : 1;
  auto nodes = resp.initNodes(count);
  size_t i = 0;
  const auto now = Clock::now();
  for (const auto* list : {&st.servers, &st.workers})
    for (const NodeInfo& n : *list)
      if (!n.identity.empty()) FillNode(n, now, nodes[i++]);
}

AdminSnapshot BuildAdminSnapshot(const SchedulerCore& core, const std::string& admin_url) {
  const SchedulerState& st = core.st;
  const JobSpec& job = core.options.job;
  capnp::MallocMessageBuilder message;
  auto resp = message.initRoot<proto::JobStatusResponse>();
  FillJobStatus(core, resp);
  auto from_proto = SnapshotFromProto(resp.asReader());
  AdminSnapshot s;
  if (from_proto.ok()) {
    s = std::move(from_proto).value();
  } else {
    PST_LOG_ERROR("cannot build the admin snapshot: {}", from_proto.status().message());  // our own message
  }
  s.scheduler_endpoint = core.endpoint;
  s.admin_url = admin_url;
  s.expected_servers = job.num_servers;
  s.expected_workers = job.num_workers;
  s.model.clear();
  for (uint32_t l : job.model.layer_sizes) s.model += (s.model.empty() ? "" : "-") + std::to_string(l);
  s.optimizer = OptimizerKindName(job.optimizer.kind);
  s.consistency = ConsistencyName(job.train.consistency);
  s.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - st.created).count();
  s.history = st.history;
  // The latency histograms only the admin endpoint shows, in the order
  // FillJobStatus listed the nodes.
  size_t i = 0;
  for (const auto* list : {&st.servers, &st.workers}) {
    for (const NodeInfo& n : *list) {
      if (n.identity.empty() || i >= s.nodes.size()) continue;
      s.nodes[i].pull_latency = n.pull_latency;
      s.nodes[i].push_latency = n.push_latency;
      s.nodes[i].refusals = n.refusals;
      ++i;
    }
  }
  return s;
}

void SampleHistory(const SchedulerOptions& options, SchedulerState& st) {
  const auto now = Clock::now();
  if (!st.pool || now - st.history_at < options.history_interval) return;
  uint64_t samples = 0;
  double loss_sum = 0;
  for (const NodeInfo& n : st.workers) {
    samples += n.samples;
    loss_sum += n.loss_sum;
  }
  const double dt = std::chrono::duration<double>(now - st.history_at).count();
  const bool first = st.history_at == Clock::time_point{};
  if (!first && samples > st.history_samples) {
    const double ds = double(samples - st.history_samples);
    st.history.push_back({st.ElapsedMs() / 1000.0, (loss_sum - st.history_loss_sum) / ds, ds / dt});
    if (st.history.size() > SchedulerState::kMaxHistory) {
      size_t keep = 0;
      for (size_t i = 0; i < st.history.size(); i += 2) st.history[keep++] = st.history[i];
      st.history.resize(keep);
    }
  }
  if (first || samples != st.history_samples) {
    st.history_samples = samples;
    st.history_loss_sum = loss_sum;
  }
  st.history_at = now;
}

}  // namespace pst
