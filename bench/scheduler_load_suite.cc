#include "bench/scheduler_load_suite.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <zmq.hpp>

#include "cli/child_process.h"
#include "common/channel.h"
#include "common/job_spec.h"
#include "common/wire.h"

namespace pst::bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// One simulated node: its channel to the scheduler and what it has in flight.
struct SimNode {
  std::unique_ptr<Channel> channel;
  proto::Role role = proto::Role::WORKER;
  uint32_t rank = 0;
  bool started = false;  // JobStart received
  milliseconds heartbeat_interval{500};  // as the scheduler told it
  Clock::time_point next_heartbeat;
  uint64_t heartbeat_id = 0;  // 0: none in flight
  // Worker: the lease request in flight and the last lease, reported with the next.
  uint64_t lease_id = 0;
  Clock::time_point lease_sent, next_lease;
  bool has_lease = false, done = false;
  uint32_t epoch = 0, shard = 0;
  uint64_t lease_samples = 0, samples = 0, clock = 0;
};

// utime + stime of `pid`, in seconds (fields 14 and 15 of /proc/PID/stat).
StatusOr<double> CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return Status::Unavailable("cannot read /proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stod(f);
    if (i == 15) stime = std::stod(f);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::vector<Channel*> Channels(std::vector<SimNode>& nodes) {
  std::vector<Channel*> out;
  for (SimNode& n : nodes) out.push_back(n.channel.get());
  return out;
}

// Registers every node and waits until each has its rank and the JobStart.
Status RegisterAll(std::vector<SimNode>& nodes, milliseconds timeout) {
  std::vector<uint64_t> ids;
  for (SimNode& n : nodes) {
    OutMessage msg;
    auto req = msg.envelope().initBody().initRegisterRequest();
    req.setRole(n.role);
    req.setPid(static_cast<uint32_t>(getpid()));
    req.setHost("load");
    if (n.role == proto::Role::SERVER) {
      req.setEndpoint("tcp://127.0.0.1:1");  // never dialled: no worker trains
      req.setShardId(0);
    }
    PST_ASSIGN_OR_RETURN(uint64_t id, n.channel->Send(msg));
    ids.push_back(id);
  }
  std::vector<Channel*> channels = Channels(nodes);
  const auto deadline = Clock::now() + timeout;
  size_t registered = 0, started = 0;
  std::vector<bool> got(nodes.size());
  while (started < nodes.size()) {
    if (Clock::now() > deadline)
      return Status::Unavailable(fmt::format("{} of {} nodes registered, {} got the job in {} ms",
                                             registered, nodes.size(), started, timeout.count()));
    PollChannels(channels.data(), channels.size(), milliseconds(10));
    for (size_t i = 0; i < nodes.size(); ++i) {
      SimNode& n = nodes[i];
      if (!got[i] && n.channel->HasReply(ids[i])) {
        PST_ASSIGN_OR_RETURN(InMessage in, n.channel->Await(ids[i], milliseconds(0)));
        auto resp = in.envelope().getBody().getRegisterResponse();
        PST_RETURN_IF_ERROR(FromRpcStatus(resp.getStatus()));
        n.rank = resp.getRank();
        n.heartbeat_interval = milliseconds(resp.getHeartbeatIntervalMs());
        got[i] = true;
        ++registered;
      }
      InMessage un;
      while (!n.started && n.channel->PopUnsolicited(&un))
        if (un.envelope().getBody().isJobStart()) {
          n.started = true;
          ++started;
        }
    }
  }
  return Status::OK();
}

struct PhaseResult {
  double cpu_share = 0;        // scheduler CPU seconds per wall second
  double heartbeats_per_s = 0;    // sent
  double answers_per_s = 0;       // heartbeat answers received
  milliseconds interval{0};       // the heartbeat interval the nodes were told last
  double leases_per_s = 0;
  std::vector<double> lease_rtt;  // seconds
};

Status SendHeartbeat(SimNode& n) {
  OutMessage msg;
  auto hb = msg.envelope().initBody().initHeartbeatRequest();
  hb.setRole(n.role);
  hb.setRank(n.rank);
  hb.setClock(n.clock);
  hb.setSamples(n.samples);
  PST_ASSIGN_OR_RETURN(n.heartbeat_id, n.channel->Send(msg));
  return Status::OK();
}

Status SendLeaseRequest(SimNode& n, uint64_t num_samples) {
  OutMessage msg;
  auto req = msg.envelope().initBody().initShardRequest();
  req.setRank(n.rank);
  req.setClock(n.clock);
  req.setNumSamples(num_samples);
  if (n.has_lease) {
    req.setHasCompleted(true);
    req.setCompletedEpoch(n.epoch);
    req.setCompletedShard(n.shard);
    req.setCompletedSamples(n.lease_samples);
    req.setCompletedLossSum(0.5 * static_cast<double>(n.lease_samples));
  }
  n.lease_sent = Clock::now();
  PST_ASSIGN_OR_RETURN(n.lease_id, n.channel->Send(msg));
  return Status::OK();
}

// Handles a lease answer: the lease is "trained" at once and reported with the
// next request; an evaluation order is answered with a report right away.
Status OnLeaseAnswer(SimNode& n, const InMessage& in, const SchedulerLoadConfig& config,
                     uint32_t batch_size) {
  auto resp = in.envelope().getBody().getShardResponse();
  PST_RETURN_IF_ERROR(FromRpcStatus(resp.getStatus()));
  n.has_lease = resp.getKind() == proto::ShardReplyKind::LEASE;
  if (n.has_lease) {
    n.epoch = resp.getEpoch();
    n.shard = resp.getShard();
    n.lease_samples = resp.getSampleEnd() - resp.getSampleBegin();
    n.samples += n.lease_samples;
    n.clock += (n.lease_samples + batch_size - 1) / batch_size;
  }
  n.done = resp.getKind() == proto::ShardReplyKind::DONE;
  n.next_lease = Clock::now() + config.lease_interval;
  if (resp.getEvaluate()) {
    OutMessage msg;
    auto r = msg.envelope().initBody().initEvalReport();
    r.setRank(n.rank);
    r.setEpoch(resp.getEvalEpoch());
    r.setVersion(resp.getEvalVersion());
    r.setCorrect(1);
    r.setTotal(1);
    PST_ASSIGN_OR_RETURN(uint64_t id, n.channel->Send(msg));
    n.channel->Discard(id);
  }
  return Status::OK();
}

// Runs every node's heartbeats (and, with `leases`, the workers' lease loop) for
// config.window, measuring the scheduler's CPU over exactly that window.
StatusOr<PhaseResult> RunPhase(std::vector<SimNode>& nodes, bool leases, pid_t scheduler,
                               const SchedulerLoadConfig& config, uint64_t num_samples,
                               uint32_t batch_size) {
  std::vector<Channel*> channels = Channels(nodes);
  PhaseResult r;
  uint64_t heartbeats = 0, answers = 0;
  const auto t0 = Clock::now();
  // Spread the nodes' heartbeats and first requests over one interval.
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].next_heartbeat = t0 + nodes[i].heartbeat_interval * i / nodes.size();
    nodes[i].next_lease = t0 + config.lease_interval * i / nodes.size();
  }
  PST_ASSIGN_OR_RETURN(const double cpu0, CpuSeconds(scheduler));
  const auto end = t0 + config.window;
  for (auto now = t0; now < end; now = Clock::now()) {
    for (SimNode& n : nodes) {
      if (now >= n.next_heartbeat) {
        // As common/heartbeat.h does: one per interval, answered or not (the
        // scheduler answers a worker only when it has news or now and then).
        if (n.heartbeat_id != 0) n.channel->Discard(n.heartbeat_id);
        PST_RETURN_IF_ERROR(SendHeartbeat(n));
        n.next_heartbeat += n.heartbeat_interval;
        ++heartbeats;
      }
      if (leases && n.role == proto::Role::WORKER && !n.done && n.lease_id == 0 && now >= n.next_lease)
        PST_RETURN_IF_ERROR(SendLeaseRequest(n, num_samples));
    }
    PollChannels(channels.data(), channels.size(), milliseconds(1));
    for (SimNode& n : nodes) {
      if (n.heartbeat_id != 0 && n.channel->HasReply(n.heartbeat_id)) {
        PST_ASSIGN_OR_RETURN(InMessage in, n.channel->Await(n.heartbeat_id, milliseconds(0)));
        auto resp = in.envelope().getBody().getHeartbeatResponse();
        PST_RETURN_IF_ERROR(FromRpcStatus(resp.getStatus()));
        if (resp.getHeartbeatIntervalMs() > 0) n.heartbeat_interval = milliseconds(resp.getHeartbeatIntervalMs());
        n.heartbeat_id = 0;
        ++answers;
      }
      if (n.lease_id != 0 && n.channel->HasReply(n.lease_id)) {
        r.lease_rtt.push_back(std::chrono::duration<double>(Clock::now() - n.lease_sent).count());
        PST_ASSIGN_OR_RETURN(InMessage in, n.channel->Await(n.lease_id, milliseconds(0)));
        n.lease_id = 0;
        PST_RETURN_IF_ERROR(OnLeaseAnswer(n, in, config, batch_size));
      }
      InMessage drop;
      while (n.channel->PopUnsolicited(&drop)) {
      }
    }
  }
  PST_ASSIGN_OR_RETURN(const double cpu1, CpuSeconds(scheduler));
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  r.cpu_share = (cpu1 - cpu0) / wall;
  r.heartbeats_per_s = heartbeats / wall;
  r.answers_per_s = answers / wall;
  r.leases_per_s = r.lease_rtt.size() / wall;
  r.interval = nodes.back().heartbeat_interval;
  return r;
}

// The scheduler's CPU share while no node sends anything for `window`: what
// its loop costs by itself with every node registered.
StatusOr<double> IdleShare(pid_t scheduler, milliseconds window) {
  PST_ASSIGN_OR_RETURN(const double cpu0, CpuSeconds(scheduler));
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(window);
  PST_ASSIGN_OR_RETURN(const double cpu1, CpuSeconds(scheduler));
  return (cpu1 - cpu0) / std::chrono::duration<double>(Clock::now() - t0).count();
}

// One pstrain-scheduler process and the simulated nodes, registered and started.
struct LoadCluster {
  explicit LoadCluster(ChildProcess p) : scheduler(std::move(p)) {}
  ChildProcess scheduler;
  std::unique_ptr<zmq::context_t> ctx;  // outlives the nodes' sockets
  std::vector<SimNode> nodes;
  double register_seconds = 0;
};

// Starts a scheduler whose job has config.workers workers and 1 PS, asking
// for at most `heartbeat_budget` heartbeats/s (0: always config.heartbeat),
// and registers every simulated node.
StatusOr<std::unique_ptr<LoadCluster>> StartLoadCluster(const SchedulerLoadConfig& config,
                                                        const std::string& dir, uint32_t heartbeat_budget,
                                                        uint32_t batch_size, uint32_t batches_per_shard) {
  std::ofstream(dir + "/job.toml") << fmt::format(
      "[train]\nepochs = 2\nbatch_size = {}\nbatches_per_shard = {}\nconsistency = \"asp\"\n"
      "[cluster]\nservers = 1\nworkers = {}\n[checkpoint]\nevery_steps = 0\n"
      "[network]\nheartbeat_ms = {}\nheartbeat_timeout_ms = 10000\nmax_heartbeats_per_second = {}\n"
      "max_clients = {}\n",
      batch_size, batches_per_shard, config.workers, config.heartbeat.count(), heartbeat_budget,
      config.workers + 64);  // one connection per simulated node
  PST_ASSIGN_OR_RETURN(
      ChildProcess process,
      ChildProcess::Start(config.bin_dir + "/pstrain-scheduler",
                          {"--job", dir + "/job.toml", "--bind", "127.0.0.1", "--port", "0",
                           "--endpoint-file", dir + "/endpoint",
                           "--form-timeout-ms", "120000", "--log-level", "warn"},
                          dir + "/scheduler.log"));
  auto c = std::make_unique<LoadCluster>(std::move(process));
  std::string endpoint;
  for (int i = 0; i < 200 && endpoint.empty(); ++i) {
    std::ifstream(dir + "/endpoint") >> endpoint;
    if (endpoint.empty()) std::this_thread::sleep_for(milliseconds(50));
  }
  if (endpoint.empty())
    return Status::Unavailable("the scheduler did not start: " + c->scheduler.LastLogLine());
  c->ctx = std::make_unique<zmq::context_t>(1);
  c->ctx->set(zmq::ctxopt::max_sockets, static_cast<int>(config.workers) + 64);
  c->nodes.resize(config.workers + 1);
  c->nodes[0].role = proto::Role::SERVER;
  for (SimNode& n : c->nodes) {
    PST_ASSIGN_OR_RETURN(n.channel, Channel::Connect(*c->ctx, endpoint));
  }
  const auto t_reg = Clock::now();
  Status s = RegisterAll(c->nodes, milliseconds(60000));
  if (!s.ok()) return s.WithContext("registering (scheduler log: " + c->scheduler.LastLogLine() + ")");
  c->register_seconds = std::chrono::duration<double>(Clock::now() - t_reg).count();
  Progress(fmt::format("scheduler: {} nodes registered and started in {:.2f} s (heartbeat budget {})",
                       c->nodes.size(), c->register_seconds,
                       heartbeat_budget ? std::to_string(heartbeat_budget) + "/s" : "off"));
  return c;
}

}  // namespace

Status RunSchedulerLoadSuite(const SchedulerLoadConfig& config, Report& report) {
  Progress(fmt::format("scheduler: 1 scheduler process, {} simulated workers + 1 PS", config.workers));
  const uint32_t batch_size = 64, batches_per_shard = 2;
  // Enough shards that no epoch ends within the phases: 50 leases per worker.
  const uint64_t num_samples = uint64_t{batch_size} * batches_per_shard * config.workers * 50;
  // First at the fixed interval (what one heartbeat costs), then with the
  // job default budget (what the scheduler costs as shipped).
  PST_ASSIGN_OR_RETURN(const std::string fixed_dir, MakeTempDir("scheduler-fixed"));
  PST_ASSIGN_OR_RETURN(auto fixed, StartLoadCluster(config, fixed_dir, 0, batch_size, batches_per_shard));
  PST_ASSIGN_OR_RETURN(PhaseResult hb_fixed,
                       RunPhase(fixed->nodes, false, fixed->scheduler.pid(), config, num_samples, batch_size));
  fixed->scheduler.Stop(milliseconds(3000));
  fixed.reset();
  std::filesystem::remove_all(fixed_dir);  // kept (with the scheduler's log) only when a phase failed
  Progress("scheduler: fixed-interval heartbeats measured; now with the default heartbeat budget");
  PST_ASSIGN_OR_RETURN(const std::string dir, MakeTempDir("scheduler"));
  PST_ASSIGN_OR_RETURN(auto cluster, StartLoadCluster(config, dir, JobSpec{}.network.max_heartbeats_per_second,
                                                      batch_size, batches_per_shard));
  std::vector<SimNode>& nodes = cluster->nodes;
  ChildProcess& scheduler = cluster->scheduler;
  const double reg_s = cluster->register_seconds;
  // Shorter than 3 heartbeat intervals, so no node turns suspect meanwhile.
  PST_ASSIGN_OR_RETURN(const double idle_share, IdleShare(scheduler.pid(), config.window / 2));
  PST_ASSIGN_OR_RETURN(PhaseResult hb, RunPhase(nodes, false, scheduler.pid(), config, num_samples, batch_size));
  Progress("scheduler: heartbeats only measured; now with leases");
  PST_ASSIGN_OR_RETURN(PhaseResult lease, RunPhase(nodes, true, scheduler.pid(), config, num_samples, batch_size));
  if (lease.lease_rtt.empty()) return Status::Internal("no lease was answered");
  if (scheduler.Poll()) return Status::Internal("the scheduler exited: " + scheduler.LastLogLine());
  scheduler.Stop(milliseconds(3000));
  std::filesystem::remove_all(dir);
  const LatencyStats rtt = Summarize(lease.lease_rtt);

  std::cout << fmt::format(
      "\nScheduler under load: {} simulated workers + 1 PS, job heartbeat_ms {}; each worker asks for a lease {} ms "
      "after its last answer; {} s per phase\n",
      config.workers, config.heartbeat.count(), config.lease_interval.count(), config.window.count() / 1000);
  // CPU per request: less sensitive to the machine's load than the share.
  const auto per_heartbeat_us = [](const PhaseResult& p) {
    return 1e6 * p.cpu_share / std::max(1.0, p.heartbeats_per_s);
  };
  const double hb_us = per_heartbeat_us(hb), hb_fixed_us = per_heartbeat_us(hb_fixed);
  const double lease_us =
      1e6 * (lease.cpu_share - hb.cpu_share) / std::max(1.0, lease.leases_per_s);
  Table t({"phase", "heartbeat interval", "scheduler CPU (of one core)", "heartbeats/s", "answered/s", "leases/s",
           "CPU per request", "lease p50 ms", "lease p99 ms"});
  t.AddRow({"heartbeats only, budget off", std::to_string(hb_fixed.interval.count()) + " ms",
            Fixed(100 * hb_fixed.cpu_share, 1) + "%", Fixed(hb_fixed.heartbeats_per_s, 0),
            Fixed(hb_fixed.answers_per_s, 0), "-", Fixed(hb_fixed_us, 1) + " us/heartbeat", "-", "-"});
  t.AddRow({"idle: registered, no messages", std::to_string(hb.interval.count()) + " ms",
            Fixed(100 * idle_share, 1) + "%", "0", "0", "-", "-", "-", "-"});
  t.AddRow({"heartbeats only (default)", std::to_string(hb.interval.count()) + " ms",
            Fixed(100 * hb.cpu_share, 1) + "%", Fixed(hb.heartbeats_per_s, 0), Fixed(hb.answers_per_s, 0), "-",
            Fixed(hb_us, 1) + " us/heartbeat", "-", "-"});
  t.AddRow({"heartbeats + leases (default)", std::to_string(lease.interval.count()) + " ms",
            Fixed(100 * lease.cpu_share, 1) + "%", Fixed(lease.heartbeats_per_s, 0),
            Fixed(lease.answers_per_s, 0), Fixed(lease.leases_per_s, 0), Fixed(lease_us, 1) + " us/lease",
            Fixed(rtt.p50_ms, 2), Fixed(rtt.p99_ms, 2)});
  t.Print();
  report.json["scheduler"] = {{"workers", config.workers},
                              {"heartbeat_ms", config.heartbeat.count()},
                              {"lease_interval_ms", config.lease_interval.count()},
                              {"register_seconds", reg_s},
                              {"idle_cpu_share", idle_share},
                              {"heartbeat_cpu_share", hb.cpu_share},
                              {"heartbeats_per_second", hb.heartbeats_per_s},
                              {"heartbeat_answers_per_second", hb.answers_per_s},
                              {"heartbeat_cpu_us", hb_us},
                              {"heartbeat_interval_ms", hb.interval.count()},
                              {"fixed_interval_cpu_share", hb_fixed.cpu_share},
                              {"fixed_interval_heartbeats_per_second", hb_fixed.heartbeats_per_s},
                              {"fixed_interval_heartbeat_cpu_us", hb_fixed_us},
                              {"lease_cpu_us", lease_us},
                              {"lease_phase_cpu_share", lease.cpu_share},
                              {"leases_per_second", lease.leases_per_s},
                              {"lease_p50_ms", rtt.p50_ms},
                              {"lease_p99_ms", rtt.p99_ms}};
  report.summary.push_back(fmt::format(
      "scheduler, {} workers: {:.1f}% of a core for heartbeats at the default budget ({} ms interval; goal < 5%; "
      "{:.1f}% idle), "
      "{:.1f}% with the budget off ({} ms; {:.1f} us each), lease p50 {:.2f} ms p99 {:.2f} ms "
      "(goal < 5 ms) at {:.0f} leases/s ({:.1f}% CPU)",
      config.workers, 100 * hb.cpu_share, hb.interval.count(), 100 * idle_share, 100 * hb_fixed.cpu_share, hb_fixed.interval.count(),
      hb_fixed_us, rtt.p50_ms, rtt.p99_ms, lease.leases_per_s, 100 * lease.cpu_share));
  return Status::OK();
}

}  // namespace pst::bench
