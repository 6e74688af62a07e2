#include "cli/launcher.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <kj/exception.h>
#include <zmq.hpp>

#include "cli/child_process.h"
#include "cli/fault_injector.h"
#include "cli/key_setup.h"
#include "cli/progress.h"
#include "cli/run_recorder.h"
#include "cli/supervisor.h"
#include "common/channel.h"
#include "common/cpu_affinity.h"
#include "common/job_file.h"
#include "worker/idx_reader.h"

namespace pst {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

std::string DefaultRunDir() {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&now));
  return fmt::format("runs/{}-{}", stamp, getpid());
}

std::string SelfDir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "." : self.parent_path().string();
}

StatusOr<std::string> ReadEndpointFile(const std::string& path, ChildProcess& scheduler,
                                       const std::atomic<bool>& interrupted) {
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  while (Clock::now() < deadline) {
    std::ifstream in(path);
    std::string endpoint;
    if (in && std::getline(in, endpoint) && !endpoint.empty()) return endpoint;
    if (auto code = scheduler.Poll())
      return Status::Aborted(fmt::format("the scheduler exited with status {}: {} (log: {})", *code,
                                         scheduler.LastLogLine(), scheduler.log_path()));
    if (interrupted) return Status::Cancelled("interrupted");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::DeadlineExceeded("the scheduler did not start listening within 15 s (log: " +
                                  scheduler.log_path() + ")");
}

// What the launcher learns from each job status: the state, the progress
// shown, the epochs printed once evaluated, what the job waits for.
class JobWatch {
 public:
  JobWatch(const JobSpec& job, LaunchResult& result, ProgressPrinter& progress, RunRecorder& recorder)
      : job_(job), result_(result), progress_(progress), recorder_(recorder) {}

  void Update(proto::JobStatusResponse::Reader st, Clock::time_point launched) {
    state = st.getState();
    elapsed_s = st.getElapsedMs() / 1000.0;
    desired_workers = st.getDesiredWorkers();
    // What the job waits for when it cannot go on by itself, once per change.
    if (std::string waiting = st.getWaitingFor().cStr(); waiting != waiting_for_) {
      if (!waiting.empty()) progress_.Line(waiting);
      waiting_for_ = std::move(waiting);
    }
    if (st.getGeneration() != result_.generation && st.getGeneration() > 0 && !result_.resumed)
      progress_.Line(fmt::format("the job rolled back (generation {}): {}", st.getGeneration(),
                                 st.getRollbacks().size()
                                     ? st.getRollbacks()[st.getRollbacks().size() - 1].getReason().cStr()
                                     : ""));
    result_.generation = st.getGeneration();
    result_.checkpoints = st.getCheckpoints().size();
    result_.redone_clocks = 0;
    for (auto r : st.getRollbacks()) result_.redone_clocks += r.getLostClocks();
    samples_done = 0;
    epoch_samples.clear();
    for (auto e : st.getEpochs()) {
      samples_done += e.getSamples();
      epoch_samples.push_back(e.getSamples());
    }
    samples_per_epoch = st.getSamplesPerEpoch();
    recorder_.Progress(st, job_.train.epochs, launched);
    ReportEpochs(st);
    ShowProgress(st);
  }

  proto::JobState state = proto::JobState::FORMING;
  double elapsed_s = 0;
  uint32_t desired_workers = 0;
  uint64_t samples_done = 0;
  uint64_t samples_per_epoch = 0;
  std::vector<uint64_t> epoch_samples;  // from the latest status

 private:
  // Prints each epoch once its evaluation is in.
  void ReportEpochs(proto::JobStatusResponse::Reader st) {
    auto epochs = st.getEpochs();
    while (epochs_reported_ < epochs.size() && epochs[epochs_reported_].getEvaluated()) {
      auto e = epochs[epochs_reported_];
      EpochSummary es;
      es.epoch = e.getEpoch() + 1;
      es.train_loss = e.getSamples() ? e.getLossSum() / e.getSamples() : 0;
      es.test_accuracy = double(e.getTestCorrect()) / std::max<uint64_t>(1, e.getTestTotal());
      es.has_auc = e.getHasAuc();
      es.test_auc = e.getTestAuc();
      es.test_log_loss = e.getTestLossSum() / double(std::max<uint64_t>(1, e.getTestTotal()));
      es.seconds = e.getEndMs() > e.getStartMs() ? (e.getEndMs() - e.getStartMs()) / 1000.0 : 0;
      es.end_seconds = e.getEndMs() / 1000.0;
      es.wait_seconds = e.getWaitMs() / 1e3;
      es.compute_seconds = e.getComputeMs() / 1e3;
      es.push_seconds = e.getPushMs() / 1e3;
      result_.epochs.push_back(es);
      recorder_.Epoch(es);
      const double busy = es.wait_seconds + es.compute_seconds + es.push_seconds;
      auto pct = [busy](double v) { return busy > 0 ? 100.0 * v / busy : 0.0; };
      const std::string quality =
          es.has_auc ? fmt::format("test AUC {:.4f}  test log-loss {:.4f}", es.test_auc,
                                   es.test_log_loss)
                     : fmt::format("test accuracy {:.4f}", es.test_accuracy);
      progress_.Line(fmt::format(
          "epoch {}/{}  train loss {:.4f}  {}  {:.1f} s  (workers: compute "
          "{:.0f}%, waiting for pulls {:.0f}%, pushing {:.0f}%)",
          es.epoch, job_.train.epochs, es.train_loss, quality, es.seconds, pct(es.compute_seconds),
          pct(es.wait_seconds), pct(es.push_seconds)));
      ++epochs_reported_;
    }
  }

  // The progress bar (or line): speed and loss over the last second or more.
  void ShowProgress(proto::JobStatusResponse::Reader st) {
    uint64_t samples = 0, steps = 0;
    double loss_sum = 0;
    for (auto n : st.getNodes()) {
      if (n.getRole() != proto::Role::WORKER) continue;
      samples += n.getSamples();
      loss_sum += n.getLossSum();
      steps += n.getSteps();
    }
    const auto now = Clock::now();
    const double dt = std::chrono::duration<double>(now - last_rate_time_).count();
    if (dt >= 1.0 && samples > last_samples_) {
      rate_ = (samples - last_samples_) / dt;
      recent_loss_ = (loss_sum - last_loss_sum_) / double(samples - last_samples_);
      last_samples_ = samples;
      last_loss_sum_ = loss_sum;
      last_rate_time_ = now;
    }
    if (state != proto::JobState::RUNNING || st.getSamplesPerEpoch() == 0) return;
    const double total = double(st.getSamplesPerEpoch()) * job_.train.epochs;
    ProgressSnapshot p;
    p.epochs = job_.train.epochs;
    p.epoch = std::min<uint32_t>(job_.train.epochs, static_cast<uint32_t>(samples / st.getSamplesPerEpoch()) + 1);
    p.fraction = samples / total;
    p.steps = steps;
    p.loss = recent_loss_;
    p.samples_per_second = rate_;
    p.eta_seconds = rate_ > 0 ? (total - samples) / rate_ : -1;
    if (!result_.epochs.empty()) p.test_accuracy = result_.epochs.back().test_accuracy;
    progress_.Update(p);
  }

  const JobSpec& job_;
  LaunchResult& result_;
  ProgressPrinter& progress_;
  RunRecorder& recorder_;
  std::string waiting_for_;  // the scheduler's last JobStatusResponse.waitingFor
  size_t epochs_reported_ = 0;
  uint64_t last_samples_ = 0;
  double last_loss_sum_ = 0;
  double recent_loss_ = 0;
  Clock::time_point last_rate_time_ = Clock::now();
  double rate_ = 0;
};

// A sparse job's data files must be there before anything starts.
Status CheckSparseDataFiles(const SparseDataSpec& data) {
  for (const auto& [key, path] : {std::pair{"data.train", data.train}, {"data.test", data.test}}) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
      return Status::NotFound(fmt::format(
          "{}: '{}' is not a readable file (deploy/data/prepare_movielens.sh, "
          "prepare_spam_assassin.sh or pstrain-datagen make the data sets)",
          key, path));
  }
  return Status::OK();
}

std::string ModelName(const JobSpec& job) {
  if (job.sparse()) {
    return fmt::format("{} on {} data {}", ModelKindName(job.model.kind),
                       DataFormatName(job.sparse_data.format), job.sparse_data.train);
  }
  std::string s;
  for (uint32_t l : job.model.layer_sizes) s += (s.empty() ? "" : "-") + std::to_string(l);
  return s;
}

// Polls the scheduler for the job status, at most a few times a second (it
// has better things to do); a query it never answered (it restarted) is
// asked again.
class StatusPoller {
 public:
  explicit StatusPoller(Channel& channel) : channel_(channel) {}
  // Waits up to 100 ms for news; returns a status when one arrived.
  std::optional<InMessage> Poll() {
    if (pending_ && Clock::now() - last_query_ > std::chrono::seconds(2)) {
      channel_.Discard(pending_);
      pending_ = 0;
    }
    if (!pending_ && Clock::now() - last_query_ >= std::chrono::milliseconds(250)) {
      OutMessage req;
      req.envelope().getBody().initJobStatusRequest();
      auto id = channel_.Send(req);
      if (id.ok()) pending_ = *id;
      last_query_ = Clock::now();
    }
    Channel* c = &channel_;
    PollChannels(&c, 1, std::chrono::milliseconds(100));
    if (!pending_ || !channel_.HasReply(pending_)) return std::nullopt;
    auto reply = channel_.Await(pending_, std::chrono::milliseconds(0));
    pending_ = 0;
    if (!reply.ok() || !reply->envelope().getBody().isJobStatusResponse()) return std::nullopt;
    return std::move(reply).value();
  }

 private:
  Channel& channel_;
  uint64_t pending_ = 0;
  Clock::time_point last_query_ = Clock::now() - std::chrono::seconds(1);
};

// The job's state now, asked synchronously (the poller's last answer can be
// 250 ms old); nullopt when the scheduler does not answer within a second.
std::optional<proto::JobState> CurrentState(Channel& scheduler, std::string* message) {
  OutMessage req;
  req.envelope().getBody().initJobStatusRequest();
  auto reply = scheduler.Call(req, std::chrono::milliseconds(1000));
  if (!reply.ok() || !reply->envelope().getBody().isJobStatusResponse()) return std::nullopt;
  try {
    auto st = reply->envelope().getBody().getJobStatusResponse();
    if (message) *message = st.getMessage().cStr();
    return st.getState();
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
}

// A process exits non-zero when the job failed, possibly before the next
// status tells the launcher: asks the scheduler, so that the job's failure
// (which says why) is reported rather than the exit. nullopt when the job has
// not failed or the scheduler does not answer within a second.
std::optional<Status> JobFailure(Channel& scheduler, const std::string& run_dir) {
  std::string message;
  if (CurrentState(scheduler, &message) != proto::JobState::FAILED) return std::nullopt;
  return Status::Aborted("the job failed: " + message + " (logs: " + run_dir + "/logs)");
}

}  // namespace

Status ValidateLaunchOptions(const LaunchOptions& options) {
  for (const auto& [flag, value] : {std::pair{"--step-delay-ms", options.step_delay_ms},
                                    std::pair{"--worker-delay-ms", options.straggler_delay_ms}}) {
    if (value > kMaxStepDelayMs)
      return Status::InvalidArgument(fmt::format(
          "{}: expected milliseconds in [0, {}], got {}", flag, kMaxStepDelayMs, value));
  }
  return Status::OK();
}

StatusOr<LaunchResult> Launch(const LaunchOptions& options, const std::atomic<bool>& interrupted,
                              std::ostream& out) {
  PST_RETURN_IF_ERROR(ValidateLaunchOptions(options));
  LaunchResult result;
  result.run_dir = options.run_dir.empty() ? DefaultRunDir() : options.run_dir;
  const std::string state_dir = result.run_dir + "/state";
  // A run directory holding a job's state continues that job.
  JobSpec job = options.job;
  std::error_code ec;
  result.resumed = fs::exists(state_dir + "/scheduler", ec);
  if (result.resumed) {
    auto stored = LoadJobFile(result.run_dir + "/job.toml");
    if (!stored.ok()) return stored.status().WithContext("resuming the job in " + result.run_dir);
    job = std::move(stored).value();
  }
  PST_RETURN_IF_ERROR(ValidateJobSpec(job));
  PST_RETURN_IF_ERROR(job.sparse() ? CheckSparseDataFiles(job.sparse_data)
                                   : CheckFashionMnistFiles(job.data_dir));
  if (job.sparse()) {
    // The roles may run elsewhere: they get the data files by absolute path.
    job.sparse_data.train = fs::absolute(job.sparse_data.train, ec).string();
    job.sparse_data.test = fs::absolute(job.sparse_data.test, ec).string();
  }
  std::optional<CpuPlacement> cpus;
  if (options.pin_cpus) {
    PST_ASSIGN_OR_RETURN(cpus, PlaceCpus(AllowedCpus(), job.num_workers));
  }
  const std::string bin_dir = options.bin_dir.empty() ? SelfDir() : options.bin_dir;
  for (const char* bin : {"pstrain-scheduler", "pstrain-ps", "pstrain-worker"}) {
    if (access((bin_dir + "/" + bin).c_str(), X_OK) != 0)
      return Status::NotFound(
          fmt::format("{}/{} not found: build the project (see README) or pass --bin-dir", bin_dir, bin));
  }

  fs::create_directories(fs::path(result.run_dir) / "logs", ec);
  if (!ec) fs::create_directories(state_dir, ec);
  if (ec) return Status::Unavailable("cannot create run directory " + result.run_dir + ": " + ec.message());
  PST_ASSIGN_OR_RETURN(const std::shared_ptr<const ClusterKeys> curve,
                       PrepareLaunchKeys(options.secure, result.run_dir, &job.network));
  const std::string job_path = result.run_dir + "/job.toml";
  if (!result.resumed) {
    std::ofstream jf(job_path);
    jf << JobSpecToToml(job);
    if (!jf) return Status::Unavailable("cannot write " + job_path);
  }
  result.model_path = result.run_dir + "/model.safetensors";
  const std::string endpoint_file = result.run_dir + "/scheduler.endpoint";
  fs::remove(endpoint_file, ec);
  fs::remove(endpoint_file + ".admin", ec);

  const bool tty = isatty(STDOUT_FILENO) != 0 && &out == &std::cout;
  ProgressPrinter progress(
      out, options.progress == ProgressStyle::kBar || (options.progress == ProgressStyle::kAuto && tty),
      options.progress == ProgressStyle::kQuiet);
  progress.Line(fmt::format("pstrain: {} PS + {} worker(s), model {}, {} {}, {} epochs", job.num_servers,
                            job.num_workers, ModelName(job), OptimizerKindName(job.optimizer.kind),
                            ConsistencyName(job.train.consistency), job.train.epochs));
  progress.Line("run directory: " + result.run_dir);
  if (options.step_delay_ms > 0)
    progress.Line(fmt::format("every worker sleeps {} ms before each step (--step-delay-ms: emulated compute)",
                              options.step_delay_ms));
  if (cpus)
    progress.Line(fmt::format("--pin-cpus: workers' training threads on CPUs {}, everything else on {}",
                              FormatCpuList(cpus->compute), FormatCpuList(cpus->shared)));
  if (result.resumed)
    progress.Line("resuming the job stored there from its last complete checkpoint (job.toml; flags are ignored)");

  RunRecorder recorder(result.run_dir, progress);
  Supervisor procs(options, bin_dir, result.run_dir + "/logs", cpus, progress);
  auto fail = [&](Status s) -> Status {
    progress.Finish();
    procs.StopAll(std::chrono::milliseconds(3000));
    recorder.WritePlots();
    return s;
  };

  std::vector<std::string> sched_args{"--job", job_path, "--endpoint-file", endpoint_file, "--bind",
                                      options.bind_host, "--heartbeat-ms",
                                      std::to_string(options.heartbeat_interval.count()),
                                      "--heartbeat-timeout-ms", std::to_string(options.heartbeat_timeout.count()),
                                      "--log-level", options.log_level, "--admin-port",
                                      std::to_string(options.admin_port), "--state-dir", state_dir + "/scheduler"};
  if (options.recovery_timeout.count() > 0)
    sched_args.insert(sched_args.end(),
                      {"--recovery-timeout-ms", std::to_string(options.recovery_timeout.count() * 1000)});
  if (cpus) sched_args.insert(sched_args.end(), {"--cpus", FormatCpuList(cpus->shared)});
  if (curve) sched_args.insert(sched_args.end(), {"--key-dir", job.network.key_dir});
  // A restarted scheduler must not resume (it takes the job over) and must
  // be reachable where the nodes look for it (same port, added below).
  std::vector<std::string> first_args = sched_args;
  if (result.resumed) first_args.push_back("--resume");
  Status s = procs.Spawn("scheduler", "pstrain-scheduler", first_args);
  if (!s.ok()) return fail(s);
  auto endpoint = ReadEndpointFile(endpoint_file, procs.scheduler().child, interrupted);
  if (!endpoint.ok()) return fail(endpoint.status());
  progress.Line("scheduler: " + *endpoint);
  {
    // The scheduler writes the admin URL before the endpoint file.
    std::ifstream admin(endpoint_file + ".admin");
    if (admin && std::getline(admin, result.admin_url) && !result.admin_url.empty())
      progress.Line("admin: " + result.admin_url);
  }
  sched_args.insert(sched_args.end(), {"--port", endpoint->substr(endpoint->rfind(':') + 1)});
  procs.scheduler().args = sched_args;
  for (uint32_t i = 0; i < job.num_servers && s.ok(); ++i) {
    std::vector<std::string> args{"--scheduler", *endpoint, "--bind", options.bind_host,
                                  "--log-level", options.log_level, "--shard-id", std::to_string(i),
                                  "--state-dir", state_dir + "/ps-" + std::to_string(i),
                                  // A PS binds before it learns its job: this sets its
                                  // ZeroMQ message cap (ZMQ_MAXMSGSIZE) from the job file.
                                  "--max-frame-bytes", std::to_string(job.network.max_frame_bytes)};
    if (cpus) args.insert(args.end(), {"--cpus", FormatCpuList(cpus->shared)});
    if (curve) args.insert(args.end(), {"--key-dir", job.network.key_dir});
    s = procs.Spawn("ps " + std::to_string(i), "pstrain-ps", std::move(args));
  }
  if (curve) procs.set_key_dir(job.network.key_dir);
  for (uint32_t i = 0; i < job.num_workers && s.ok(); ++i) s = procs.StartWorker(*endpoint, result.model_path);
  if (!s.ok()) return fail(s);

  zmq::context_t ctx(1);
  auto channel_or = Channel::Connect(ctx, *endpoint, {}, curve.get());
  if (!channel_or.ok()) return fail(channel_or.status());
  auto channel = std::move(channel_or).value();
  const auto launched = Clock::now();
  JobWatch watch(job, result, progress, recorder);
  watch.desired_workers = job.num_workers;
  FaultInjector faults(options.fault, job, procs, *channel, progress, &result.fault);
  StatusPoller poller(*channel);
  while (true) {
    if (interrupted) {
      progress.Line("interrupted: stopping all processes");
      return fail(Status::Cancelled("interrupted"));
    }
    if (options.timeout.count() > 0 && Clock::now() - launched > options.timeout)
      return fail(Status::DeadlineExceeded(fmt::format("the job did not finish within {} s; logs are in {}/logs",
                                                       options.timeout.count(), result.run_dir)));
    std::vector<std::string> exited;
    s = procs.Poll(watch.state, &exited);
    if (!s.ok() && watch.state == proto::JobState::FORMING) {
      // A worker's death is fatal only while the job forms; the job may have
      // started since the last status, so decide on the state now.
      if (auto now = CurrentState(*channel, nullptr); now && *now != proto::JobState::FORMING) {
        watch.state = *now;
        s = procs.Poll(watch.state, &exited);
      }
    }
    result.restarts = procs.restarts();
    if (!s.ok()) return fail(JobFailure(*channel, result.run_dir).value_or(s));
    for (const std::string& name : exited) faults.OnExit(name, watch.elapsed_s);
    s = procs.KeepWorkers(watch.state, watch.desired_workers);
    if (!s.ok()) return fail(s);
    faults.Tick(watch.state, watch.elapsed_s, watch.samples_done, watch.samples_per_epoch, watch.desired_workers);
    std::optional<InMessage> reply = poller.Poll();
    if (!reply) continue;
    try {
      auto st = reply->envelope().getBody().getJobStatusResponse();
      watch.Update(st, launched);
      faults.Track(st);
      s = procs.RestartStopped(watch.state);
      result.restarts = procs.restarts();
      if (!s.ok()) return fail(s);
      if (watch.state == proto::JobState::FAILED)
        return fail(Status::Aborted("the job failed: " + std::string(st.getMessage().cStr()) + " (logs: " +
                                    result.run_dir + "/logs)"));
      if (watch.state == proto::JobState::DONE) break;
    } catch (const kj::Exception&) {
      // A status we cannot read (malformed text): ask again next round.
    }
  }
  progress.Finish();
  // Every process ends by itself once the job is done; give them a moment.
  procs.AwaitExit(std::chrono::seconds(15));
  recorder.WritePlots();
  if (result.epochs.empty()) return Status::Internal("the job ended without an evaluation");
  // Workers report their last leases after the epochs closed: the final counts.
  for (EpochSummary& e : result.epochs)
    if (e.epoch - 1 < watch.epoch_samples.size()) e.samples = watch.epoch_samples[e.epoch - 1];
  result.final_test_accuracy = result.epochs.back().test_accuracy;
  result.final_test_auc = result.epochs.back().test_auc;
  const double elapsed_s = watch.elapsed_s;
  if (job.train.target_accuracy > 0 && result.final_test_accuracy >= job.train.target_accuracy) {
    result.target_reached = true;
    result.seconds_to_target = elapsed_s;
    progress.Line(fmt::format("reached the target test accuracy {:.4f} after epoch {} in {:.2f} s of training",
                              job.train.target_accuracy, result.epochs.back().epoch, elapsed_s));
  }
  if (job.train.target_auc > 0 && result.final_test_auc >= job.train.target_auc) {
    result.target_reached = true;
    result.seconds_to_target = elapsed_s;
    progress.Line(fmt::format("reached the target test AUC {:.4f} after epoch {} in {:.2f} s of training",
                              job.train.target_auc, result.epochs.back().epoch, elapsed_s));
  }
  result.wall_seconds = elapsed_s;
  result.samples_per_second = elapsed_s > 0 ? watch.samples_done / elapsed_s : 0;
  PST_RETURN_IF_ERROR(WriteResultJson(result.run_dir + "/result.json", options, result));
  return result;
}

}  // namespace pst
