#include "scheduler/lease_service.h"

#include "common/consistency.h"
#include "common/log.h"
#include "scheduler/membership.h"

namespace pst {

void LeaseService::Shard(const ShardCall& call, proto::ShardResponse::Builder resp) {
  Status s = ShardImpl(call, resp);
  SetRpcStatus(s, resp.initStatus());
}

Status LeaseService::OpenPool(const ShardCall& call) {
  if (!st_.pool) {
    if (call.num_samples == 0) return Status::InvalidArgument("the training set is empty");
    const TrainSpec& t = core_.options.job.train;
    st_.pool.emplace(call.num_samples, t.batch_size, t.batches_per_shard, t.epochs,
                     ConsistencyPolicy(t).lockstep());
    st_.train_started = Clock::now();
    st_.epochs.resize(t.epochs);
    st_.epochs[0].start_ms = NowMs();
    PST_LOG_INFO("{} training samples, {} shards of {} batches per epoch", call.num_samples,
                 st_.pool->shards_per_epoch(), t.batches_per_shard);
  } else if (call.num_samples != st_.pool->num_samples()) {
    return Status::FailedPrecondition("worker " + std::to_string(call.rank) + " has " +
                                      std::to_string(call.num_samples) + " training samples but others have " +
                                      std::to_string(st_.pool->num_samples()) + ": give every worker the same data");
  }
  return Status::OK();
}

Status LeaseService::ShardImpl(const ShardCall& call, proto::ShardResponse::Builder resp) {
  if (st_.state == proto::JobState::FORMING || st_.state == proto::JobState::FAILED)
    return Status::FailedPrecondition("the job is not running");
  if (st_.state == proto::JobState::DONE) {
    // Ended (possibly early, at the target accuracy): no more work for anyone.
    resp.setKind(proto::ShardReplyKind::DONE);
    return Status::OK();
  }
  NodeInfo* n = st_.Find(proto::Role::WORKER, call.rank);
  if (!n) return Status::InvalidArgument("unknown worker rank " + std::to_string(call.rank));
  if (n->Gone())
    return Status::FailedPrecondition("worker " + std::to_string(call.rank) +
                                      " was declared dead or left; start a new worker instead");
  if (call.has_completed && st_.pool && call.completed_epoch >= st_.epochs.size())
    return Status::InvalidArgument("completed epoch out of range");
  if (n->joining && st_.state == proto::JobState::RUNNING && !n->leave_requested) {
    // Ready to train: from now on the PS wait for it, from a clock ahead of
    // everyone's (it starts there once every PS has it on its roster).
    n->joining = false;
    n->in_roster = true;
    n->started = false;
    n->from_clock = core_.FastestClock() + st_.coordinator.margin();
    st_.roster_changed = true;
    PST_LOG_INFO("{} is ready; PS will wait for it from clock {}", Describe(*n), n->from_clock);
  }
  if (st_.state == proto::JobState::RECOVERING || !n->in_roster) {
    resp.setKind(proto::ShardReplyKind::WAIT);
    return Status::OK();
  }
  if (call.generation != st_.generation || !n->started) {
    // Where to continue: after a rollback, or for a new worker, once every
    // PS waits for it from its clock.
    if (!membership_.Admitted(*n)) {
      resp.setKind(proto::ShardReplyKind::WAIT);
      return Status::OK();
    }
    if (call.generation == st_.generation && call.clock == n->from_clock) {
      n->started = true;  // it follows; fall through to its first lease
    } else {
      resp.setKind(proto::ShardReplyKind::RESTART);
      resp.setGeneration(st_.generation);
      resp.setResumeClock(n->from_clock);
      FillServerList(st_, core_.ranges, resp.initServers(st_.servers.size()));
      return Status::OK();
    }
  }
  // Shard requests tell the clock more often than heartbeats do (checkpoint
  // rounds are placed ahead of the fastest clock).
  st_.ReportClock(*n, std::max(n->clock, call.clock));
  PST_RETURN_IF_ERROR(OpenPool(call));
  if (call.has_completed) {
    const uint32_t e = call.completed_epoch;
    if (e >= st_.epochs.size()) return Status::InvalidArgument("completed epoch out of range");
    // Counted once: a retried request or a lease from before a rollback is not.
    if (st_.pool->Complete(call.rank, e, call.completed_shard)) {
      EpochRecord& r = st_.epochs[e];
      r.samples = st_.pool->DoneSamples(e);
      r.loss_sum += call.completed_loss_sum;
      r.wait_ms += call.completed_wait_ms;
      r.compute_ms += call.completed_compute_ms;
      r.push_ms += call.completed_push_ms;
    }
  }
  if (call.report_only && st_.pool->lockstep())
    return Status::InvalidArgument("report-only shard requests are for ASP and SSP jobs");
  const ShardGrant g = call.report_only ? st_.pool->EvaluationOnly(call.clock)
                                        : st_.pool->Next(call.rank, call.clock);
  switch (g.kind) {
    case ShardGrant::Kind::kLease: resp.setKind(proto::ShardReplyKind::LEASE); break;
    case ShardGrant::Kind::kIdle: resp.setKind(proto::ShardReplyKind::IDLE); break;
    case ShardGrant::Kind::kDone: resp.setKind(proto::ShardReplyKind::DONE); break;
    case ShardGrant::Kind::kNone: resp.setKind(proto::ShardReplyKind::REPORTED); break;
  }
  resp.setEpoch(g.epoch);
  resp.setShard(g.shard);
  resp.setSampleBegin(g.sample_begin);
  resp.setSampleEnd(g.sample_end);
  resp.setIdleUntil(g.idle_until);
  resp.setEvaluate(g.evaluate);
  resp.setEvalEpoch(g.eval_epoch);
  resp.setEvalVersion(g.eval_version);
  // An epoch starts with its first lease (under ASP/SSP that is before the
  // previous epoch closes) and ends when it is closed.
  if (g.kind == ShardGrant::Kind::kLease && g.shard == 0 && !g.piece) st_.epochs[g.epoch].start_ms = NowMs();
  if (g.evaluate) {
    st_.epochs[g.eval_epoch].end_ms = NowMs();
    st_.evals_out[g.eval_epoch] = {call.rank, g.eval_version};
    // Without lockstep the evaluated model has no exact version: log the
    // clock of the worker whose report closed the epoch.
    PST_LOG_INFO("epoch {} closed at clock {}; worker {} evaluates it", g.eval_epoch + 1,
                 st_.pool->lockstep() ? g.eval_version : call.clock, call.rank);
  } else {
    HandOverEvaluation(call.rank, resp);
  }
  return Status::OK();
}

void LeaseService::HandOverEvaluation(uint32_t rank, proto::ShardResponse::Builder resp) {
  for (auto& [epoch, order] : st_.evals_out) {
    NodeInfo* holder = st_.Find(proto::Role::WORKER, order.first);
    if (holder && !holder->Gone()) continue;
    resp.setEvaluate(true);
    resp.setEvalEpoch(epoch);
    resp.setEvalVersion(order.second);
    PST_LOG_INFO("worker {} evaluates epoch {} instead of worker {}, which is gone", rank, epoch + 1,
                 order.first);
    order.first = rank;
    return;
  }
}

std::string LeaseService::PendingWork() const {
  for (const auto& [epoch, order] : st_.evals_out) {
    const NodeInfo* holder = st_.Find(proto::Role::WORKER, order.first);
    if (!holder || holder->Gone())
      return "the evaluation of epoch " + std::to_string(epoch + 1) + " has no live worker";
  }
  if (!st_.pool) return "training has not started and no worker is left";
  if (st_.pool->finished()) return "the last evaluation has no live worker";
  return "epoch " + std::to_string(std::min<size_t>(st_.pool->epoch() + 1, st_.epochs.size())) +
         " has data left to train and no live worker";
}

void LeaseService::WatchWorkers(Clock::time_point now) {
  bool live = false;  // runs every tick: stops at the first live worker
  for (const NodeInfo& w : st_.workers)
    if (!w.Gone() && !w.identity.empty()) {
      live = true;
      break;
    }
  if (live || st_.state != proto::JobState::RUNNING) {
    if (!st_.waiting_for.empty() && live) PST_LOG_INFO("a worker is back; the job goes on");
    st_.waiting_for.clear();
    st_.waiting_since = Clock::time_point{};
    return;
  }
  const SchedulerOptions& options = core_.options;
  if (st_.waiting_since == Clock::time_point{}) st_.waiting_since = now;
  // A supervised worker is back within a heartbeat timeout, and a job being
  // shut down loses its workers first: neither is worth a word.
  if (now - st_.waiting_since <= options.heartbeat_timeout) return;
  const std::string what = "waiting for a worker: " + PendingWork();
  if (st_.waiting_for != what) {
    st_.waiting_for = what;
    PST_LOG_WARN("{}; the job fails in {} s unless one starts (pstrain-worker --scheduler {})", what,
                 std::chrono::duration_cast<std::chrono::seconds>(options.recovery_timeout -
                                                                  (now - st_.waiting_since))
                     .count(),
                 core_.endpoint);
  }
  if (now - st_.waiting_since > options.recovery_timeout)
    core_.Fail("no live worker for " + std::to_string(options.recovery_timeout.count() / 1000) + " s (" +
               PendingWork() + "); start workers with pstrain-worker --scheduler " + core_.endpoint +
               " before the timeout, or resume the job from its state directory");
}

Status LeaseService::Eval(const EvalCall& r) {
  if (r.epoch >= st_.epochs.size()) return Status::InvalidArgument("eval epoch out of range");
  if (r.total == 0 || r.correct > r.total) return Status::InvalidArgument("eval report counts are inconsistent");
  if (r.has_auc && !(r.auc >= 0 && r.auc <= 1))
    return Status::InvalidArgument("eval report: AUC outside [0, 1]");
  // After an early stop, evaluations of later epochs (still under way when
  // the job ended) are not part of the run.
  if (st_.state == proto::JobState::DONE) return Status::OK();
  st_.evals_out.erase(r.epoch);
  EpochRecord& e = st_.epochs[r.epoch];
  e.evaluated = true;
  e.test_correct = r.correct;
  e.test_total = r.total;
  e.test_loss_sum = r.loss_sum;
  e.has_auc = r.has_auc;
  e.test_auc = r.auc;
  const double accuracy = double(r.correct) / r.total;
  if (r.has_auc) {
    PST_LOG_INFO("epoch {} test AUC {:.4f}, log-loss {:.4f}, accuracy {:.4f} ({} samples)",
                 r.epoch + 1, r.auc, r.loss_sum / double(r.total), accuracy, r.total);
  } else {
    PST_LOG_INFO("epoch {} test accuracy {:.4f} ({} of {})", r.epoch + 1, accuracy, r.correct,
                 r.total);
  }
  const TrainSpec& train = core_.options.job.train;
  const bool reached = (train.target_accuracy > 0 && accuracy >= train.target_accuracy) ||
                       (train.target_auc > 0 && r.has_auc && r.auc >= train.target_auc);
  if (st_.state == proto::JobState::RUNNING && reached) {
    // Early stop: nodes see the state in their next heartbeat and leave.
    st_.state = proto::JobState::DONE;
    st_.ended = Clock::now();
    PST_LOG_INFO("target {} reached after epoch {} in {:.1f} s; stopping the job",
                 r.has_auc && train.target_auc > 0 ? "AUC" : "accuracy", r.epoch + 1,
                 NowMs() / 1000.0);
  }
  if (r.epoch + 1 == st_.epochs.size() && st_.pool && st_.pool->finished() &&
      st_.state == proto::JobState::RUNNING) {
    st_.state = proto::JobState::DONE;
    st_.ended = Clock::now();
    PST_LOG_INFO("job done in {:.1f} s", NowMs() / 1000.0);
  }
  return Status::OK();
}

}  // namespace pst
