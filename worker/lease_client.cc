#include "worker/lease_client.h"

#include <string>

namespace pst {

void LeaseClient::FillRequest(OutMessage& msg, uint64_t clock, uint32_t generation) {
  auto req = msg.envelope().getBody().initShardRequest();
  req.setRank(options_.rank);
  req.setClock(clock);
  req.setNumSamples(options_.num_samples);
  req.setGeneration(generation);
  if (!unreported_) return;
  const LeaseReport& done = *unreported_;
  req.setHasCompleted(true);
  req.setCompletedEpoch(done.epoch);
  req.setCompletedShard(done.shard);
  req.setCompletedLossSum(done.loss_sum);
  req.setCompletedSamples(done.samples);
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  req.setCompletedWaitMs(ms(done.wait));
  req.setCompletedComputeMs(ms(done.compute));
  req.setCompletedPushMs(ms(done.push));
  unreported_.reset();
}

StatusOr<LeaseAnswer> LeaseClient::Decode(const InMessage& reply, uint64_t clock) {
  auto body = reply.envelope().getBody();
  if (!body.isShardResponse())
    return Status::InvalidArgument("scheduler answered a shard request with the wrong message");
  auto resp = body.getShardResponse();
  PST_RETURN_IF_ERROR(
      FromRpcStatus(resp.getStatus()).WithContext("scheduler refused a data shard"));
  LeaseAnswer a;
  switch (resp.getKind()) {
    case proto::ShardReplyKind::WAIT:
      a.kind = LeaseAnswer::Kind::kWait;
      return a;
    case proto::ShardReplyKind::RESTART:
      a.kind = LeaseAnswer::Kind::kRestart;
      a.generation = resp.getGeneration();
      a.resume_clock = resp.getResumeClock();
      for (auto sv : resp.getServers())
        a.servers.push_back(
            {sv.getRank(), sv.getEndpoint().cStr(), {sv.getKeyBegin(), sv.getKeyEnd()}});
      return a;
    case proto::ShardReplyKind::LEASE:
      a.kind = LeaseAnswer::Kind::kLease;
      a.epoch = resp.getEpoch();
      a.shard = resp.getShard();
      a.sample_begin = resp.getSampleBegin();
      a.sample_end = resp.getSampleEnd();
      if (a.sample_end > options_.num_samples || a.sample_begin >= a.sample_end)
        return Status::InvalidArgument("scheduler leased samples outside the training set");
      break;
    case proto::ShardReplyKind::IDLE:
      a.kind = LeaseAnswer::Kind::kIdle;
      a.idle_until = resp.getIdleUntil();
      if (a.idle_until <= clock)
        return Status::InvalidArgument("scheduler asked to idle until a past clock");
      break;
    case proto::ShardReplyKind::DONE:
      a.kind = LeaseAnswer::Kind::kDone;
      break;
    default:
      return Status::InvalidArgument("unknown shard reply kind");
  }
  if (resp.getEvaluate()) evals_.push_back({resp.getEvalEpoch(), resp.getEvalVersion()});
  return a;
}

StatusOr<LeaseAnswer> LeaseClient::Next(uint64_t clock, uint32_t generation) {
  ++requests_;
  StatusOr<InMessage> reply = Status::Internal("no shard request sent");
  if (ahead_request_ != 0) {
    ++requests_ahead_;
    reply = sched_.Await(ahead_request_, options_.timeout, options_.interrupt);
    ahead_request_ = 0;
  } else {
    OutMessage msg;
    FillRequest(msg, clock, generation);
    reply = sched_.Call(msg, options_.timeout, options_.interrupt);
  }
  if (reply.status().code() == StatusCode::kCancelled) return reply.status();
  if (!reply.ok()) return reply.status().WithContext("asking the scheduler for a data shard");
  return Decode(*reply, clock);
}

Status LeaseClient::AskAhead(uint64_t clock, uint32_t generation) {
  if (!options_.ask_ahead || ahead_request_ != 0) return Status::OK();
  OutMessage msg;
  FillRequest(msg, clock, generation);
  auto sent = sched_.Send(msg);
  if (!sent.ok()) return sent.status().WithContext("asking the scheduler for a data shard");
  ahead_request_ = *sent;
  return Status::OK();
}

Status LeaseClient::Finished(const LeaseReport& report, uint64_t clock, uint32_t generation) {
  unreported_ = report;
  if (!options_.ask_ahead) return Status::OK();
  PST_RETURN_IF_ERROR(TakeReport(/*wait=*/true));  // one report in flight at a time
  OutMessage msg;
  FillRequest(msg, clock, generation);
  msg.envelope().getBody().getShardRequest().setReportOnly(true);
  auto sent = sched_.Send(msg);
  if (!sent.ok()) return sent.status().WithContext("reporting a finished data shard");
  report_request_ = *sent;
  ++reports_;
  return Status::OK();
}

Status LeaseClient::TakeReport(bool wait) {
  if (report_request_ == 0) return Status::OK();
  if (!wait) {
    sched_.Pump();
    if (!sched_.HasReply(report_request_)) return Status::OK();
  }
  auto reply = sched_.Await(report_request_, wait ? options_.timeout : std::chrono::milliseconds(0),
                            options_.interrupt);
  report_request_ = 0;
  if (!reply.ok()) return reply.status().WithContext("reporting a finished data shard");
  auto body = reply->envelope().getBody();
  if (!body.isShardResponse())
    return Status::InvalidArgument("scheduler answered a shard report with the wrong message");
  auto resp = body.getShardResponse();
  PST_RETURN_IF_ERROR(
      FromRpcStatus(resp.getStatus()).WithContext("scheduler refused a shard report"));
  // Other answers than REPORTED (wait, restart, done) mean the report was not
  // needed or not taken; the next lease request hears the same.
  if (resp.getKind() == proto::ShardReplyKind::REPORTED && resp.getEvaluate())
    evals_.push_back({resp.getEvalEpoch(), resp.getEvalVersion()});
  return Status::OK();
}

std::optional<EvalOrder> LeaseClient::PopEval() {
  if (evals_.empty()) return std::nullopt;
  EvalOrder e = evals_.front();
  evals_.pop_front();
  return e;
}

void LeaseClient::Reset() {
  unreported_.reset();
  if (ahead_request_ != 0) sched_.Discard(ahead_request_);
  ahead_request_ = 0;
  if (report_request_ != 0) sched_.Discard(report_request_);
  report_request_ = 0;
  evals_.clear();
}

}  // namespace pst
