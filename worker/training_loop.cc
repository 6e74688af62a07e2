#include "worker/training_loop.h"

#include <algorithm>
#include <string>
#include <thread>

#include "common/consistency.h"
#include "common/log.h"

namespace pst {

using SteadyClock = std::chrono::steady_clock;

Status TrainingLoop::Connect(const std::vector<ServerEntry>& servers, uint32_t generation) {
  PST_ASSIGN_OR_RETURN(auto client, PsClient::Connect(*p_.ctx, servers, BlockKeys(p_.job->train),
                                                      p_.rank, p_.options->limits,
                                                      p_.options->curve.get()));
  client->set_generation(generation);
  // The step reads pulled values in place when the model is one block.
  client->set_pull_views(true);
  ps_ = std::move(client);
  return p_.work->Connect(servers, generation);
}

Status TrainingLoop::Start(const std::vector<ServerEntry>& servers, uint32_t generation,
                           uint64_t clock) {
  generation_ = generation;
  clock_ = clock;
  return Connect(servers, generation);
}

Status TrainingLoop::Run() {
  Status result;
  for (;;) {
    result = TrainUntilInterrupted();
    // A rollback (new generation, a PS or the scheduler restarting) interrupts
    // waits and makes servers refuse our requests (kAborted): drop the lease,
    // the pulls and pushes in flight, and ask the scheduler where to continue.
    const bool interrupted = result.ok() || result.code() == StatusCode::kCancelled ||
                             result.code() == StatusCode::kAborted;
    const proto::JobState state = p_.heartbeat->job_state();
    if (*p_.stop || finished_ || !interrupted || state == proto::JobState::FAILED ||
        state == proto::JobState::DONE)
      break;
    DropGeneration(result);
  }
  if (result.code() == StatusCode::kCancelled) result = Status::OK();
  const proto::JobState final_state = p_.heartbeat->job_state();
  if (result.ok() && final_state == proto::JobState::FAILED)
    result = Status::Aborted("the scheduler reports the job failed; see the scheduler log");
  if (result.ok() && final_state == proto::JobState::DONE && !done_)
    PST_LOG_INFO("the scheduler ended the job (target accuracy reached); stopping");
  if (result.ok() && final_state != proto::JobState::DONE && ps_) {
    Status s = ps_->WaitPushes(p_.options->final_push_wait, nullptr);
    if (!s.ok()) PST_LOG_WARN("last pushes unconfirmed: {}", s.message());
  }
  if (result.ok()) LogTotals();
  return result;
}

void TrainingLoop::DropGeneration(const Status& why) {
  if (!awaiting_restart_)
    PST_LOG_INFO("training interrupted at clock {} ({}); waiting for the scheduler", clock_,
                 why.ok() ? "rollback" : why.message());
  lease_ = ActiveLease{};
  p_.leases->Reset();
  // An evaluation under way is of a model the rollback discards: drop it.
  p_.work->DropEvaluation();
  done_ = false;
  ps_.reset();
  awaiting_restart_ = true;
  *p_.interrupt = false;
  if (*p_.stop) *p_.interrupt = true;
}

Status TrainingLoop::TrainUntilInterrupted() {
  const bool bsp = ConsistencyPolicy(p_.job->train).lockstep();
  while (!*p_.stop) {
    if (*p_.interrupt) return Status::OK();  // a rollback started or we were asked to leave
    if (p_.heartbeat->job_state() == proto::JobState::FAILED)
      return Status::Aborted("the scheduler reports the job failed; see the scheduler log");
    if (p_.heartbeat->lost_contact())
      return Status::Unavailable("lost contact with the scheduler at " +
                                 p_.options->scheduler_endpoint);
    PST_RETURN_IF_ERROR(p_.work->PollEvaluation());
    if (p_.work->target_reached()) {  // the scheduler ends the job on our report
      finished_ = true;
      return Status::OK();
    }
    PST_RETURN_IF_ERROR(p_.leases->TakeReport(/*wait=*/false));
    if (!lease_.active && clock_ >= idle_until_) {
      PST_ASSIGN_OR_RETURN(const bool act, NextLease());
      if (!act) continue;
    }
    if (auto e = p_.leases->PopEval()) {
      // The last epoch's evaluation is the final one (its model is saved),
      // whether this worker has heard "done" yet or not.
      PST_RETURN_IF_ERROR(Evaluate(*e, done_ || e->epoch + 1 >= p_.job->train.epochs));
      if (p_.work->target_reached()) {  // the scheduler ends the job on our report
        finished_ = true;
        return Status::OK();
      }
      if (done_) {
        // More evaluation orders may be waiting (ASP/SSP close epochs late).
        done_ = false;
        continue;
      }
    }
    if (done_ && p_.leases->report_in_flight()) {
      // Told "done" by a request sent ahead: hear the last lease's report
      // first (its epoch may close on it, with an evaluation order for us).
      PST_RETURN_IF_ERROR(p_.leases->TakeReport(/*wait=*/true));
      done_ = false;
      continue;
    }
    if (done_) {
      // No more data. Under ASP/SSP others must stop waiting for our clock.
      PST_RETURN_IF_ERROR(p_.work->FinishEvaluation());
      finished_ = true;
      return !bsp && ps_ ? ps_->Retire(p_.rank) : Status::OK();
    }
    if (!lease_.active) {
      if (clock_ >= idle_until_) {  // not reached (NextLease leased or idled); never spin
        std::this_thread::sleep_for(p_.options->idle_poll);
        continue;
      }
      // Idle: an empty push lets the servers close this clock without us
      // (BSP), and SSP pulls and checkpoint captures that wait for every
      // live worker's clock go on without us (ASP/SSP).
      PST_RETURN_IF_ERROR(p_.work->PushEmpty(*ps_, p_.rank, clock_));
      p_.progress->clock = ++clock_;
      continue;
    }
    PST_RETURN_IF_ERROR(Step());
  }
  return Status::OK();
}

StatusOr<bool> TrainingLoop::NextLease() {
  StatusOr<LeaseAnswer> answer = p_.leases->Next(clock_, generation_);
  if (answer.status().code() == StatusCode::kCancelled) return false;  // interrupted
  PST_RETURN_IF_ERROR(answer.status());
  const LeaseAnswer& a = *answer;
  using Kind = LeaseAnswer::Kind;
  if (a.kind == Kind::kWait) {
    std::this_thread::sleep_for(p_.options->lease_wait_retry);
    return false;
  }
  if (a.kind == Kind::kRestart) {
    // Continue where the scheduler says: a new generation after a rollback,
    // or our start clock when we joined a running job. A lease finished
    // before is not reported: the scheduler ignores the completions of a
    // request from an older generation, and one sent now could be taken for
    // a later piece of the same shard.
    p_.leases->ForgetFinished();
    PST_RETURN_IF_ERROR(
        Connect(a.servers, a.generation).WithContext("reconnecting to the servers"));
    generation_ = a.generation;
    p_.progress->generation = generation_;
    clock_ = a.resume_clock;
    p_.progress->clock = clock_;
    idle_until_ = 0;
    p_.work->Reset();
    awaiting_restart_ = false;
    PST_LOG_INFO("continuing at clock {} in generation {}", clock_, generation_);
    return false;
  }
  if (awaiting_restart_ && a.kind != Kind::kDone)
    return Status::Internal("the scheduler sent work before telling this worker where to continue");
  if (a.kind != Kind::kIdle) waiting_ = false;
  if (a.kind == Kind::kLease) {
    lease_ = ActiveLease{};
    lease_.active = true;
    lease_.report.epoch = a.epoch;
    lease_.report.shard = a.shard;
    lease_.next = a.sample_begin;
    lease_.end = a.sample_end;
    PST_RETURN_IF_ERROR(p_.work->BeginLease(a.epoch, a.sample_begin, a.sample_end));
  } else if (a.kind == Kind::kIdle) {
    idle_until_ = a.idle_until;
    if (ConsistencyPolicy(p_.job->train).ask_ahead()) WaitForOthers(a.idle_until);
  } else {
    done_ = true;
  }
  return true;
}

void TrainingLoop::WaitForOthers(uint64_t idle_until) {
  if (!waiting_)
    PST_LOG_INFO(
        "every data shard is leased: waiting for the other workers' leases (the rest of a dead "
        "worker's lease comes back to be trained), pushing empty clocks up to clock {}",
        idle_until);
  waiting_ = true;
  // Nothing to catch up with: ask again after a pause rather than at once.
  if (idle_until == clock_ + 1) std::this_thread::sleep_for(p_.options->lease_wait_retry);
}

Status TrainingLoop::Evaluate(const EvalOrder& order, bool final_model) {
  PST_RETURN_IF_ERROR(p_.work->FinishEvaluation());
  if (p_.work->target_reached()) return Status::OK();
  if (!ps_) return Status::Internal("an evaluation order before the scheduler said where to go on");
  // BSP: the model of version order.version (== clock); ASP/SSP: the current one.
  const uint64_t version = ConsistencyPolicy(p_.job->train).EvalVersion(order.version, clock_);
  return p_.work->Evaluate(*ps_, order, clock_, version, final_model);
}

Status TrainingLoop::Step() {
  if (p_.options->step_delay_ms)
    std::this_thread::sleep_for(std::chrono::milliseconds(p_.options->step_delay_ms));
  PST_RETURN_IF_ERROR(p_.work->Prepare(*ps_, clock_));
  const size_t n = std::min<uint64_t>(p_.job->train.batch_size, lease_.end - lease_.next);
  // This lease's last step: ask for the next one now (ASP/SSP, see
  // LeaseClient), as the worker will be at clock + 1 when it reads the answer.
  if (lease_.next + n >= lease_.end)
    PST_RETURN_IF_ERROR(p_.leases->AskAhead(clock_ + 1, generation_));
  PST_ASSIGN_OR_RETURN(StepResult r, p_.work->Run(*ps_, p_.rank, clock_, lease_.next, n));
  const auto compute = r.total - r.waited - r.pushing;
  wait_pull_ += r.waited;
  push_ += r.pushing;
  compute_ += compute;
  LeaseReport& report = lease_.report;
  report.wait += r.waited;
  report.push += r.pushing;
  report.compute += compute;
  report.loss_sum += r.loss_sum;
  report.samples += n;
  WorkerProgress& progress = *p_.progress;
  progress.max_staleness = ps_->max_staleness();
  {
    MutexLock lock(&progress.latency_mu);
    ps_->TakeLatencies(&progress.pull_latency, &progress.push_latency);
  }
  progress.samples += n;
  progress.steps += 1;
  progress.loss_sum = progress.loss_sum.load() + r.loss_sum;
  progress.clock = ++clock_;
  lease_.next += n;
  if (lease_.next < lease_.end) return Status::OK();
  lease_.active = false;
  return p_.leases->Finished(report, clock_, generation_);
}

void TrainingLoop::LogTotals() const {
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  const WorkerProgress& progress = *p_.progress;
  PST_LOG_INFO(
      "finished after {} steps: {:.0f} ms waiting for pulls, {:.0f} ms computing, {:.0f} ms "
      "sending pushes",
      progress.steps.load(), ms(wait_pull_), ms(compute_), ms(push_));
  PST_LOG_INFO(
      "{} shard requests, {} of them sent ahead (during a lease's last step); {} "
      "leases reported on their own",
      p_.leases->requests(), p_.leases->requests_ahead(), p_.leases->reports());
  const ConsistencyPolicy policy(p_.job->train);
  PST_LOG_INFO("largest staleness observed: {} (consistency {}, bound {})",
               progress.max_staleness.load(), ConsistencyName(policy.kind()), policy.BoundText());
}

}  // namespace pst
