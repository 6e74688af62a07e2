// Integration tests of the scheduler's admin endpoint (/healthz, /status,
// /metrics, the dashboard) and `pstrain status`, on a real local cluster.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "cli/child_process.h"
#include "tests/integration/harness.h"
#include "tests/integration/sparse_job.h"

namespace pst {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::HttpGet;
using testing::LastLine;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::RequireNoOrphans;
using testing::RunPstrain;
using testing::WaitForLine;
using Clock = std::chrono::steady_clock;

// Parses Prometheus text: every non-comment line is `name{labels} value`, the
// family's # HELP and # TYPE come first (a histogram's TYPE covers its
// name_bucket, name_sum and name_count), and the value is a number. Returns
// "name{labels}" -> value.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  std::map<std::string, int> seen;  // family -> 1 after HELP, 2 after TYPE
  std::set<std::string> histograms;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    INFO("line: " << line);
    REQUIRE(!line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      seen[line.substr(7, line.find(' ', 7) - 7)] = 1;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      CHECK(seen[name] == 1);
      seen[name] = 2;
      if (line.substr(line.rfind(' ') + 1) == "histogram") histograms.insert(name);
      continue;
    }
    REQUIRE(line[0] != '#');
    const size_t space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    const std::string series = line.substr(0, space);
    std::string name = series.substr(0, series.find('{'));
    CHECK(name.rfind("pstrain_", 0) == 0);
    for (const std::string suffix : {"_bucket", "_sum", "_count"})
      if (name.size() > suffix.size() && name.ends_with(suffix) &&
          histograms.count(name.substr(0, name.size() - suffix.size())))
        name = name.substr(0, name.size() - suffix.size());
    CHECK(seen[name] == 2);
    if (series.find('{') != std::string::npos) CHECK(series.back() == '}');
    const std::string value = line.substr(space + 1);
    size_t used = 0;
    double v = 0;
    if (value == "NaN" || value == "+Inf" || value == "-Inf") {
      used = value.size();
      v = value == "NaN" ? NAN : value == "+Inf" ? INFINITY : -INFINITY;
    } else {
      REQUIRE_NOTHROW(v = std::stod(value, &used));
    }
    CHECK(used == value.size());
    out[series] = v;
  }
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST_CASE("Admin: a running cluster serves /healthz, /status, /metrics and `pstrain status`",
          "[integration]") {
  const std::string dir = MakeTempDir();
  const std::string run_dir = dir + "/run";
  const std::string log = dir + "/launch.log";
  // Long enough to observe: worker 0 sleeps 20 ms per step (about 13 s of
  // training); a checkpoint every 50 clocks.
  auto launch = ChildProcess::Start(
      std::string(PST_BIN_DIR) + "/pstrain",
      {"launch", "--run-dir", run_dir, "--epochs", "4", "--train-limit", "20000",
       "--worker-delay-ms", "20", "--progress", "lines", "--checkpoint-every-steps", "50"},
      log);
  REQUIRE(launch.ok());

  // The admin URL is printed right after the scheduler's address.
  const std::string url = WaitForLine(log, "admin: ", milliseconds(30000));
  INFO("launch output:\n" << ReadFile(log));
  REQUIRE(url.rfind("http://127.0.0.1:", 0) == 0);
  CHECK(Trim(ReadFile(run_dir + "/scheduler.endpoint.admin")) == url);
  {
    const std::string out = ReadFile(log);
    CHECK(out.find("scheduler: tcp://") < out.find("admin: http://"));
  }

  const auto health = HttpGet(url + "healthz");
  CHECK(health.status == 200);
  CHECK(Trim(health.body) == "ok");
  CHECK(HttpGet(url + "no-such-page").status == 404);

  // Wait (bounded) until every node is alive and the workers are training.
  nlohmann::json status;
  const auto deadline = Clock::now() + seconds(60);
  bool training = false;
  while (!training && Clock::now() < deadline) {
    const auto r = HttpGet(url + "status");
    REQUIRE(r.status == 200);
    status = nlohmann::json::parse(r.body);
    int ps = 0, workers = 0, busy = 0;
    for (const auto& n : status["nodes"]) {
      if (n["state"] != "alive") continue;
      if (n["role"] == "ps") ++ps;
      if (n["role"] == "worker") {
        ++workers;
        if (n["samples"].get<uint64_t>() > 0) ++busy;
      }
    }
    training = status["state"] == "running" && ps == 2 && workers == 2 && busy == 2;
    if (!training) std::this_thread::sleep_for(milliseconds(200));
  }
  INFO("status: " << status.dump());
  REQUIRE(training);
  CHECK(status["job"]["servers"] == 2);
  CHECK(status["job"]["workers"] == 2);
  CHECK(status["job"]["epochs"] == 4);
  CHECK(status["totals"].contains("samples"));
  CHECK(status["epochs"].size() == 4);
  for (const auto& n : status["nodes"]) {
    CHECK(n["pid"].get<uint32_t>() > 0);
    CHECK(n["last_heartbeat_age_ms"].get<uint64_t>() < 5000);
  }

  // Two scrapes a second and a half apart: every worker trained more.
  const auto first = HttpGet(url + "metrics");
  REQUIRE(first.status == 200);
  const auto m1 = ParseMetrics(first.body);
  std::this_thread::sleep_for(milliseconds(1500));
  const auto second = HttpGet(url + "metrics");
  REQUIRE(second.status == 200);
  const auto m2 = ParseMetrics(second.body);
  for (const char* rank : {"0", "1"}) {
    const std::string series =
        std::string("pstrain_node_samples_total{role=\"worker\",rank=\"") + rank + "\"}";
    INFO(series);
    REQUIRE(m1.count(series) == 1);
    REQUIRE(m2.count(series) == 1);
    CHECK(m2.at(series) > m1.at(series));
  }
  CHECK(m2.at("pstrain_job_state{state=\"running\"}") == 1);
  CHECK(m2.count("pstrain_node_heartbeat_age_seconds{role=\"ps\",rank=\"1\"}") == 1);
  CHECK(m2.count("pstrain_node_samples_per_second{role=\"worker\",rank=\"0\"}") == 1);
  CHECK(m2.count("pstrain_node_clock{role=\"worker\",rank=\"1\"}") == 1);

  // Every worker's pull and push latency histograms have counts: cumulative
  // buckets ending in +Inf == _count, and a plausible sum.
  for (const char* rank : {"0", "1"}) {
    for (const std::string h :
         {"pstrain_worker_pull_latency_seconds", "pstrain_worker_push_latency_seconds"}) {
      const std::string labels = std::string("role=\"worker\",rank=\"") + rank + "\"";
      INFO(h << "{" << labels << "}");
      REQUIRE(m2.count(h + "_count{" + labels + "}") == 1);
      const double count = m2.at(h + "_count{" + labels + "}");
      const double sum = m2.at(h + "_sum{" + labels + "}");
      CHECK(count > 0);
      CHECK(sum > 0);
      CHECK(sum / count < 5.0);  // a mean round trip of seconds would mean a bad measurement
      REQUIRE(m2.count(h + "_bucket{" + labels + ",le=\"+Inf\"}") == 1);
      CHECK(m2.at(h + "_bucket{" + labels + ",le=\"+Inf\"}") == count);
      CHECK(m2.at(h + "_bucket{" + labels + ",le=\"0.0001\"}") <=
            m2.at(h + "_bucket{" + labels + ",le=\"10\"}"));
      CHECK(m2.at(h + "_count{" + labels + "}") >= m1.at(h + "_count{" + labels + "}"));
    }
  }
  CHECK(m2.at("pstrain_job_generation") == 0);
  CHECK(m2.at("pstrain_rollbacks_total") == 0);
  CHECK(m2.at("pstrain_job_desired_workers") == 2);

  // Checkpoints every 50 clocks: wait (bounded) for the first complete one.
  std::map<std::string, double> m3 = m2;
  const auto ckpt_deadline = Clock::now() + seconds(60);
  while (m3.at("pstrain_checkpoints_total") < 1 && Clock::now() < ckpt_deadline) {
    std::this_thread::sleep_for(milliseconds(200));
    const auto r = HttpGet(url + "metrics");
    REQUIRE(r.status == 200);
    m3 = ParseMetrics(r.body);
  }
  CHECK(m3.at("pstrain_checkpoints_total") >= 1);
  CHECK(m3.at("pstrain_checkpoint_last_id") >= 1);
  CHECK(m3.at("pstrain_checkpoint_last_clock") >= 50);
  CHECK(m3.at("pstrain_checkpoint_duration_seconds_count") == m3.at("pstrain_checkpoints_total"));
  CHECK(m3.at("pstrain_checkpoint_duration_seconds_bucket{le=\"+Inf\"}") ==
        m3.at("pstrain_checkpoints_total"));
  CHECK(m3.at("pstrain_checkpoint_last_timestamp_seconds") > 1.6e9);
  {
    const auto r = HttpGet(url + "status");
    REQUIRE(r.status == 200);
    const auto j = nlohmann::json::parse(r.body);
    CHECK(j["generation"] == 0);
    CHECK(j["rollbacks"].empty());
    REQUIRE(!j["checkpoints"].empty());
    CHECK(j["checkpoints"][0]["clock"].get<uint64_t>() >= 50);
    CHECK(j["checkpoints"][0]["duration_ms"].get<double>() > 0);
  }

  // The dashboard page.
  const auto page = HttpGet(url);
  CHECK(page.status == 200);
  CHECK(page.body.find("<!DOCTYPE html>") == 0);

  // `pstrain status` reads the run directory and prints one row per node.
  const auto table = RunPstrain({"pstrain", "status", "--run-dir", run_dir}, seconds(20));
  INFO("pstrain status:\n" << table.output);
  CHECK(table.exit_code == 0);
  int rows = 0, ps_rows = 0;
  std::istringstream lines(table.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("ps ", 0) == 0) ++ps_rows;
    if (line.rfind("ps ", 0) == 0 || line.rfind("worker ", 0) == 0) ++rows;
  }
  CHECK(rows == 4);
  CHECK(ps_rows == 2);
  CHECK(table.output.find("job: running") != std::string::npos);
  CHECK(table.output.find("admin: " + url) != std::string::npos);

  const auto json = RunPstrain({"pstrain", "status", "--run-dir", run_dir, "--json"}, seconds(20));
  CHECK(json.exit_code == 0);
  nlohmann::json parsed;
  REQUIRE_NOTHROW(parsed = nlohmann::json::parse(json.output));
  CHECK(parsed["nodes"].size() == 4);
  CHECK(parsed["generation"] == 0);
  CHECK(!parsed["checkpoints"].empty());

  // The job runs to its end and every process exits.
  const auto code = launch->Wait(milliseconds(180000));
  INFO("launch output:\n" << ReadFile(log));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(LastLine(ReadFile(log)).rfind("final test accuracy: ", 0) == 0);
  RequireNoOrphans(run_dir);
}

// The value of data-points="N" on the element with id `id` in a DOM dump; -1 if absent.
int CurvePoints(const std::string& dom, const std::string& id) {
  const size_t at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos) return -1;
  const size_t end = dom.find('>', at);
  const size_t attr = dom.find("data-points=\"", at);
  if (attr == std::string::npos || attr > end) return -1;
  return std::atoi(dom.c_str() + attr + std::string("data-points=\"").size());
}

// Loads `url` in headless Chromium, lets its scripts run ~3 s, returns the DOM.
std::string DumpDom(const std::string& url, const std::string& dir) {
  const std::string profile = MakeTempDir();
  const std::string out = dir + "/dom-" + std::to_string(Clock::now().time_since_epoch().count());
  const std::string cmd =
      "chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync "
      "--user-data-dir=" +
      profile + " --virtual-time-budget=3000 --dump-dom " + url + " 2>/dev/null";
  auto r = ChildProcess::Start("/bin/sh", {"-c", cmd}, out);
  if (!r.ok()) return "";
  if (!r->Wait(milliseconds(60000))) r->Stop(milliseconds(2000));
  return ReadFile(out);
}

TEST_CASE("Admin: the dashboard shows the nodes and growing curves in headless Chromium",
          "[integration]") {
  // deploy/bootstrap.sh installs chromium; without it this test fails rather
  // than passing without having looked at the page.
  REQUIRE(std::system("command -v chromium >/dev/null 2>&1") == 0);
  const std::string dir = MakeTempDir();
  const std::string run_dir = dir + "/run";
  const std::string log = dir + "/launch.log";
  auto launch =
      ChildProcess::Start(std::string(PST_BIN_DIR) + "/pstrain",
                          {"launch", "--run-dir", run_dir, "--epochs", "6", "--train-limit",
                           "20000", "--worker-delay-ms", "20", "--progress", "lines"},
                          log);
  REQUIRE(launch.ok());
  const std::string url = WaitForLine(log, "admin: ", milliseconds(30000));
  INFO("launch output:\n" << ReadFile(log));
  REQUIRE(!url.empty());
  // Wait (bounded) until the live curve has a point.
  const auto deadline = Clock::now() + seconds(60);
  size_t points = 0;
  while (points == 0 && Clock::now() < deadline) {
    const auto r = HttpGet(url + "status");
    REQUIRE(r.status == 200);
    points = nlohmann::json::parse(r.body)["history"].size();
    if (points == 0) std::this_thread::sleep_for(milliseconds(200));
  }
  REQUIRE(points > 0);

  const std::string first = DumpDom(url, dir);
  INFO("first DOM:\n" << first);
  std::this_thread::sleep_for(milliseconds(2500));
  const std::string second = DumpDom(url, dir);
  INFO("second DOM:\n" << second);
  size_t rows = 0;
  for (size_t at = second.find("<tr class=\"node\">"); at != std::string::npos;
       at = second.find("<tr class=\"node\">", at + 1))
    ++rows;
  CHECK(rows == 4);
  CHECK(second.find(">worker<") != std::string::npos);
  CHECK(second.find(">ps<") != std::string::npos);
  // The header line: generation, last checkpoint, rollbacks.
  CHECK(second.find("<span id=\"generation\">generation 0</span>") != std::string::npos);
  CHECK(second.find("<span id=\"rollbacks\">0 rollbacks</span>") != std::string::npos);
  CHECK(second.find("<span id=\"checkpoint\"></span>") == std::string::npos);
  const int before = CurvePoints(first, "live-loss");
  const int after = CurvePoints(second, "live-loss");
  CHECK(before > 0);
  CHECK(after > before);

  const auto code = launch->Wait(milliseconds(180000));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  RequireNoOrphans(run_dir);
}

TEST_CASE("Admin: a sparse job's test AUC and log-loss per epoch reach /status, the dashboard "
          "and auc.svg",
          "[integration]") {
  REQUIRE(std::system("command -v chromium >/dev/null 2>&1") == 0);
  testing::SparseJob j;
  j.servers = 1;
  j.workers = 1;
  j.epochs = 3;
  const std::string job = testing::WriteSparseJob(testing::MakeSparseData(), j);
  const std::string dir = MakeTempDir();
  const std::string run_dir = dir + "/run";
  const std::string log = dir + "/launch.log";
  // About 1 s per epoch, so the dashboard is up while epochs are evaluated.
  auto launch = ChildProcess::Start(std::string(PST_BIN_DIR) + "/pstrain",
                                    {"launch", "--job", job, "--run-dir", run_dir,
                                     "--worker-delay-ms", "10", "--progress", "lines"},
                                    log);
  REQUIRE(launch.ok());
  const std::string url = WaitForLine(log, "admin: ", milliseconds(30000));
  INFO("launch output:\n" << ReadFile(log));
  REQUIRE(!url.empty());
  // Wait (bounded) until an epoch is evaluated.
  const auto deadline = Clock::now() + seconds(60);
  nlohmann::json epoch;
  while (Clock::now() < deadline) {
    const auto r = HttpGet(url + "status");
    if (r.status != 200) break;  // the job ended: the checks below say what is missing
    const auto st = nlohmann::json::parse(r.body);
    if (!st["epochs"].empty() && st["epochs"][0]["test_auc"].is_number()) {
      epoch = st["epochs"][0];
      break;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  REQUIRE(epoch.is_object());
  CHECK(epoch["test_auc"].get<double>() > 0.5);
  CHECK(epoch["test_loss"].get<double>() < std::log(2.0));  // the log-loss
  const std::string dom = DumpDom(url, dir);
  INFO("DOM:\n" << dom);
  CHECK(CurvePoints(dom, "epoch-auc") >= 1);
  CHECK(CurvePoints(dom, "epoch-logloss") >= 1);
  CHECK(dom.find("id=\"auc-section\" hidden") == std::string::npos);

  const auto code = launch->Wait(milliseconds(120000));
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  const std::string svg = ReadFile(run_dir + "/auc.svg");
  CHECK(svg.find(">test AUC<") != std::string::npos);
  CHECK(svg.find("<polyline") != std::string::npos);
  CHECK(ReadFile(log).find(run_dir + "/auc.svg") != std::string::npos);  // the "plots:" line
  RequireNoOrphans(run_dir);
}

TEST_CASE("Admin: --admin-port -1 disables the endpoint", "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--epochs", "1", "--train-limit",
                       "2000", "--test-limit", "1000", "--progress", "lines", "--admin-port", "-1"},
                      seconds(120));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("admin:") == std::string::npos);
  CHECK_FALSE(std::filesystem::exists(run_dir + "/scheduler.endpoint.admin"));
  RequireNoOrphans(run_dir);
}

TEST_CASE("Admin: `pstrain status` names an unreachable scheduler in one line", "[integration]") {
  std::string endpoint;
  {
    zmq::context_t ctx(1);
    zmq::socket_t s(ctx, zmq::socket_type::router);
    s.bind("tcp://127.0.0.1:*");
    endpoint = s.get(zmq::sockopt::last_endpoint);
  }
  const auto start = Clock::now();
  auto r = RunPstrain({"pstrain", "status", "--scheduler", endpoint}, seconds(20));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Clock::now() - start < seconds(10));
  CHECK(r.output.find("cannot reach the scheduler at " + endpoint) != std::string::npos);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);

  const std::string dir = MakeTempDir();
  auto missing = RunPstrain({"pstrain", "status", "--run-dir", dir}, seconds(20));
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find(dir + "/scheduler.endpoint") != std::string::npos);

  auto neither = RunPstrain({"pstrain", "status"}, seconds(20));
  CHECK(neither.exit_code == 2);
}

}  // namespace
}  // namespace pst
