#include "scheduler/requests.h"

#include <kj/exception.h>

namespace pst {
namespace {

std::optional<StatusOr<LatencyHistogram>> DecodeHistogram(capnp::List<uint64_t>::Reader buckets,
                                                          double sum_seconds) {
  if (buckets.size() == 0) return std::nullopt;
  return LatencyHistogram::Decode(buckets, sum_seconds);
}

HeartbeatCall DecodeHeartbeat(proto::HeartbeatRequest::Reader r) {
  HeartbeatCall c;
  c.role = r.getRole();
  c.rank = r.getRank();
  c.clock = r.getClock();
  c.samples = r.getSamples();
  c.loss_sum = r.getLossSum();
  c.steps = r.getSteps();
  c.max_staleness = r.getMaxStaleness();
  c.generation = r.getGeneration();
  c.checkpoint_written = r.getCheckpointWritten();
  c.checkpoint_failed = r.getCheckpointFailed();
  c.checkpoint_error = r.getCheckpointError().cStr();
  c.restore_error = r.getRestoreError().cStr();
  for (auto w : r.getWorkers()) c.waits_for[w.getRank()] = w.getFromClock();
  for (auto w : r.getRemoved()) c.removed[w.getRank()] = w.getCompletedClocks();
  c.sparse_tables = FromProto(r.getSparseTables());
  if (r.hasLimitRefusals()) c.refusals = LimitRefusalsFromProto(r.getLimitRefusals());
  c.pull_latency = DecodeHistogram(r.getPullLatencyBuckets(), r.getPullLatencySumSeconds());
  c.push_latency = DecodeHistogram(r.getPushLatencyBuckets(), r.getPushLatencySumSeconds());
  return c;
}

ShardCall DecodeShard(proto::ShardRequest::Reader r) {
  ShardCall c;
  c.rank = r.getRank();
  c.clock = r.getClock();
  c.generation = r.getGeneration();
  c.num_samples = r.getNumSamples();
  c.report_only = r.getReportOnly();
  c.has_completed = r.getHasCompleted();
  c.completed_epoch = r.getCompletedEpoch();
  c.completed_shard = r.getCompletedShard();
  c.completed_loss_sum = r.getCompletedLossSum();
  c.completed_wait_ms = r.getCompletedWaitMs();
  c.completed_compute_ms = r.getCompletedComputeMs();
  c.completed_push_ms = r.getCompletedPushMs();
  return c;
}

StatusOr<SchedulerCall> DecodeOrThrow(proto::Envelope::Reader envelope) {
  auto body = envelope.getBody();
  switch (body.which()) {
    case proto::Envelope::Body::REGISTER_REQUEST: {
      auto r = body.getRegisterRequest();
      return SchedulerCall{
          RegisterCall{r.getRole(), r.getEndpoint().cStr(), r.getHost().cStr(), r.getPid(), r.getShardId()}};
    }
    case proto::Envelope::Body::HEARTBEAT_REQUEST:
      return SchedulerCall{DecodeHeartbeat(body.getHeartbeatRequest())};
    case proto::Envelope::Body::SHARD_REQUEST:
      return SchedulerCall{DecodeShard(body.getShardRequest())};
    case proto::Envelope::Body::EVAL_REPORT: {
      auto r = body.getEvalReport();
      return SchedulerCall{EvalCall{r.getRank(), r.getEpoch(), r.getVersion(), r.getCorrect(),
                                    r.getTotal(), r.getLossSum(), r.getHasAuc(), r.getAuc()}};
    }
    case proto::Envelope::Body::LEAVE_REQUEST: {
      auto r = body.getLeaveRequest();
      return SchedulerCall{LeaveCall{r.getRole(), r.getRank()}};
    }
    case proto::Envelope::Body::JOB_STATUS_REQUEST:
      return SchedulerCall{JobStatusCall{}};
    case proto::Envelope::Body::CHECKPOINT_REQUEST:
      return SchedulerCall{CheckpointCall{body.getCheckpointRequest().getTimeoutMs()}};
    case proto::Envelope::Body::SCALE_REQUEST:
      return SchedulerCall{ScaleCall{body.getScaleRequest().getWorkers()}};
    default:
      return Status::InvalidArgument("the scheduler does not handle this message");
  }
}

}  // namespace

StatusOr<SchedulerCall> DecodeRequest(proto::Envelope::Reader envelope) {
  try {
    return DecodeOrThrow(envelope);
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument(std::string("malformed request: ") + e.getDescription().cStr());
  }
}

}  // namespace pst
