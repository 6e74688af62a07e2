#include "bench/pushpull_suite.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <zmq.hpp>

#include "common/channel.h"
#include "common/cluster_keys.h"
#include "common/heartbeat.h"
#include "common/job_spec.h"
#include "common/model_layout.h"
#include "common/registration.h"
#include "common/wire.h"
#include "ps/server.h"
#include "scheduler/scheduler.h"
#include "worker/ps_client.h"

namespace pst::bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Bounds on every wait, far above what a healthy run needs.
constexpr milliseconds kRequestTimeout{10000};
constexpr milliseconds kFormTimeout{30000};
constexpr milliseconds kStopTimeout{10000};

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// One pst::Scheduler and one pst::Server, each running on a thread of its own
// with its own ZeroMQ context and bound to 127.0.0.1 port 0, and the calling
// thread registered as the job's only worker (with heartbeats, as a real
// worker). Used from one thread.
class MiniCluster {
 public:
  // With `curve`, every socket uses CurveZMQ with those keys.
  static StatusOr<std::unique_ptr<MiniCluster>> Start(const JobSpec& job,
                                                      std::shared_ptr<const ClusterKeys> curve);
  ~MiniCluster();
  MiniCluster(const MiniCluster&) = delete;
  MiniCluster& operator=(const MiniCluster&) = delete;

  // Leaves the job, stops the PS, then the scheduler, and checks how each
  // Run() ended: the PS must return OK, the scheduler kCancelled. A role that
  // does not return within kStopTimeout is reported and its objects leaked.
  Status Stop();

  zmq::context_t& worker_ctx() { return *worker_ctx_; }
  const JoinedJob& joined() const { return joined_; }
  const ClusterKeys* curve() const { return curve_.get(); }

 private:
  MiniCluster() = default;

  std::shared_ptr<const ClusterKeys> curve_;
  std::unique_ptr<zmq::context_t> sched_ctx_ = std::make_unique<zmq::context_t>(1);
  std::unique_ptr<zmq::context_t> ps_ctx_ = std::make_unique<zmq::context_t>(1);
  std::unique_ptr<zmq::context_t> worker_ctx_ = std::make_unique<zmq::context_t>(1);
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Server> server_;
  RoleThread sched_thread_;
  RoleThread ps_thread_;
  std::unique_ptr<Channel> sched_channel_;
  std::unique_ptr<Heartbeater> heartbeat_;
  JoinedJob joined_;
  bool stopped_ = false;
  bool leak_ = false;
};

StatusOr<std::unique_ptr<MiniCluster>> MiniCluster::Start(const JobSpec& job,
                                                          std::shared_ptr<const ClusterKeys> curve) {
  std::unique_ptr<MiniCluster> c(new MiniCluster());
  c->curve_ = curve;
  SchedulerOptions so;
  so.job = job;
  so.curve = curve;
  so.form_timeout = kFormTimeout;
  PST_ASSIGN_OR_RETURN(c->scheduler_, Scheduler::Create(*c->sched_ctx_, so));
  Scheduler* scheduler = c->scheduler_.get();
  c->sched_thread_.Start([scheduler] { return scheduler->Run(); });

  ServerOptions po;
  po.scheduler_endpoint = c->scheduler_->endpoint();
  po.form_timeout = kFormTimeout;
  po.curve = curve;
  PST_ASSIGN_OR_RETURN(c->server_, Server::Create(*c->ps_ctx_, po));
  Server* server = c->server_.get();
  c->ps_thread_.Start([server] { return server->Run(); });

  const std::string endpoint = c->scheduler_->endpoint();
  PST_ASSIGN_OR_RETURN(c->sched_channel_, Channel::Connect(*c->worker_ctx_, endpoint, {}, curve.get()));
  JoinOptions join;
  join.role = proto::Role::WORKER;
  join.form_timeout = kFormTimeout;
  Status hb_status;
  MiniCluster* raw = c.get();
  auto joined = JoinJob(*c->sched_channel_, join, nullptr, [&](const JoinedJob& j) {
    HeartbeaterOptions ho;
    ho.scheduler_endpoint = endpoint;
    ho.curve = raw->curve_;
    ho.interval = j.heartbeat_interval;
    const uint32_t rank = j.rank;
    auto hb = Heartbeater::Start(*raw->worker_ctx_, ho, [rank](proto::HeartbeatRequest::Builder b) {
      b.setRole(proto::Role::WORKER);
      b.setRank(rank);
    });
    if (hb.ok())
      raw->heartbeat_ = std::move(hb).value();
    else
      hb_status = hb.status();
  });
  if (!joined.ok()) return joined.status().WithContext("bench worker joining the job");
  PST_RETURN_IF_ERROR(hb_status);
  c->joined_ = std::move(joined).value();
  if (c->joined_.servers.size() != 1)
    return Status::Internal("expected 1 PS, the scheduler announced " +
                            std::to_string(c->joined_.servers.size()));
  return c;
}

Status MiniCluster::Stop() {
  if (stopped_) return Status::OK();
  stopped_ = true;
  heartbeat_.reset();
  if (sched_channel_) {
    OutMessage leave;
    auto lr = leave.envelope().getBody().initLeaveRequest();
    lr.setRole(proto::Role::WORKER);
    lr.setRank(joined_.rank);
    auto bye = sched_channel_->Call(leave, milliseconds(1000));
    bye.status().IgnoreError();  // best effort: only tidies the scheduler's node table
    sched_channel_.reset();
  }
  Status result;
  if (server_ && ps_thread_.started()) {
    server_->Shutdown();
    Status s = ps_thread_.Join(kStopTimeout);
    if (!ps_thread_.finished()) leak_ = true;
    if (!s.ok()) result = s.WithContext("in-process PS: Run()");
  }
  if (scheduler_ && sched_thread_.started()) {
    scheduler_->Shutdown();
    Status s = sched_thread_.Join(kStopTimeout);
    if (!sched_thread_.finished()) leak_ = true;
    if (s.code() != StatusCode::kCancelled && result.ok())
      result = Status(s.ok() ? StatusCode::kInternal : s.code(),
                      "in-process scheduler: Run() returned " + s.ToString() +
                          " after Shutdown(), expected cancelled");
  }
  return result;
}

MiniCluster::~MiniCluster() {
  // Shuts down in dependency order; errors were reported by an explicit Stop().
  Stop().IgnoreError();
  if (leak_) {
    // A role thread may still use these: keep them alive until the process exits.
    (void)server_.release();
    (void)scheduler_.release();
    (void)ps_ctx_.release();
    (void)sched_ctx_.release();
  }
  server_.reset();
  scheduler_.reset();
}

struct Timing {
  std::vector<double> round_trip;  // push -> apply -> pull, seconds
  std::vector<double> push;        // split mode: push until acknowledged (applied)
  std::vector<double> pull;        // split mode: pull of the already-applied version
};

// Runs warmup + iters round trips at consecutive clocks: push every block of
// the gradient (BeginPush, GradReady of all keys, EndPush), each push asking
// for its block at version clock + 1 as training does (push-and-pull), and wait
// for those answers. In split mode the pushes are plain and acknowledged
// before a separate pull, so push and pull are timed apart. Checks that every
// pull returns a model that changed.
// `pull` is the last pull into params (none at first), updated here.
Status RunRoundTrips(PsClient& client, uint32_t rank, uint64_t& clock,
                     const std::shared_ptr<std::vector<float>>& grad, std::vector<float>& params,
                     PullHandle& pull, uint64_t warmup, uint64_t iters, bool split, Timing* t) {
  // The values pulled: params itself, or a view into the answer (pull views).
  auto last_value = [&] {
    const float* values = client.Values(pull);
    return (values ? values : params.data())[params.size() - 1];
  };
  float last = last_value();
  const KeyRange all{0, grad->size()};
  for (uint64_t i = 0; i < warmup + iters; ++i) {
    const auto t0 = Clock::now();
    // The pull for clock + 1 at version clock + 1, as training asks for it.
    const PullTarget next{params.data(), clock + 1, clock + 1};
    PushSpec push;
    push.rank = rank;
    push.clock = clock;
    push.samples = 1;
    push.grad = grad->data();
    push.owner = grad;
    if (!split) push.then_pull = next;
    client.BeginPush(std::move(push));
    PST_RETURN_IF_ERROR(client.GradReady(all));
    PST_RETURN_IF_ERROR(client.EndPush());
    double push_s = 0;
    if (split) {
      PST_RETURN_IF_ERROR(client.WaitPushes(kRequestTimeout, nullptr));
      push_s = Since(t0);
    }
    const auto t1 = Clock::now();
    PST_ASSIGN_OR_RETURN(pull, client.EnsurePull(next));
    PST_ASSIGN_OR_RETURN(uint64_t version, client.WaitAll(pull, kRequestTimeout, nullptr));
    const double pull_s = Since(t1);
    PST_RETURN_IF_ERROR(client.WaitPushes(kRequestTimeout, nullptr));
    const double total_s = Since(t0);
    if (version < clock + 1)
      return Status::Internal(
          fmt::format("pull for version {} answered with version {}", clock + 1, version));
    if (last_value() == last)
      return Status::Internal(fmt::format(
          "pull at version {} returned an unchanged last parameter: update not applied?", version));
    last = last_value();
    ++clock;
    if (i < warmup) continue;
    t->round_trip.push_back(total_s);
    if (split) {
      t->push.push_back(push_s);
      t->pull.push_back(pull_s);
    }
  }
  return Status::OK();
}

// Round trips of `bytes`, cut into messages of at most `frame_bytes`, through
// a bare ZeroMQ DEALER -> ROUTER echo over loopback TCP: the ROUTER thread
// sends each received frame straight back (zero-copy), the DEALER sends from
// its buffer without copying. Both sockets
// get pstrain's socket options (ConfigureSocket). Seconds per round trip.
StatusOr<std::vector<double>> BareZmqEcho(uint64_t bytes, uint64_t frame_bytes, uint64_t warmup,
                                          uint64_t iters) {
  auto srv_ctx = std::make_unique<zmq::context_t>(1);
  auto cli_ctx = std::make_unique<zmq::context_t>(1);
  std::unique_ptr<zmq::socket_t> router;
  std::string endpoint;
  try {
    router = std::make_unique<zmq::socket_t>(*srv_ctx, zmq::socket_type::router);
    PST_RETURN_IF_ERROR(ConfigureSocket(*router));
    router->bind("tcp://127.0.0.1:*");
    endpoint = router->get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable(std::string("bare zmq: cannot bind the ROUTER: ") + e.what());
  }
  auto stop = std::make_shared<std::atomic<bool>>(false);
  RoleThread echo;
  zmq::socket_t* r = router.get();
  echo.Start([r, stop]() -> Status {
    try {
      while (!*stop) {
        zmq::pollitem_t item{static_cast<void*>(*r), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, milliseconds(100));
        if (!(item.revents & ZMQ_POLLIN)) continue;
        zmq::message_t id, payload;
        if (!r->recv(id, zmq::recv_flags::dontwait)) continue;
        if (!id.more() || !r->recv(payload, zmq::recv_flags::none))
          return Status::Internal("bare zmq echo: expected identity + payload frames");
        if (!r->send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait) ||
            !r->send(payload, zmq::send_flags::dontwait))
          return Status::Internal("bare zmq echo: reply could not be queued");
      }
    } catch (const zmq::error_t& e) {
      return Status::Internal(std::string("bare zmq echo: ") + e.what());
    }
    return Status::OK();
  });

  std::vector<double> times;
  Status result;
  {
    std::vector<char> buf(bytes, 1);
    try {
      zmq::socket_t dealer(*cli_ctx, zmq::socket_type::dealer);
      result = ConfigureSocket(dealer);
      if (result.ok()) dealer.connect(endpoint);
      for (uint64_t i = 0; result.ok() && i < warmup + iters; ++i) {
        const auto t0 = Clock::now();
        // Every frame goes out first, then every echo is taken (pipelined, as
        // PsClient sends all blocks before waiting).
        for (uint64_t off = 0; off < bytes; off += frame_bytes) {
          const uint64_t len = std::min(frame_bytes, bytes - off);
          zmq::message_t out(buf.data() + off, len, nullptr, nullptr);  // no copy, no free
          if (!dealer.send(out, zmq::send_flags::none)) {
            result = Status::Internal("bare zmq: send failed");
            break;
          }
        }
        uint64_t received = 0;
        while (result.ok() && received < bytes) {
          zmq::pollitem_t item{static_cast<void*>(dealer), 0, ZMQ_POLLIN, 0};
          zmq::poll(&item, 1, kRequestTimeout);
          zmq::message_t in;
          if (!(item.revents & ZMQ_POLLIN) || !dealer.recv(in, zmq::recv_flags::dontwait)) {
            result = Status::DeadlineExceeded("bare zmq: no echo within 10 s");
            break;
          }
          received += in.size();
        }
        if (!result.ok()) break;
        const double s = Since(t0);
        if (received != bytes) {
          result = Status::Internal(
              fmt::format("bare zmq: echoes hold {} bytes, sent {}", received, bytes));
          break;
        }
        if (i >= warmup) times.push_back(s);
      }
    } catch (const zmq::error_t& e) {
      result = Status::Internal(std::string("bare zmq: ") + e.what());
    }
  }
  *stop = true;
  Status joined = echo.Join(kStopTimeout);
  if (!echo.finished()) {
    // The echo thread still uses these: keep them alive until the process exits.
    (void)router.release();
    (void)srv_ctx.release();
  }
  if (result.ok() && !joined.ok()) result = joined.WithContext("bare zmq echo thread");
  if (!result.ok()) return result;
  return times;
}

struct SizeCase {
  std::string label;
  std::vector<uint32_t> layers;
  bool default_optimizer;  // the job's Adam (as in training); else SGD with lr 1e-6
  uint64_t default_iters;
  uint64_t warmup;
};

// The largest block size the job accepts: one block per PS for any model here.
constexpr uint64_t kOneBlock = uint64_t{1} << 28;

std::string BlockLabel(uint64_t block_keys) {
  for (int b = 0; b < 64; ++b)
    if (block_keys == (uint64_t{1} << b)) return fmt::format("2^{}", b);
  return std::to_string(block_keys);
}

double Gbps(double bytes, double mean_ms) {
  return mean_ms > 0 ? bytes / (mean_ms * 1e-3) / 1e9 : 0;
}

nlohmann::json StatsJson(const LatencyStats& s, double bytes) {
  return {{"iters", s.n},       {"mean_ms", s.mean_ms},
          {"p50_ms", s.p50_ms}, {"p99_ms", s.p99_ms},
          {"min_ms", s.min_ms}, {"max_ms", s.max_ms},
          {"bytes", bytes},     {"gb_per_s", Gbps(bytes, s.mean_ms)}};
}

}  // namespace

Status RunPushPullSuite(const PushPullConfig& config, Report& report) {
  const std::vector<SizeCase> cases = {
      {"model", {784, 128, 10}, true, 200, 20},
      {"1M", {1000, 999}, false, 100, 5},
      {"10M", {10000, 999}, false, 20, 3},
  };
  const uint64_t kChunked = uint64_t{1} << 18;
  const uint64_t kDefaultBlock = BlockKeys(TrainSpec{});
  std::shared_ptr<const ClusterKeys> keys;
  if (config.secure) {
    PST_ASSIGN_OR_RETURN(ClusterKeys k, GenerateClusterKeys());
    keys = std::make_shared<const ClusterKeys>(std::move(k));
  }

  Table table({"size", "values", "transport", "block_keys", "blocks", "iters", "mean ms", "p50 ms",
               "p99 ms", "GB/s", "vs bare"});
  Table split_table({"size", "phase (one block)", "iters", "mean ms", "p50 ms", "p99 ms", "GB/s"});
  nlohmann::json rows = nlohmann::json::array();
  std::vector<Status> errors;

  for (const SizeCase& sc : cases) {
    JobSpec job;
    job.model.layer_sizes = sc.layers;
    if (!sc.default_optimizer) {
      job.optimizer.kind = OptimizerKind::kSgd;
      job.optimizer.learning_rate = 1e-6f;
    }
    job.num_servers = 1;
    job.num_workers = 1;
    PST_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::FromSpec(job.model));
    const uint64_t count = layout.total();
    const double rt_bytes = 2.0 * count * sizeof(float);
    const uint64_t iters = config.iters ? config.iters : sc.default_iters;
    std::string layers;
    for (uint32_t l : sc.layers) layers += (layers.empty() ? "" : "-") + std::to_string(l);
    const std::string optimizer = sc.default_optimizer ? "adam" : "sgd lr 1e-6";

    // Block sizes (job.train.block_keys: the unit of push, pull and update on
    // the PS): one block, then smaller ones down to the default.
    std::vector<uint64_t> block_settings = {kOneBlock};
    for (uint64_t b : {uint64_t{1} << 20, kChunked, uint64_t{1} << 16, uint64_t{1} << 14})
      if (count > b && b < block_settings.back()) block_settings.push_back(b);

    struct PsRow {
      uint64_t block_keys;
      bool curve;  // CurveZMQ on every socket
      Status status;  // a failed row is reported and the suite goes on
      LatencyStats stats;
    };
    std::vector<PsRow> ps_rows;
    Timing split;
    // One cluster per block size (the PS splits its range by the job's block_keys).
    auto measure = [&](uint64_t block_keys, PsRow& row) -> Status {
      job.train.block_keys = block_keys;
      PST_ASSIGN_OR_RETURN(auto cluster, MiniCluster::Start(job, row.curve ? keys : nullptr));
      const uint32_t rank = cluster->joined().rank;
      auto grad = std::make_shared<std::vector<float>>(count, 1.0f);
      std::vector<float> params(count, 0.0f);
      uint64_t clock = 0;
      Status s;
      {
        PST_ASSIGN_OR_RETURN(auto client,
                             PsClient::Connect(cluster->worker_ctx(), cluster->joined().servers,
                                               block_keys, 0, {}, cluster->curve()));
        client->set_pull_views(true);  // as a worker reads them: in place when one block
        Timing t;
        PullHandle pull;
        s = RunRoundTrips(*client, rank, clock, grad, params, pull, sc.warmup, iters, false, &t);
        if (s.ok()) row.stats = Summarize(t.round_trip);
        if (s.ok() && block_keys == kOneBlock && !row.curve) {
          Progress(
              fmt::format("pushpull {}: {} round trips timed in two halves (push until "
                          "acked, then pull)",
                          sc.label, iters));
          s = RunRoundTrips(*client, rank, clock, grad, params, pull, 0, iters, true, &split);
        }
      }
      Status stopped = cluster->Stop();
      return s.ok() ? stopped : s;
    };
    // With config.secure, the whole-model block and the default block size
    // again with CurveZMQ, right after their plain rows.
    std::vector<std::pair<uint64_t, bool>> row_settings;
    for (uint64_t block_keys : block_settings) {
      row_settings.push_back({block_keys, false});
      if (config.secure && (block_keys == kOneBlock || block_keys == kDefaultBlock))
        row_settings.push_back({block_keys, true});
    }
    for (const auto& [block_keys, curve] : row_settings) {
      const uint64_t blocks = (count + block_keys - 1) / block_keys;
      Progress(fmt::format(
          "pushpull {}: in-process scheduler + PS{}, layers {} = {} float32 values ({:.1f} MB per "
          "direction, {}), block_keys {} ({} block{}): {} warm-up + {} timed round trips",
          sc.label, curve ? " with CurveZMQ" : "", layers, FormatCount(count), count * 4 / 1e6,
          optimizer, BlockLabel(block_keys), blocks, blocks > 1 ? "s" : "", sc.warmup, iters));
      PsRow row{block_keys, curve, Status::OK(), {}};
      row.status = measure(block_keys, row)
                       .WithContext(fmt::format("pushpull {} block_keys {}", sc.label,
                                                BlockLabel(block_keys)));
      if (!row.status.ok()) {
        Progress("  FAILED: " + row.status.ToString());
        errors.push_back(row.status);
      }
      ps_rows.push_back(row);
    }

    Progress(fmt::format("pushpull {}: bare ZeroMQ echo, {} warm-up + {} round trips", sc.label,
                         sc.warmup, iters));
    auto bare_times = BareZmqEcho(count * sizeof(float), count * sizeof(float), sc.warmup, iters);
    LatencyStats bare;
    double bare_gbps = 0;
    nlohmann::json jrow = {{"size", sc.label},
                           {"layers", sc.layers},
                           {"values", count},
                           {"optimizer", optimizer},
                           {"pstrain", nlohmann::json::array()}};
    if (bare_times.ok()) {
      bare = Summarize(*bare_times);
      bare_gbps = Gbps(rt_bytes, bare.mean_ms);
      jrow["bare_zmq"] = StatsJson(bare, rt_bytes);
    } else {
      const Status s = bare_times.status().WithContext("pushpull " + sc.label + " bare zmq");
      Progress("  FAILED: " + s.ToString());
      errors.push_back(s);
      jrow["bare_zmq"] = {{"error", s.ToString()}};
    }
    auto ratio = [&](double gbps) { return bare_gbps > 0 ? Fixed(gbps / bare_gbps, 2) : "-"; };
    // The same bytes cut like the 2^18 blocks: the ceiling for pipelined messages.
    std::optional<LatencyStats> bare_cut;
    if (count > kChunked) {
      Progress(
          fmt::format("pushpull {}: bare ZeroMQ echo in frames of 2^18 floats, {} warm-up + "
                      "{} round trips",
                      sc.label, sc.warmup, iters));
      auto cut = BareZmqEcho(count * sizeof(float), kChunked * sizeof(float), sc.warmup, iters);
      if (cut.ok()) {
        bare_cut = Summarize(*cut);
        jrow["bare_zmq_frames_2^18"] = StatsJson(*bare_cut, rt_bytes);
      } else {
        const Status s = cut.status().WithContext("pushpull " + sc.label + " bare zmq 2^18");
        Progress("  FAILED: " + s.ToString());
        errors.push_back(s);
        jrow["bare_zmq_frames_2^18"] = {{"error", s.ToString()}};
      }
    }

    for (const PsRow& r : ps_rows) {
      const uint64_t blocks = (count + r.block_keys - 1) / r.block_keys;
      const std::string transport = r.curve ? "pstrain CURVE" : "pstrain";
      if (!r.status.ok()) {
        table.AddRow({sc.label, FormatCount(count), transport, BlockLabel(r.block_keys),
                      std::to_string(blocks), "FAILED", "-", "-", "-", "-", "-"});
        jrow["pstrain"].push_back(
            {{"block_keys", r.block_keys}, {"blocks", blocks}, {"curve", r.curve}, {"error", r.status.ToString()}});
        report.summary.push_back(fmt::format("pushpull {:>5} block_keys {}: FAILED ({})", sc.label,
                                             BlockLabel(r.block_keys), r.status.ToString()));
        continue;
      }
      const double gbps = Gbps(rt_bytes, r.stats.mean_ms);
      table.AddRow({sc.label, FormatCount(count), transport, BlockLabel(r.block_keys),
                    std::to_string(blocks), std::to_string(r.stats.n), Fixed(r.stats.mean_ms, 3),
                    Fixed(r.stats.p50_ms, 3), Fixed(r.stats.p99_ms, 3), Fixed(gbps, 2),
                    ratio(gbps)});
      nlohmann::json j = StatsJson(r.stats, rt_bytes);
      j["block_keys"] = r.block_keys;
      j["curve"] = r.curve;
      j["blocks"] = blocks;
      if (bare_gbps > 0) j["ratio_vs_bare"] = gbps / bare_gbps;
      jrow["pstrain"].push_back(j);
      if (r.curve) {
        // Against the plain row of the same block size, measured just before.
        for (const PsRow& plain : ps_rows)
          if (!plain.curve && plain.block_keys == r.block_keys && plain.status.ok()) {
            const double vs_plain = plain.stats.mean_ms / r.stats.mean_ms;
            j["ratio_vs_plain"] = vs_plain;
            report.summary.push_back(fmt::format(
                "pushpull {:>5} block_keys {}: CurveZMQ {:.2f} GB/s against plain {:.2f}: ratio {:.2f}",
                sc.label, BlockLabel(r.block_keys), gbps, Gbps(rt_bytes, plain.stats.mean_ms), vs_plain));
          }
      } else if (r.block_keys == kOneBlock)
        report.summary.push_back(fmt::format(
            "pushpull {:>5} ({} values), 1 block: {:.2f} GB/s, p50 {:.3f} ms (bare zmq {:.2f} "
            "GB/s, p50 {:.3f} ms; ratio {})",
            sc.label, FormatCount(count), gbps, r.stats.p50_ms, bare_gbps, bare.p50_ms,
            ratio(gbps)));
      else if (r.block_keys == kChunked && bare_cut)
        report.summary.push_back(fmt::format(
            "pushpull {:>5} block_keys {}: {:.2f} GB/s, p50 {:.3f} ms (ratio {}; bare zmq in "
            "2^18 frames {:.2f} GB/s)",
            sc.label, BlockLabel(r.block_keys), gbps, r.stats.p50_ms, ratio(gbps),
            Gbps(rt_bytes, bare_cut->mean_ms)));
      else if (r.block_keys == kChunked || r.block_keys == kDefaultBlock)
        report.summary.push_back(
            fmt::format("pushpull {:>5} block_keys {}: {:.2f} GB/s, p50 {:.3f} ms (ratio {})",
                        sc.label, BlockLabel(r.block_keys), gbps, r.stats.p50_ms, ratio(gbps)));
    }
    if (bare_times.ok())
      table.AddRow({sc.label, FormatCount(count), "bare zmq", "-", "1", std::to_string(bare.n),
                    Fixed(bare.mean_ms, 3), Fixed(bare.p50_ms, 3), Fixed(bare.p99_ms, 3),
                    Fixed(bare_gbps, 2), "1.00"});
    else
      table.AddRow(
          {sc.label, FormatCount(count), "bare zmq", "-", "1", "FAILED", "-", "-", "-", "-", "-"});
    if (bare_cut) {
      const double gbps = Gbps(rt_bytes, bare_cut->mean_ms);
      table.AddRow({sc.label, FormatCount(count), "bare zmq", "2^18",
                    std::to_string((count + kChunked - 1) / kChunked), std::to_string(bare_cut->n),
                    Fixed(bare_cut->mean_ms, 3), Fixed(bare_cut->p50_ms, 3),
                    Fixed(bare_cut->p99_ms, 3), Fixed(gbps, 2), ratio(gbps)});
    }

    if (!split.push.empty()) {
      const double one_way = count * sizeof(float);
      const LatencyStats push = Summarize(split.push), pull = Summarize(split.pull);
      split_table.AddRow({sc.label, "push -> apply -> ack", std::to_string(push.n),
                          Fixed(push.mean_ms, 3), Fixed(push.p50_ms, 3), Fixed(push.p99_ms, 3),
                          Fixed(Gbps(one_way, push.mean_ms), 2)});
      split_table.AddRow({sc.label, "pull (version ready)", std::to_string(pull.n),
                          Fixed(pull.mean_ms, 3), Fixed(pull.p50_ms, 3), Fixed(pull.p99_ms, 3),
                          Fixed(Gbps(one_way, pull.mean_ms), 2)});
      jrow["split"] = {{"push_apply_ack", StatsJson(push, one_way)},
                       {"pull_ready", StatsJson(pull, one_way)}};
    }
    rows.push_back(jrow);
  }

  std::cout << "\n== pushpull: dense push + pull round trip, 1 worker <-> 1 PS, loopback TCP ==\n";
  table.Print();
  std::cout
      << "  One round trip = push of every block (clock c), each asking for its block at version\n"
         "  c+1 (push-and-pull, as training does): the PS applies a block's update, then answers\n"
         "  the push with its new values. GB/s = 2 * values * 4 bytes /\n"
         "  mean round trip. block_keys (job.train.block_keys) is the unit of push, pull and\n"
         "  update on the PS: one message per block each way; 2^28 = the whole model in one.\n"
         "  'model' is the default 784-128-10 network with Adam (what one training step moves);\n"
         "  1M/10M use SGD. bare zmq = DEALER->ROUTER->DEALER echo of the same bytes, no copies,\n"
         "  no decoding: in one frame ('vs bare' is relative to that row), or cut into 2^18-float\n"
         "  frames all sent before the echoes are read (the ceiling for the 2^18 blocks). p99\n"
         "  with fewer than 100 iterations is the maximum.\n";
  std::cout << "\n  Same round trip in two halves (waits for the push ack before pulling);\n"
               "  GB/s here = values * 4 bytes / mean time of that half:\n";
  split_table.Print();
  std::cout << std::flush;
  report.json["pushpull"] = rows;
  if (errors.empty()) return Status::OK();
  if (errors.size() == 1) return errors.front();
  return Status(
      errors.front().code(),
      fmt::format("{} (and {} more failed row{}, listed in the summary)", errors.front().message(),
                  errors.size() - 1, errors.size() > 2 ? "s" : ""));
}

}  // namespace pst::bench
