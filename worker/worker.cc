#include "worker/worker.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <thread>

#include "common/channel.h"
#include "common/cpu_affinity.h"
#include "common/heartbeat.h"
#include "common/latency_histogram.h"
#include "common/log.h"
#include "common/model_file.h"
#include "common/mutex.h"
#include "common/registration.h"
#include "worker/background_evaluator.h"
#include "worker/epoch_order.h"
#include "worker/gradient_clip.h"
#include "worker/idx_reader.h"
#include "worker/mlp.h"
#include "worker/ps_client.h"

namespace pst {

StatusOr<std::unique_ptr<Worker>> Worker::Create(zmq::context_t& ctx,
                                                 const WorkerOptions& options) {
  if (options.scheduler_endpoint.empty())
    return Status::InvalidArgument("--scheduler is required (e.g. tcp://127.0.0.1:7000)");
  if (options.request_timeout.count() <= 0)
    return Status::InvalidArgument("--request-timeout-ms must be positive");
  return std::unique_ptr<Worker>(new Worker(ctx, options));
}

namespace {

// Progress shared with the heartbeat thread.
struct Progress {
  std::atomic<uint32_t> rank{0};
  std::atomic<uint64_t> clock{0};
  std::atomic<uint64_t> samples{0};
  std::atomic<uint64_t> steps{0};
  std::atomic<double> loss_sum{0};
  std::atomic<uint64_t> max_staleness{0};
  std::atomic<uint32_t> generation{0};
  // Cumulative pull and push latencies (over every PsClient of the run): the
  // worker thread adds each step's under the lock, the heartbeat thread copies
  // them into heartbeats.
  Mutex latency_mu;
  LatencyHistogram pull_latency GUARDED_BY(latency_mu);
  LatencyHistogram push_latency GUARDED_BY(latency_mu);
};

struct Lease {
  bool active = false;
  uint32_t epoch = 0;
  uint32_t shard = 0;
  uint64_t next = 0;  // next position in the epoch order
  uint64_t end = 0;
  double loss_sum = 0;
  uint64_t samples = 0;
  // Where the lease's time went.
  std::chrono::steady_clock::duration wait{}, compute{}, push{};
};

struct EvalOrder {
  uint32_t epoch = 0;
  uint64_t version = 0;
};

Status CheckDataFitsModel(const Dataset& d, const ModelSpec& m, const char* split) {
  if (d.num_samples == 0) return Status::InvalidArgument(std::string("the ") + split + " set is empty");
  if (d.num_features != m.layer_sizes.front())
    return Status::InvalidArgument(std::string("the ") + split + " set has " +
                                   std::to_string(d.num_features) +
                                   " features per sample but model.layers starts with " +
                                   std::to_string(m.layer_sizes.front()));
  if (d.num_classes > m.layer_sizes.back())
    return Status::InvalidArgument(std::string("the ") + split + " set has " +
                                   std::to_string(d.num_classes) +
                                   " classes but model.layers ends with " +
                                   std::to_string(m.layer_sizes.back()));
  return Status::OK();
}

}  // namespace

Status Worker::Run() {
  PST_ASSIGN_OR_RETURN(auto sched, Channel::Connect(ctx_, options_.scheduler_endpoint));
  Progress progress;
  std::unique_ptr<Heartbeater> heartbeat;
  Status hb_status;
  JoinOptions join;
  join.role = proto::Role::WORKER;
  join.connect_timeout = options_.connect_timeout;
  join.form_timeout = options_.form_timeout;
  auto joined_or = JoinJob(*sched, join, &stop_, [&](const JoinedJob& j) {
    progress.rank = j.rank;
    SetLogNodeName("worker " + std::to_string(j.rank));
    PST_LOG_INFO("registered as worker {}", j.rank);
    HeartbeaterOptions ho;
    ho.scheduler_endpoint = options_.scheduler_endpoint;
    ho.interval = j.heartbeat_interval;
    ho.set_on_job_end = &stop_;  // an early stop (target accuracy) ends blocked waits
    auto fill = [&progress](proto::HeartbeatRequest::Builder b) {
      b.setRole(proto::Role::WORKER);
      b.setRank(progress.rank.load());
      b.setClock(progress.clock.load());
      b.setSamples(progress.samples.load());
      b.setSteps(progress.steps.load());
      b.setLossSum(progress.loss_sum.load());
      b.setMaxStaleness(progress.max_staleness.load());
      b.setGeneration(progress.generation.load());
      MutexLock lock(&progress.latency_mu);
      progress.pull_latency.EncodeBuckets(b.initPullLatencyBuckets(LatencyHistogram::kNumBuckets));
      b.setPullLatencySumSeconds(progress.pull_latency.sum());
      progress.push_latency.EncodeBuckets(b.initPushLatencyBuckets(LatencyHistogram::kNumBuckets));
      b.setPushLatencySumSeconds(progress.push_latency.sum());
    };
    auto on_reply = [this, &progress](proto::HeartbeatResponse::Reader r) {
      if (r.getLeave()) {
        if (!stop_) PST_LOG_INFO("the scheduler asks this worker to leave (scaled down)");
        stop_ = true;
        interrupt_ = true;
      }
      // Every rollback starts a newer generation; an answer from before ours
      // (late, or from a scheduler that just restarted and is still behind)
      // changes nothing.
      if (r.getGeneration() > progress.generation.load()) interrupt_ = true;
      if (r.getState() == proto::JobState::DONE || r.getState() == proto::JobState::FAILED)
        interrupt_ = true;
    };
    auto hb = Heartbeater::Start(ctx_, ho, fill, on_reply);
    if (hb.ok()) heartbeat = std::move(hb).value();
    else hb_status = hb.status();
  });
  if (joined_or.status().code() == StatusCode::kCancelled) return Status::OK();
  if (!joined_or.ok()) return joined_or.status();
  PST_RETURN_IF_ERROR(hb_status);
  const JoinedJob joined = std::move(joined_or).value();
  const JobSpec& job = joined.job;
  const uint32_t rank = joined.rank;
  uint32_t generation = joined.generation;
  progress.generation = generation;
  progress.clock = joined.resume_clock;
  if (!stop_) interrupt_ = false;

  const std::string data_dir = options_.data_dir.empty() ? job.data_dir : options_.data_dir;
  PST_ASSIGN_OR_RETURN(Dataset train, LoadFashionMnist(data_dir, true, job.train.train_limit));
  PST_RETURN_IF_ERROR(CheckDataFitsModel(train, job.model, "training"));
  // The test set too, before training starts: any worker may be asked to
  // evaluate, and loading it then would stall the job at the epoch's end.
  PST_ASSIGN_OR_RETURN(Dataset test, LoadFashionMnist(data_dir, false, job.train.test_limit));
  PST_RETURN_IF_ERROR(CheckDataFitsModel(test, job.model, "test"));
  PST_LOG_INFO("loaded {} training and {} test samples from {}", train.num_samples,
               test.num_samples, data_dir);
  SetBlasThreads(options_.blas_threads);
  PST_ASSIGN_OR_RETURN(Mlp mlp, Mlp::Create(job.model));
  // Before the training thread is pinned: evaluations then run on the
  // process's other CPUs, beside training.
  PST_ASSIGN_OR_RETURN(auto evaluator, BackgroundEvaluator::Create(job.model, test));
  // Connections to the servers of one generation. The step reads pulled
  // values in place when the model is one block (PsClient::set_pull_views).
  auto connect_servers = [&](const std::vector<ServerEntry>& servers,
                             uint32_t gen) -> StatusOr<std::unique_ptr<PsClient>> {
    PST_ASSIGN_OR_RETURN(auto client, PsClient::Connect(ctx_, servers, BlockKeys(job.train), rank,
                                                        options_.limits));
    client->set_generation(gen);
    client->set_pull_views(true);
    return client;
  };
  PST_ASSIGN_OR_RETURN(auto ps, connect_servers(joined.servers, generation));
  if (!options_.compute_cpus.empty()) {
    // Only now: the threads started so far (ZeroMQ's, the heartbeat) keep the
    // process's CPUs, so the training thread has its CPUs to itself.
    PST_RETURN_IF_ERROR(PinCallingThread(options_.compute_cpus).WithContext("--compute-cpus"));
    PST_LOG_INFO("training thread on CPUs {} (--compute-cpus)", FormatCpuList(AllowedCpus()));
  }
  const Consistency consistency = job.train.consistency;
  // The version a pull at `c` must wait for: BSP, every update of clocks < c;
  // SSP, every live worker's first c - s clocks; ASP, nothing.
  auto min_version_for = [&](uint64_t c) -> uint64_t {
    switch (consistency) {
      case Consistency::kBsp: return c;
      case Consistency::kSsp: return c > job.train.staleness ? c - job.train.staleness : 0;
      case Consistency::kAsp: return 0;
    }
    return c;
  };

  const uint64_t total = mlp.layout().total();
  const uint32_t batch = job.train.batch_size;
  // Under SSP with a bound of at least 1, step c+1's parameters are pulled
  // into a second buffer while step c computes instead of after it (step c's
  // own gradient then reaches the model one step later: a staleness of 1,
  // within the bound the job allows); step c-1's pushes asked for them. BSP and
  // SSP with bound 0 need step c's update first; ASP, which promises no bound,
  // reads the freshest values it can (after its own push): prefetching there
  // cost short runs several points of accuracy for little speed.
  const bool prefetch = consistency == Consistency::kSsp && job.train.staleness >= 1;
  std::vector<float> param_bufs[2] = {std::vector<float>(total),
                                      std::vector<float>(prefetch ? total : 0)};
  auto params_at = [&](uint64_t c) -> float* { return param_bufs[prefetch ? c % 2 : 0].data(); };
  // Gradient buffers, used in turn: step t's blocks are sent zero-copy and
  // may still be in flight when step t+1 starts. A pass writes no gradient
  // before it has waited for all its parameters (MlpHooks::wait_params), and
  // those answered step t's pushes (which carried the pulls, or were sent
  // before them on the same connections), so by then every block of step t
  // has left: one buffer does. With prefetch step t+1's parameters answer
  // step t-1's pushes, so steps take turns with two. (Every buffer is a copy
  // of the model: a large model's worker memory is mostly these.)
  std::vector<std::shared_ptr<std::vector<float>>> grads;
  for (int i = 0; i < (prefetch ? 2 : 1); ++i)
    grads.push_back(std::make_shared<std::vector<float>>(total));
  std::vector<float> batch_x(size_t{batch} * train.num_features);
  std::vector<int32_t> batch_y(batch);
  std::vector<uint32_t> order;
  uint32_t order_epoch = UINT32_MAX;
  MlpHooks hooks;
  hooks.block_keys = BlockKeys(job.train);
  const auto timeout = options_.request_timeout;

  uint64_t clock = joined.resume_clock;
  uint64_t params_clock = UINT64_MAX;  // the clock whose pull params_at(params_clock) holds, if any
  uint64_t idle_until = 0;
  Lease lease;
  Lease completed;  // the lease finished last, not reported yet
  bool has_completed = false;
  // ASP/SSP: the next lease is asked for when the current one's last step
  // starts, and the answer read when that step is done: the round trip to the
  // scheduler overlaps the step instead of stalling the worker between leases.
  // That request cannot report the lease still being trained, so each lease is
  // reported on its own (ShardRequest.reportOnly) the moment its last step is
  // done, without waiting for the answer: its epoch closes then, and the
  // answer (read a step or so later) may order its evaluation. Not under BSP:
  // there an epoch closes by clock, at the first request past its end, and
  // would then be summed up without the lease this worker is still training
  // (and each BSP step waits for its pull, which hides the round trip anyway);
  // a BSP lease is reported with the request for the next one.
  const bool ask_ahead = consistency != Consistency::kBsp;
  uint64_t ahead_request = 0;   // its request id; 0: none
  uint64_t report_request = 0;  // the report-only request in flight; 0: none
  uint64_t shard_requests = 0, shard_requests_ahead = 0, lease_reports = 0;
  auto fill_shard_request = [&](OutMessage& msg, uint64_t at_clock) {
    auto req = msg.envelope().getBody().initShardRequest();
    req.setRank(rank);
    req.setClock(at_clock);
    req.setNumSamples(train.num_samples);
    req.setGeneration(generation);
    if (!has_completed) return;
    has_completed = false;
    req.setHasCompleted(true);
    req.setCompletedEpoch(completed.epoch);
    req.setCompletedShard(completed.shard);
    req.setCompletedLossSum(completed.loss_sum);
    req.setCompletedSamples(completed.samples);
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    req.setCompletedWaitMs(ms(completed.wait));
    req.setCompletedComputeMs(ms(completed.compute));
    req.setCompletedPushMs(ms(completed.push));
  };
  std::deque<EvalOrder> evals;  // evaluation orders received, in order
  bool done = false;
  // Reads the answer to the report-only request in flight, if any: at once
  // if it has arrived (or, with wait, when it does). Other answers than
  // `reported` (wait, restart, done) mean the report was not needed or not
  // taken; the next lease request hears the same.
  auto take_report = [&](bool wait) -> Status {
    if (report_request == 0) return Status::OK();
    if (!wait) {
      sched->Pump();
      if (!sched->HasReply(report_request)) return Status::OK();
    }
    auto reply = sched->Await(report_request, wait ? timeout : std::chrono::milliseconds(0),
                              &interrupt_);
    report_request = 0;
    if (!reply.ok()) return reply.status().WithContext("reporting a finished data shard");
    if (!reply->envelope().getBody().isShardResponse())
      return Status::InvalidArgument("scheduler answered a shard report with the wrong message");
    auto resp = reply->envelope().getBody().getShardResponse();
    PST_RETURN_IF_ERROR(
        FromRpcStatus(resp.getStatus()).WithContext("scheduler refused a shard report"));
    if (resp.getKind() == proto::ShardReplyKind::REPORTED && resp.getEvaluate())
      evals.push_back({resp.getEvalEpoch(), resp.getEvalVersion()});
    return Status::OK();
  };

  auto pull = [&](uint64_t min_version) -> Status {
    ps->set_clock(clock);
    PST_ASSIGN_OR_RETURN(const uint64_t version,
                         ps->Pull(min_version, params_at(clock), timeout, &interrupt_));
    (void)version;
    params_clock = clock;
    return Status::OK();
  };

  bool target_reached = false;  // an evaluation of ours reached job.train.target_accuracy
  // Logs and reports a finished evaluation; with final_model (or when it
  // reaches the target accuracy, which ends the job) saves its model.
  auto report_eval = [&](const BackgroundEvaluator::Result& ev, bool final_model) -> Status {
    const double accuracy = double(ev.eval.correct) / test.num_samples;
    PST_LOG_INFO("epoch {}: test accuracy {:.4f}", ev.epoch + 1, accuracy);
    const float target = job.train.target_accuracy;
    if (target > 0 && accuracy >= target) {
      final_model = true;
      target_reached = true;
    }
    if (final_model && !options_.model_out.empty()) {
      PST_RETURN_IF_ERROR(SaveModel(options_.model_out, job.model, evaluator->params().data()));
      PST_LOG_INFO("saved the final model to {}", options_.model_out);
    }
    OutMessage msg;
    auto r = msg.envelope().getBody().initEvalReport();
    r.setRank(rank);
    r.setEpoch(ev.epoch);
    r.setVersion(ev.version);
    r.setCorrect(ev.eval.correct);
    r.setTotal(test.num_samples);
    r.setLossSum(ev.eval.loss_sum);
    PST_ASSIGN_OR_RETURN(InMessage reply, sched->Call(msg, timeout, &interrupt_));
    if (!reply.envelope().getBody().isAck())
      return Status::InvalidArgument("scheduler answered an eval report with the wrong message");
    return FromRpcStatus(reply.envelope().getBody().getAck());
  };
  // Reports the evaluation under way, if any, once it has finished.
  auto finish_eval = [&]() -> Status {
    if (auto ev = evaluator->Wait()) return report_eval(*ev, false);
    return Status::OK();
  };
  // Starts evaluating the model an evaluation order names; training goes on
  // meanwhile, and the result is reported when the training loop sees it. A
  // final one (no more data) is waited for. Orders are evaluated one at a
  // time, in the order given.
  auto evaluate = [&](const EvalOrder& e, bool final_model) -> Status {
    PST_RETURN_IF_ERROR(finish_eval());
    if (target_reached) return Status::OK();
    // BSP: the model of version e.version (== clock); ASP/SSP: the current one.
    if (params_clock != clock)
      PST_RETURN_IF_ERROR(pull(consistency == Consistency::kBsp ? e.version : min_version_for(clock)));
    PST_RETURN_IF_ERROR(evaluator->Submit(e.epoch, e.version, ps->PulledValues(params_at(clock))));
    if (!final_model) return Status::OK();
    auto ev = evaluator->Wait();
    return report_eval(*ev, true);
  };

  struct {
    std::chrono::steady_clock::duration wait_pull{}, compute{}, push{};  // per run
  } timing;
  Status result;
  bool finished = false;         // out of data, or our evaluation reached the target
  bool awaiting_restart = false; // after a rollback: no PsClient until the scheduler says where to go on
  for (;;) {
  while (!stop_) {
    if (interrupt_) break;  // a rollback started or we were asked to leave
    if (heartbeat->job_state() == proto::JobState::FAILED) {
      result = Status::Aborted("the scheduler reports the job failed; see the scheduler log");
      break;
    }
    if (heartbeat->lost_contact()) {
      result = Status::Unavailable("lost contact with the scheduler at " + options_.scheduler_endpoint);
      break;
    }
    if (auto ev = evaluator->TakeResult()) {
      result = report_eval(*ev, false);
      if (!result.ok()) break;
      if (target_reached) {  // the scheduler ends the job on our report
        finished = true;
        break;
      }
    }
    result = take_report(/*wait=*/false);
    if (!result.ok()) break;
    if (!lease.active && clock >= idle_until) {
      StatusOr<InMessage> reply = Status::Internal("no shard request sent");
      ++shard_requests;
      if (ahead_request != 0) {
        ++shard_requests_ahead;
        reply = sched->Await(ahead_request, timeout, &interrupt_);
        ahead_request = 0;
      } else {
        OutMessage msg;
        fill_shard_request(msg, clock);
        reply = sched->Call(msg, timeout, &interrupt_);
      }
      if (reply.status().code() == StatusCode::kCancelled) break;
      if (!reply.ok()) {
        result = reply.status().WithContext("asking the scheduler for a data shard");
        break;
      }
      if (!reply->envelope().getBody().isShardResponse()) {
        result = Status::InvalidArgument("scheduler answered a shard request with the wrong message");
        break;
      }
      auto resp = reply->envelope().getBody().getShardResponse();
      result = FromRpcStatus(resp.getStatus()).WithContext("scheduler refused a data shard");
      if (!result.ok()) break;
      if (resp.getKind() == proto::ShardReplyKind::WAIT) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      if (resp.getKind() == proto::ShardReplyKind::RESTART) {
        // Continue where the scheduler says: a new generation after a
        // rollback, or our start clock when we joined a running job. A
        // lease finished before is not reported: the scheduler ignores the
        // completions of a request from an older generation, and one sent
        // now could be taken for a later piece of the same shard.
        has_completed = false;
        std::vector<ServerEntry> servers;
        for (auto sv : resp.getServers())
          servers.push_back({sv.getRank(), sv.getEndpoint().cStr(), {sv.getKeyBegin(), sv.getKeyEnd()}});
        auto client = connect_servers(servers, resp.getGeneration());
        if (!client.ok()) {
          result = client.status().WithContext("reconnecting to the servers");
          break;
        }
        ps = std::move(client).value();
        generation = resp.getGeneration();
        progress.generation = generation;
        clock = resp.getResumeClock();
        progress.clock = clock;
        idle_until = 0;
        params_clock = UINT64_MAX;
        awaiting_restart = false;
        PST_LOG_INFO("continuing at clock {} in generation {}", clock, generation);
        continue;
      }
      if (awaiting_restart && resp.getKind() != proto::ShardReplyKind::DONE) {
        result = Status::Internal("the scheduler sent work before telling this worker where to continue");
        break;
      }
      if (resp.getEvaluate()) evals.push_back({resp.getEvalEpoch(), resp.getEvalVersion()});
      switch (resp.getKind()) {
        case proto::ShardReplyKind::LEASE:
          if (resp.getSampleEnd() > train.num_samples || resp.getSampleBegin() >= resp.getSampleEnd()) {
            result = Status::InvalidArgument("scheduler leased samples outside the training set");
            break;
          }
          lease = Lease{};
          lease.active = true;
          lease.epoch = resp.getEpoch();
          lease.shard = resp.getShard();
          lease.next = resp.getSampleBegin();
          lease.end = resp.getSampleEnd();
          if (order_epoch != lease.epoch) {
            order = EpochOrder(train.num_samples, job.model.seed, lease.epoch);
            order_epoch = lease.epoch;
          }
          break;
        case proto::ShardReplyKind::IDLE:
          if (resp.getIdleUntil() <= clock) {
            result = Status::InvalidArgument("scheduler asked to idle until a past clock");
            break;
          }
          idle_until = resp.getIdleUntil();
          break;
        case proto::ShardReplyKind::DONE:
          done = true;
          break;
        default:
          result = Status::InvalidArgument("unknown shard reply kind");
      }
      if (!result.ok()) break;
    }
    if (!evals.empty()) {
      // The last epoch's evaluation is the final one (its model is saved),
      // whether this worker has heard "done" yet or not.
      const EvalOrder e = evals.front();
      evals.pop_front();
      result = evaluate(e, done || e.epoch + 1 >= job.train.epochs);
      if (!result.ok()) break;
      if (target_reached) {  // the scheduler ends the job on our report
        finished = true;
        break;
      }
      if (done) {
        // More evaluation orders may be waiting (ASP/SSP close epochs late).
        done = false;
        continue;
      }
    }
    if (done && report_request != 0) {
      // Told "done" by a request sent ahead: hear the last lease's report
      // first (its epoch may close on it, with an evaluation order for us).
      result = take_report(/*wait=*/true);
      if (!result.ok()) break;
      done = false;
      continue;
    }
    if (done) {
      // No more data. Under ASP/SSP others must stop waiting for our clock.
      result = finish_eval();
      if (!result.ok()) break;
      if (consistency != Consistency::kBsp && ps) result = ps->Retire(rank);
      finished = true;
      break;
    }

    if (!lease.active) {
      if (consistency != Consistency::kBsp) {
        // Only BSP idles; be gentle with the scheduler if it ever happens.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      // Idle under BSP: an empty push lets the servers close this clock without us.
      result = ps->CollectPushAcks();
      if (result.ok()) result = ps->PushEmpty(rank, clock);
      if (!result.ok()) break;
      progress.clock = ++clock;
      continue;
    }

    if (options_.step_delay_ms)
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.step_delay_ms));
    // One pipelined step: the forward pass starts on the first parameter
    // blocks while later ones are still arriving, and each gradient block is
    // pushed as soon as the backward pass has finished it.
    const auto t0 = std::chrono::steady_clock::now();
    float* params = params_at(clock);
    ps->set_clock(clock);
    if (params_clock != clock) result = ps->StartPullIfNeeded(min_version_for(clock), params);
    if (result.ok() && prefetch) {
      // The next step's parameters, into the other buffer (see `prefetch`).
      ps->set_clock(clock + 1);
      result = ps->StartPullIfNeeded(min_version_for(clock + 1), params_at(clock + 1));
      ps->set_clock(clock);
    }
    if (result.ok()) result = ps->CollectPushAcks();
    if (!result.ok()) break;
    const size_t n = std::min<uint64_t>(batch, lease.end - lease.next);
    if (ask_ahead && lease.next + n >= lease.end && ahead_request == 0) {
      // This lease's last step: ask for the next one now (see ahead_request),
      // as the worker will be at clock + 1 when it reads the answer.
      OutMessage msg;
      fill_shard_request(msg, clock + 1);
      auto sent = sched->Send(msg);
      if (!sent.ok()) {
        result = sent.status().WithContext("asking the scheduler for a data shard");
        break;
      }
      ahead_request = *sent;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint32_t s = order[lease.next + i];
      std::copy(train.row(s), train.row(s) + train.num_features, batch_x.begin() + i * train.num_features);
      batch_y[i] = train.labels[s];
    }
    const std::shared_ptr<std::vector<float>>& grad = grads[clock % grads.size()];
    // Each block's push also asks for the block's values for a later step
    // (push-and-pull: one message each way per block and step): the next
    // step's, or with prefetch the one after it, into this step's buffer (the
    // values land only when that step waits for them). Its version follows
    // this push, so the server answers the moment it has applied it.
    const uint64_t pull_clock = clock + (prefetch ? 2 : 1);
    ps->BeginPush(rank, clock, grad, grad->data(), static_cast<uint32_t>(n), params_at(pull_clock),
                  min_version_for(pull_clock), pull_clock);
    std::chrono::steady_clock::duration waited{}, pushing{};
    // What the pass reads: the pulled buffer, or with pull views the answer's
    // frame itself. A one-block model leaves nothing to overlap, so the whole
    // pull is awaited before the pass.
    const float* values = params;
    if (ps->pull_views()) {
      if (params_clock != clock) {
        const auto w0 = std::chrono::steady_clock::now();
        result = ps->WaitKeys(params, {0, total}, timeout, &interrupt_);
        waited += std::chrono::steady_clock::now() - w0;
        if (!result.ok()) break;
      }
      values = ps->PulledValues(params);
    }
    hooks.wait_params = [&](uint64_t begin, uint64_t end) -> Status {
      // Already pulled (by an evaluation, or above for a pull view).
      if (params_clock == clock || ps->pull_views()) return Status::OK();
      const auto w0 = std::chrono::steady_clock::now();
      Status s = ps->WaitKeys(params, {begin, end}, timeout, &interrupt_);
      waited += std::chrono::steady_clock::now() - w0;
      return s;
    };
    // With clipping the norm is known only at the end of the pass, so blocks
    // are pushed then instead of as they are finished.
    const bool clip = job.optimizer.clip_norm > 0;
    hooks.grad_ready = [&](uint64_t begin, uint64_t end) -> Status {
      if (clip) return Status::OK();
      const auto p0 = std::chrono::steady_clock::now();
      Status s = ps->GradReady({begin, end});
      pushing += std::chrono::steady_clock::now() - p0;
      return s;
    };
    auto loss_or = mlp.ForwardBackward(values, batch_x.data(), batch_y.data(), n,
                                       grad->data(), hooks);
    if (!loss_or.ok()) {
      result = loss_or.status();
      break;
    }
    const double loss = *loss_or;
    if (clip) {
      ClipGradientSum(grad->data(), total, n, job.optimizer.clip_norm);
      const auto p0 = std::chrono::steady_clock::now();
      result = ps->GradReady({0, total});
      pushing += std::chrono::steady_clock::now() - p0;
      if (!result.ok()) break;
    }
    result = ps->EndPush();
    if (!result.ok()) break;
    const auto t3 = std::chrono::steady_clock::now();
    timing.wait_pull += waited;
    timing.push += pushing;
    timing.compute += (t3 - t0) - waited - pushing;
    lease.wait += waited;
    lease.push += pushing;
    lease.compute += (t3 - t0) - waited - pushing;
    progress.max_staleness = ps->max_staleness();
    {
      MutexLock lock(&progress.latency_mu);
      ps->TakeLatencies(&progress.pull_latency, &progress.push_latency);
    }
    lease.next += n;
    lease.loss_sum += loss;
    lease.samples += n;
    progress.samples += n;
    progress.steps += 1;
    progress.loss_sum = progress.loss_sum.load() + loss;
    progress.clock = ++clock;
    params_clock = UINT64_MAX;
    // The next version is on its way already (asked for by the pushes, or
    // prefetched); this only starts a pull if neither happened. Each server
    // answers a block the moment it has been updated.
    ps->set_clock(clock);
    result = ps->StartPullIfNeeded(min_version_for(clock), params_at(clock));
    if (!result.ok()) break;
    if (lease.next >= lease.end) {
      lease.active = false;
      completed = lease;
      has_completed = true;
      if (ask_ahead) {
        result = take_report(/*wait=*/true);  // one report in flight at a time
        if (!result.ok()) break;
        OutMessage msg;
        fill_shard_request(msg, clock);
        msg.envelope().getBody().getShardRequest().setReportOnly(true);
        auto sent = sched->Send(msg);
        if (!sent.ok()) {
          result = sent.status().WithContext("reporting a finished data shard");
          break;
        }
        report_request = *sent;
        ++lease_reports;
      }
    }
  }
  // A rollback (new generation, a PS or the scheduler restarting) interrupts
  // waits and makes servers refuse our requests (kAborted): drop the lease,
  // the pulls and pushes in flight, and ask the scheduler where to continue.
  const bool interrupted = result.ok() || result.code() == StatusCode::kCancelled ||
                           result.code() == StatusCode::kAborted;
  if (stop_ || finished || !interrupted || heartbeat->job_state() == proto::JobState::FAILED ||
      heartbeat->job_state() == proto::JobState::DONE)
    break;
  if (!awaiting_restart)
    PST_LOG_INFO("training interrupted at clock {} ({}); waiting for the scheduler", clock,
                 result.ok() ? "rollback" : result.message());
  result = Status::OK();
  lease = Lease{};
  has_completed = false;
  if (ahead_request != 0) sched->Discard(ahead_request);
  ahead_request = 0;
  if (report_request != 0) sched->Discard(report_request);
  report_request = 0;
  evals.clear();
  // An evaluation under way is of a model the rollback discards: drop it.
  evaluator->Wait();
  done = false;
  ps.reset();
  awaiting_restart = true;
  interrupt_ = false;
  if (stop_) interrupt_ = true;
  }
  if (result.code() == StatusCode::kCancelled) result = Status::OK();
  const proto::JobState final_state = heartbeat->job_state();
  if (result.ok() && final_state == proto::JobState::FAILED)
    result = Status::Aborted("the scheduler reports the job failed; see the scheduler log");
  if (result.ok() && final_state == proto::JobState::DONE && !done)
    PST_LOG_INFO("the scheduler ended the job (target accuracy reached); stopping");
  if (result.ok() && final_state != proto::JobState::DONE && ps) {
    Status s = ps->WaitPushes(std::chrono::milliseconds(5000), nullptr);
    if (!s.ok()) PST_LOG_WARN("last pushes unconfirmed: {}", s.message());
  }
  OutMessage leave;
  auto lr = leave.envelope().getBody().initLeaveRequest();
  lr.setRole(proto::Role::WORKER);
  lr.setRank(rank);
  auto bye = sched->Call(leave, std::chrono::milliseconds(1000));
  bye.status().IgnoreError();  // best effort: the scheduler's heartbeat timeout covers it
  if (result.ok()) {
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    PST_LOG_INFO("finished after {} steps: {:.0f} ms waiting for pulls, {:.0f} ms computing, {:.0f} ms sending pushes",
                 progress.steps.load(), ms(timing.wait_pull), ms(timing.compute), ms(timing.push));
    PST_LOG_INFO("{} shard requests, {} of them sent ahead (during a lease's last step); {} "
                 "leases reported on their own",
                 shard_requests, shard_requests_ahead, lease_reports);
    PST_LOG_INFO("largest staleness observed: {} (consistency {}, bound {})", progress.max_staleness.load(),
                 ConsistencyName(consistency),
                 consistency == Consistency::kSsp ? std::to_string(job.train.staleness)
                 : consistency == Consistency::kBsp ? std::string("0") : std::string("none"));
  }
  return result;
}

}  // namespace pst
