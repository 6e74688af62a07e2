// Integration test: while a real local cluster trains, a hostile client opens
// a thousand TCP connections to the PS and to the scheduler, then, over
// ZeroMQ, more clients than a server answers, more waiting pulls than one
// client may have, too many ids, frames over the limit (a little, and far)
// and junk. Every request over a limit gets a kResourceExhausted reply that
// names the limit, the refusals show on /metrics per server and limit, the
// servers' memory stays bounded, and the model ends bit-identical to a clean
// run (BSP with one worker is deterministic).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "cli/status_command.h"
#include "common/wire.h"
#include "tests/integration/harness.h"
#include "tests/integration/raw_peer.h"

namespace pst {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::MakeTempDir;
using testing::RawPeer;
using testing::ReadFile;
using testing::RunPstrain;

constexpr int kMaxClients = 24;
constexpr int kMaxInFlight = 4;
constexpr uint64_t kMaxFrameBytes = 1 << 20;
constexpr int kMaxIds = 16;
constexpr int kTcpConnections = 1000;  // to each of the PS and the scheduler
constexpr int kZmqClients = 60;        // to each, beyond kMaxClients

std::string WriteJob(const std::string& dir) {
  const std::string path = dir + "/limits.toml";
  std::ofstream(path) << "[network]\n"
                      << "max_clients = " << kMaxClients << "\n"
                      << "max_in_flight_per_client = " << kMaxInFlight << "\n"
                      << "max_frame_bytes = " << kMaxFrameBytes << "\n"
                      << "max_ids_per_request = " << kMaxIds << "\n";
  return path;
}

// Long enough (3 epochs, 40 ms a step: at least 22 s) for the hostile
// client's work, which takes a few seconds.
std::vector<std::string> Launch(const std::string& run_dir, const std::string& job) {
  return {"pstrain", "launch", "--job", job, "--run-dir", run_dir, "--servers", "1",
          "--workers", "1", "--epochs", "3", "--train-limit", "12000", "--test-limit", "2000",
          "--step-delay-ms", "40", "--progress", "lines", "--timeout-s", "240"};
}

// Resident set of `pid` in KiB (0 if it is gone).
uint64_t RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  return 0;
}

// The one live process of the run whose command line names `binary`.
pid_t ProcessOf(const std::string& run_dir, const std::string& binary) {
  for (pid_t pid : testing::ProcessesMentioning(run_dir)) {
    std::string cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    if (cmdline.find(binary) != std::string::npos) return pid;
  }
  return 0;
}

// Opens plain TCP connections to host:port without waiting for them (the
// kernel completes them as the server accepts); every other one also tries
// to send junk bytes at once (sent if already connected). Returns their
// descriptors.
std::vector<int> OpenTcpFlood(const std::string& endpoint, int n) {
  std::smatch m;
  std::vector<int> fds;
  if (!std::regex_match(endpoint, m, std::regex("tcp://([0-9.]+):([0-9]+)"))) return fds;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(m[2])));
  inet_pton(AF_INET, std::string(m[1]).c_str(), &addr.sin_addr);
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) break;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
        errno != EINPROGRESS) {
      close(fd);
      break;
    }
    if (i % 2 == 0) {
      const char junk[] = "GET / HTTP/1.0\r\n\r\n not ZMTP at all";
      ssize_t sent = send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
      (void)sent;  // the server may already have closed it
    }
    fds.push_back(fd);
  }
  return fds;
}

// The sample of `metric` with exactly these labels in a Prometheus text body,
// or -1.
double MetricValue(const std::string& body, const std::string& metric, const std::string& labels) {
  const std::string head = metric + "{" + labels + "} ";
  const size_t at = body.find(head);
  return at == std::string::npos ? -1 : std::stod(body.substr(at + head.size()));
}

std::string RefusalLabels(const std::string& role, const std::string& limit) {
  return "role=\"" + role + "\",rank=\"0\",limit=\"" + limit + "\"";
}

struct Probe {
  std::string what;
  Status answer;
};

// What the hostile thread saw; checked on the test's thread.
struct HostileReport {
  std::string setup_error;
  int tcp_ps = 0, tcp_sched = 0;  // connections opened
  std::vector<Probe> probes;      // each must be refused by its limit
  std::map<std::string, int> refused_clients;  // server -> requests refused by max_clients
  std::map<std::string, int> admitted_clients;  // answered as any client is
  std::vector<Probe> crowd_other;                // answers that are neither
  uint64_t rss_before_kib[2] = {0, 0};  // PS, scheduler
  uint64_t rss_after_kib[2] = {0, 0};
  std::string metrics;  // /metrics once every refusal shows
};

void JobStatusRequest(OutMessage& msg) { msg.envelope().getBody().initJobStatusRequest(); }

// A pull that waits for a version the job never reaches.
void FuturePull(OutMessage& msg) {
  auto req = msg.envelope().getBody().initPullRequest();
  req.setKeyBegin(0);
  req.setKeyEnd(10);
  req.setMinVersion(1000);  // 3 epochs are 564 clocks; within max_clocks_ahead
  req.setRank(99);
}

void FloatPush(OutMessage& msg, size_t floats) {
  auto req = msg.envelope().getBody().initPushRequest();
  req.setRank(99);
  req.setKeyBegin(0);
  req.setKeyEnd(floats);
  std::vector<float> vals(floats, 1e30f);
  msg.AddFloatsCopy(vals.data(), vals.size());
}

void Hostile(const std::string& run_dir, HostileReport* out) {
  testing::WaitForWorkerLoaded(run_dir, 0);
  auto sched_endpoint = ResolveSchedulerEndpoint("", run_dir);
  std::smatch m;
  const std::string ps_log = ReadFile(run_dir + "/logs/ps-0.log");
  if (!sched_endpoint.ok() || !std::regex_search(ps_log, m, std::regex("serving (tcp://[0-9.:]+)"))) {
    out->setup_error = "no scheduler endpoint or PS 'serving' line:\n" + ps_log;
    return;
  }
  const std::string ps_endpoint = m[1];
  const pid_t pids[2] = {ProcessOf(run_dir, "pstrain-ps"), ProcessOf(run_dir, "pstrain-scheduler")};
  for (int i = 0; i < 2; ++i) out->rss_before_kib[i] = RssKiB(pids[i]);

  // A thousand raw TCP connections to each server, half sending junk.
  std::vector<int> fds = OpenTcpFlood(ps_endpoint, kTcpConnections);
  out->tcp_ps = static_cast<int>(fds.size());
  std::vector<int> more = OpenTcpFlood(*sched_endpoint, kTcpConnections);
  out->tcp_sched = static_cast<int>(more.size());
  fds.insert(fds.end(), more.begin(), more.end());

  zmq::context_t ctx(1);
  auto probe = [out](std::string what, Status sent, RawPeer& peer) {
    out->probes.push_back({std::move(what), sent.ok() ? peer.Answer() : sent.WithContext("send")});
  };
  std::vector<std::unique_ptr<RawPeer>> big;  // kept open until the end
  // Requests each server must answer before any limit is looked at: the
  // first message of every new client is admitted or refused.
  RawPeer ps(ctx, ps_endpoint);
  RawPeer sched(ctx, *sched_endpoint);
  {
    OutMessage first;
    FuturePull(first);
    Status s = ps.Send(first);  // waits: no answer, and holds one place
    if (!s.ok()) out->setup_error = "first pull: " + s.ToString();
    OutMessage status;
    JobStatusRequest(status);
    s = sched.Send(status);
    if (s.ok()) s = sched.Answer();
    if (!s.ok()) out->setup_error = "first status request: " + s.ToString();
  }
  // More waiting pulls than one client may have: the first kMaxInFlight wait,
  // the rest are refused at once, in order.
  for (int i = 1; i < kMaxInFlight + 3; ++i) {
    OutMessage pull;
    FuturePull(pull);
    Status sent = ps.Send(pull);
    if (i >= kMaxInFlight) probe("PS: waiting pull " + std::to_string(i + 1), sent, ps);
  }
  {
    OutMessage pull;  // too many ids (checked before the table is looked up)
    auto req = pull.envelope().getBody().initSparsePullRequest();
    req.setTable("emb");
    auto ids = req.initIds(kMaxIds + 1);
    for (int i = 0; i <= kMaxIds; ++i) ids.set(i, i);
    probe("PS: sparse pull of 17 ids", ps.Send(pull), ps);
  }
  {
    OutMessage push;
    FloatPush(push, kMaxFrameBytes / 4 + 1);  // one float over the limit
    probe("PS: frame 4 bytes over", ps.Send(push), ps);
    OutMessage to_sched;
    FloatPush(to_sched, kMaxFrameBytes / 4 + 1);
    probe("scheduler: frame 4 bytes over", sched.Send(to_sched), sched);
  }
  {
    // Far over (over twice the limit plus 4 MiB): the launcher gives the PS
    // the job's frame limit, so ZeroMQ drops these connections as soon as it
    // reads the frame's size: no reply, nothing counted, nothing buffered.
    for (int i = 0; i < 8; ++i) {
      big.push_back(std::make_unique<RawPeer>(ctx, ps_endpoint));
      OutMessage push;
      FloatPush(push, 3 * kMaxFrameBytes);
      Status sent = big.back()->Send(push);
      sent.IgnoreError();  // nothing to check: no answer comes
    }
  }
  // Junk from a client that was admitted: an error reply, nothing else.
  std::mt19937 rng(7);
  std::string noise(300, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  {
    Status sent = ps.SendRaw({noise});
    out->probes.push_back({"PS: noise", sent.ok() ? ps.Answer() : sent});
    sent = sched.SendRaw({noise});
    out->probes.push_back({"scheduler: noise", sent.ok() ? sched.Answer() : sent});
  }
  // More clients than a server answers: each sends one request that is
  // answered at once when admitted (a status request; a pull from before the
  // job: kAborted), kResourceExhausted naming max_clients when not.
  std::vector<std::unique_ptr<RawPeer>> crowd;
  for (const auto& [name, endpoint] : {std::pair<std::string, std::string>{"PS", ps_endpoint},
                                       {"scheduler", *sched_endpoint}}) {
    for (int i = 0; i < kZmqClients; ++i) {
      crowd.push_back(std::make_unique<RawPeer>(ctx, endpoint));
      OutMessage msg;
      if (name != "PS") {
        JobStatusRequest(msg);
      } else {
        auto req = msg.envelope().getBody().initPullRequest();
        req.setKeyBegin(0);
        req.setKeyEnd(10);
        req.setGeneration(1000);  // not the current one: kAborted at once
      }
      Status sent = crowd.back()->Send(msg);
      Status a = sent.ok() ? crowd.back()->Answer() : sent;
      if (a.code() == StatusCode::kUnavailable) {  // no answer: the server is gone
        out->crowd_other.push_back({name, a});
        break;
      }
      if (a.code() == StatusCode::kResourceExhausted &&
          a.message().find("network.max_clients") != std::string::npos)
        ++out->refused_clients[name];
      else if (a.code() == (name == "PS" ? StatusCode::kAborted : StatusCode::kOk))
        ++out->admitted_clients[name];
      else
        out->crowd_other.push_back({name, a});
    }
  }
  for (int i = 0; i < 2; ++i) out->rss_after_kib[i] = RssKiB(pids[i]);

  // /metrics once the PS's refusals have reached the scheduler (a heartbeat).
  const std::string admin = testing::LastLine(ReadFile(run_dir + "/scheduler.endpoint.admin"));
  for (int i = 0; i < 100; ++i) {
    out->metrics = testing::HttpGet(admin + "metrics").body;
    if (MetricValue(out->metrics, "pstrain_limit_refusals_total", RefusalLabels("ps", "clients")) ==
            out->refused_clients["PS"] &&
        MetricValue(out->metrics, "pstrain_limit_refusals_total",
                    RefusalLabels("scheduler", "clients")) == out->refused_clients["scheduler"])
      break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  for (int fd : fds) close(fd);
}

TEST_CASE("Limits: a hostile client's connections and oversized requests are refused by limit "
          "and counted while the job trains on",
          "[integration]") {
  // A thousand connections to each server, from this process: its servers
  // (children, inheriting the limit) and this test need the descriptors.
  rlimit nofile{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &nofile) == 0);
  nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, 8192);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &nofile) == 0);
  REQUIRE(nofile.rlim_cur >= 2 * kTcpConnections + 512);

  const std::string dir = MakeTempDir();
  const std::string job = WriteJob(dir);
  auto clean = RunPstrain(Launch(dir + "/clean", job), seconds(260));
  INFO(clean.output);
  REQUIRE(clean.exit_code == 0);

  const std::string run_dir = dir + "/run";
  HostileReport report;
  std::thread hostile([&] { Hostile(run_dir, &report); });
  auto r = RunPstrain(Launch(run_dir, job), seconds(260));
  hostile.join();
  INFO(r.output);
  REQUIRE(report.setup_error == "");
  CHECK(report.tcp_ps == kTcpConnections);
  CHECK(report.tcp_sched == kTcpConnections);

  const std::vector<std::pair<StatusCode, std::string>> want = {
      {StatusCode::kResourceExhausted, "network.max_in_flight_per_client"},
      {StatusCode::kResourceExhausted, "network.max_in_flight_per_client"},
      {StatusCode::kResourceExhausted, "network.max_in_flight_per_client"},
      {StatusCode::kResourceExhausted, "network.max_ids_per_request"},
      {StatusCode::kResourceExhausted, "network.max_frame_bytes"},
      {StatusCode::kResourceExhausted, "network.max_frame_bytes"},
      {StatusCode::kInvalidArgument, ""},
      {StatusCode::kInvalidArgument, ""},
  };
  REQUIRE(report.probes.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO(report.probes[i].what << " -> " << report.probes[i].answer.ToString());
    CHECK(report.probes[i].answer.code() == want[i].first);
    CHECK(report.probes[i].answer.message().find(want[i].second) != std::string::npos);
  }
  // Each server answers at most kMaxClients clients, the legitimate ones
  // (launcher, PS, worker) among them; the rest of the crowd is refused.
  for (const Probe& p : report.crowd_other) FAIL_CHECK(p.what << ": " << p.answer.ToString());
  for (const std::string server : {"PS", "scheduler"}) {
    INFO(server);
    CHECK(report.refused_clients[server] > 0);
    CHECK(report.admitted_clients[server] < kMaxClients);
    CHECK(report.refused_clients[server] + report.admitted_clients[server] == kZmqClients);
  }

  // Every refusal is counted on /metrics, by server and limit.
  const std::string& metrics = report.metrics;
  INFO(metrics);
  CHECK(MetricValue(metrics, "pstrain_limit_refusals_total", RefusalLabels("ps", "clients")) ==
        report.refused_clients["PS"]);
  CHECK(MetricValue(metrics, "pstrain_limit_refusals_total", RefusalLabels("ps", "in_flight")) == 3);
  CHECK(MetricValue(metrics, "pstrain_limit_refusals_total", RefusalLabels("ps", "ids")) == 1);
  CHECK(MetricValue(metrics, "pstrain_limit_refusals_total", RefusalLabels("ps", "frame")) == 1);
  CHECK(MetricValue(metrics, "pstrain_limit_refusals_total",
                    RefusalLabels("scheduler", "clients")) == report.refused_clients["scheduler"]);
  CHECK(MetricValue(metrics, "pstrain_limit_refusals_total", RefusalLabels("scheduler", "frame")) ==
        1);

  // Memory stayed bounded: 2000 connections and 8 frames of 12 MiB cost the
  // servers less than 128 MiB each.
  for (int i = 0; i < 2; ++i) {
    INFO((i == 0 ? "PS" : "scheduler") << " RSS " << report.rss_before_kib[i] << " -> "
                                      << report.rss_after_kib[i] << " KiB");
    CHECK(report.rss_before_kib[i] > 0);
    CHECK(report.rss_after_kib[i] < report.rss_before_kib[i] + 128 * 1024);
  }

  // Training went on, to the model a run without the hostile client gets.
  REQUIRE(r.exit_code == 0);
  auto accuracy = [](const std::string& d) {
    return nlohmann::json::parse(ReadFile(d + "/result.json"))["final_test_accuracy"].get<double>();
  };
  CHECK(accuracy(run_dir) == accuracy(dir + "/clean"));
  CHECK(accuracy(run_dir) > 0.7);
  testing::RequireNoOrphans(run_dir);
}

}  // namespace
}  // namespace pst
