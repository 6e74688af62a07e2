#include "worker/worker_heartbeat.h"

#include "common/log.h"

namespace pst {

StatusOr<std::unique_ptr<Heartbeater>> StartWorkerHeartbeat(
    zmq::context_t& ctx, const std::string& scheduler_endpoint, std::chrono::milliseconds interval,
    WorkerProgress* progress, std::atomic<bool>* stop, std::atomic<bool>* interrupt,
    std::shared_ptr<const ClusterKeys> curve) {
  HeartbeaterOptions ho;
  ho.scheduler_endpoint = scheduler_endpoint;
  ho.curve = std::move(curve);
  ho.interval = interval;
  ho.set_on_job_end = stop;  // an early stop (target accuracy) ends blocked waits
  auto fill = [progress](proto::HeartbeatRequest::Builder b) {
    b.setRole(proto::Role::WORKER);
    b.setRank(progress->rank.load());
    b.setClock(progress->clock.load());
    b.setSamples(progress->samples.load());
    b.setSteps(progress->steps.load());
    b.setLossSum(progress->loss_sum.load());
    b.setMaxStaleness(progress->max_staleness.load());
    b.setGeneration(progress->generation.load());
    MutexLock lock(&progress->latency_mu);
    progress->pull_latency.EncodeBuckets(b.initPullLatencyBuckets(LatencyHistogram::kNumBuckets));
    b.setPullLatencySumSeconds(progress->pull_latency.sum());
    progress->push_latency.EncodeBuckets(b.initPushLatencyBuckets(LatencyHistogram::kNumBuckets));
    b.setPushLatencySumSeconds(progress->push_latency.sum());
  };
  auto on_reply = [progress, stop, interrupt](proto::HeartbeatResponse::Reader r) {
    if (r.getLeave()) {
      if (!*stop) PST_LOG_INFO("the scheduler asks this worker to leave (scaled down)");
      *stop = true;
      *interrupt = true;
    }
    // Every rollback starts a newer generation; an answer from before ours
    // (late, or from a scheduler that just restarted and is still behind)
    // changes nothing.
    if (r.getGeneration() > progress->generation.load()) *interrupt = true;
    if (r.getState() == proto::JobState::DONE || r.getState() == proto::JobState::FAILED)
      *interrupt = true;
  };
  return Heartbeater::Start(ctx, ho, fill, on_reply);
}

}  // namespace pst
