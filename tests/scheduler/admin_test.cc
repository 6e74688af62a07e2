#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <capnp/message.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "common/cluster_keys.h"
#include "scheduler/admin_server.h"
#include "scheduler/admin_snapshot.h"
#include "scheduler/dashboard_html.h"
#include "scheduler/scheduler.h"

namespace pst {
namespace {

AdminSnapshot HandBuilt() {
  AdminSnapshot s;
  s.job_state = "running";
  s.scheduler_endpoint = "tcp://127.0.0.1:7000";
  s.admin_url = "http://127.0.0.1:8080/";
  s.expected_servers = 1;
  s.expected_workers = 2;
  s.model = "784-128-10";
  s.optimizer = "adam";
  s.consistency = "bsp";
  s.total_epochs = 3;
  s.samples_per_epoch = 1000;
  s.elapsed_ms = 2500;
  s.uptime_ms = 4000;
  s.nodes.push_back({"ps", 0, "tcp://127.0.0.1:7001", "host-a", 11, "alive", 40, 0, 0, 0, 0, 120});
  s.nodes.push_back({"worker", 0, "", "host\"b\\", 12, "alive", 40, 1500, 900.0, 20, 612.5, 80});
  s.nodes.push_back({"worker", 1, "", "host-c", 13, "dead", 31, 1200, 700.0, 19, 0, 10500});
  AdminEpoch e1;
  e1.epoch = 1;
  e1.samples = 1000;
  e1.train_loss = 0.75;
  e1.evaluated = true;
  e1.test_accuracy = 0.81;
  e1.test_correct = 810;
  e1.test_total = 1000;
  e1.start_ms = 0;
  e1.end_ms = 1200;
  AdminEpoch e2;
  e2.epoch = 2;
  e2.samples = 400;
  e2.train_loss = 0.5;
  e2.start_ms = 1200;
  AdminEpoch e3;
  e3.epoch = 3;
  s.epochs = {e1, e2, e3};
  s.history = {{1.0, 0.9, 600}, {2.0, NAN, 650}};
  // Worker 0: pulls of 0.2, 0.2 and 3 ms, one push of 40 ms; worker 1 measured nothing.
  for (double v : {0.0002, 0.0002, 0.003}) s.nodes[1].pull_latency.Record(v);
  s.nodes[1].push_latency.Record(0.04);
  s.unix_ms = 1'700'000'060'000;
  s.generation = 2;
  s.desired_workers = 3;
  s.checkpoints = {{1, 50, 0, 120.0, 1'700'000'000'000}, {2, 100, 1, 4000.0, 1'700'000'030'000}};
  s.rollbacks = {{1, 1, 50, 17, "PS 1 died", 1500, 1900},
                 {2, 2, 100, 5, "the scheduler restarted", 2200, 0}};
  return s;
}

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The family a sample belongs to: its name, or for a histogram's
// name_bucket / name_sum / name_count, the histogram's name.
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx = suffix;
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      auto it = types.find(name.substr(0, name.size() - sfx.size()));
      if (it != types.end() && it->second == "histogram") return it->first;
    }
  }
  return name;
}

// Parses Prometheus text format 0.0.4 strictly enough for our output: every
// non-comment line is `name{labels} value`; each family's HELP and TYPE come
// before its samples, and a family's samples are contiguous; values parse as
// numbers. A histogram's samples are name_bucket{...,le="..."}, name_sum and
// name_count. `types` (if given) receives family -> type.
std::vector<Sample> ParseExposition(const std::string& text,
                                    std::map<std::string, std::string>* types = nullptr) {
  static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$)");
  static const std::regex kLabel(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?)re");
  static const std::regex kType(
      R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  std::vector<Sample> out;
  std::set<std::string> helped, finished;
  std::map<std::string, std::string> typed;
  std::string current;  // the family whose samples came last
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    INFO("line: " << line);
    REQUIRE(!line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      CHECK(helped.insert(name).second);
      continue;
    }
    std::smatch m;
    if (line.rfind("# TYPE ", 0) == 0) {
      REQUIRE(std::regex_match(line, m, kType));
      CHECK(helped.count(m[1]) == 1);  // HELP first
      CHECK(typed.emplace(m[1], m[2]).second);
      continue;
    }
    REQUIRE(line[0] != '#');
    REQUIRE(std::regex_match(line, m, kSample));
    Sample s;
    s.name = m[1];
    CHECK(s.name.rfind("pstrain_", 0) == 0);
    const std::string family = FamilyOf(s.name, typed);
    CHECK(typed.count(family) == 1);  // TYPE precedes the samples
    if (family != current) {
      CHECK(finished.insert(family).second);  // samples of a family are contiguous
      current = family;
    }
    std::string labels = m[3];
    for (std::sregex_iterator it(labels.begin(), labels.end(), kLabel), end; it != end; ++it)
      s.labels[(*it)[1]] = (*it)[2];
    const std::string v = m[4];
    if (v == "NaN")
      s.value = NAN;
    else if (v == "+Inf")
      s.value = INFINITY;
    else if (v == "-Inf")
      s.value = -INFINITY;
    else {
      size_t used = 0;
      s.value = std::stod(v, &used);
      CHECK(used == v.size());
    }
    out.push_back(std::move(s));
  }
  if (types) *types = typed;
  return out;
}

// Checks every histogram family in `samples`: per label set (without le), the
// buckets have ascending le bounds, non-decreasing cumulative counts, end in
// le="+Inf" equal to _count, and a _sum is there. Returns the number of
// histograms (label sets) checked.
int CheckHistograms(const std::vector<Sample>& samples,
                    const std::map<std::string, std::string>& types) {
  int checked = 0;
  for (const auto& [family, type] : types) {
    if (type != "histogram") continue;
    INFO("histogram " << family);
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> sums, counts;
    for (const Sample& s : samples) {
      if (s.name == family + "_bucket") {
        auto labels = s.labels;
        REQUIRE(labels.count("le") == 1);
        const std::string le = labels["le"];
        labels.erase("le");
        buckets[labels].push_back({le == "+Inf" ? INFINITY : std::stod(le), s.value});
      } else if (s.name == family + "_sum") {
        CHECK(sums.emplace(s.labels, s.value).second);
      } else if (s.name == family + "_count") {
        CHECK(counts.emplace(s.labels, s.value).second);
      } else {
        CHECK(s.name != family);  // a histogram has no plain samples
      }
    }
    CHECK(buckets.size() == counts.size());
    CHECK(buckets.size() == sums.size());
    for (const auto& [labels, list] : buckets) {
      REQUIRE(list.size() >= 2);
      for (size_t i = 1; i < list.size(); ++i) {
        CHECK(list[i].first > list[i - 1].first);     // le ascending
        CHECK(list[i].second >= list[i - 1].second);  // cumulative
      }
      CHECK(std::isinf(list.back().first));
      REQUIRE(counts.count(labels) == 1);
      CHECK(list.back().second == counts.at(labels));
      REQUIRE(sums.count(labels) == 1);
      CHECK(sums.at(labels) >= 0);
      ++checked;
    }
  }
  return checked;
}

// The value of a histogram's bucket with bound le (e.g. "0.00025" or "+Inf").
double Bucket(const std::vector<Sample>& samples, const std::string& family,
              std::map<std::string, std::string> labels, const std::string& le) {
  labels["le"] = le;
  for (const Sample& s : samples)
    if (s.name == family + "_bucket" && s.labels == labels) return s.value;
  FAIL("no bucket le=" << le << " in " << family);
  return -1;
}

const Sample* Find(const std::vector<Sample>& samples, const std::string& name,
                   const std::map<std::string, std::string>& labels = {}) {
  for (const Sample& s : samples)
    if (s.name == name && s.labels == labels) return &s;
  return nullptr;
}

TEST_CASE("Admin: /metrics is valid Prometheus text with the job's numbers", "[scheduler]") {
  const std::string text = RenderPrometheus(HandBuilt());
  const auto samples = ParseExposition(text);
  REQUIRE(Find(samples, "pstrain_job_state", {{"state", "running"}}));
  CHECK(Find(samples, "pstrain_job_state", {{"state", "running"}})->value == 1);
  CHECK(Find(samples, "pstrain_job_state", {{"state", "done"}})->value == 0);
  REQUIRE(Find(samples, "pstrain_epochs_completed"));
  CHECK(Find(samples, "pstrain_epochs_completed")->value == 1);
  CHECK(Find(samples, "pstrain_epochs")->value == 3);
  CHECK(Find(samples, "pstrain_samples_total")->value == 1400);
  CHECK(Find(samples, "pstrain_training_elapsed_seconds")->value == Approx(2.5));
  REQUIRE(Find(samples, "pstrain_epoch_test_accuracy", {{"epoch", "1"}}));
  CHECK(Find(samples, "pstrain_epoch_test_accuracy", {{"epoch", "1"}})->value == Approx(0.81));
  CHECK_FALSE(Find(samples, "pstrain_epoch_test_accuracy", {{"epoch", "2"}}));
  CHECK(Find(samples, "pstrain_epoch_train_loss", {{"epoch", "2"}})->value == Approx(0.5));
  CHECK_FALSE(Find(samples, "pstrain_epoch_train_loss", {{"epoch", "3"}}));
  const std::map<std::string, std::string> w0{{"role", "worker"}, {"rank", "0"}};
  const std::map<std::string, std::string> w1{{"role", "worker"}, {"rank", "1"}};
  REQUIRE(Find(samples, "pstrain_node_samples_total", w0));
  CHECK(Find(samples, "pstrain_node_samples_total", w0)->value == 1500);
  CHECK(Find(samples, "pstrain_node_samples_per_second", w0)->value == Approx(612.5));
  CHECK(Find(samples, "pstrain_node_heartbeat_age_seconds", w1)->value == Approx(10.5));
  CHECK(Find(samples, "pstrain_node_clock", {{"role", "ps"}, {"rank", "0"}})->value == 40);
  CHECK(Find(samples, "pstrain_node_up", w1)->value == 0);
  CHECK(Find(samples, "pstrain_node_up", w0)->value == 1);
  // Counters end in _total.
  CHECK(text.find("# TYPE pstrain_node_samples_total counter") != std::string::npos);
}

TEST_CASE("Admin: /metrics of an empty (forming) job is valid too", "[scheduler]") {
  AdminSnapshot s;
  std::map<std::string, std::string> types;
  const auto samples = ParseExposition(RenderPrometheus(s), &types);
  CHECK(Find(samples, "pstrain_job_state", {{"state", "forming"}})->value == 1);
  CHECK(Find(samples, "pstrain_epochs_completed")->value == 0);
  CHECK(CheckHistograms(samples, types) == 1);  // checkpoint durations, empty
  CHECK(Find(samples, "pstrain_checkpoint_duration_seconds_count")->value == 0);
  CHECK(Find(samples, "pstrain_checkpoints_total")->value == 0);
  CHECK(Find(samples, "pstrain_checkpoint_last_id")->value == 0);
  CHECK_FALSE(Find(samples, "pstrain_checkpoint_last_timestamp_seconds"));
  CHECK(Find(samples, "pstrain_rollbacks_total")->value == 0);
  CHECK(Find(samples, "pstrain_job_generation")->value == 0);
}

TEST_CASE("Admin: /metrics has a pull and a push latency histogram per worker", "[scheduler]") {
  const std::string text = RenderPrometheus(HandBuilt());
  std::map<std::string, std::string> types;
  const auto samples = ParseExposition(text, &types);
  CHECK(types["pstrain_worker_pull_latency_seconds"] == "histogram");
  CHECK(types["pstrain_worker_push_latency_seconds"] == "histogram");
  // Two workers x (pull, push), plus the checkpoint durations; none for the PS.
  CHECK(CheckHistograms(samples, types) == 5);
  const std::map<std::string, std::string> w0{{"role", "worker"}, {"rank", "0"}};
  const std::map<std::string, std::string> w1{{"role", "worker"}, {"rank", "1"}};
  const std::string pull = "pstrain_worker_pull_latency_seconds";
  const std::string push = "pstrain_worker_push_latency_seconds";
  CHECK_FALSE(Find(samples, pull + "_count", {{"role", "ps"}, {"rank", "0"}}));
  REQUIRE(Find(samples, pull + "_count", w0));
  CHECK(Find(samples, pull + "_count", w0)->value == 3);
  CHECK(Find(samples, pull + "_sum", w0)->value == Approx(0.0034));
  CHECK(Bucket(samples, pull, w0, "0.0001") == 0);
  CHECK(Bucket(samples, pull, w0, "0.00025") == 2);
  CHECK(Bucket(samples, pull, w0, "0.0025") == 2);
  CHECK(Bucket(samples, pull, w0, "0.005") == 3);
  CHECK(Bucket(samples, pull, w0, "10") == 3);
  CHECK(Bucket(samples, pull, w0, "+Inf") == 3);
  CHECK(Find(samples, push + "_count", w0)->value == 1);
  CHECK(Bucket(samples, push, w0, "0.025") == 0);
  CHECK(Bucket(samples, push, w0, "0.05") == 1);
  // A worker with nothing measured still exports its (empty) histograms.
  CHECK(Find(samples, pull + "_count", w1)->value == 0);
  CHECK(Bucket(samples, push, w1, "+Inf") == 0);
  const std::string line = pull + "_bucket{role=\"worker\",rank=\"0\",le=\"+Inf\"} 3\n";
  CHECK(text.find(line) != std::string::npos);
}

TEST_CASE("Admin: /metrics has the checkpoint and recovery metrics", "[scheduler]") {
  std::map<std::string, std::string> types;
  const auto samples = ParseExposition(RenderPrometheus(HandBuilt()), &types);
  CHECK(types["pstrain_checkpoints_total"] == "counter");
  CHECK(types["pstrain_rollbacks_total"] == "counter");
  CHECK(types["pstrain_rollback_redone_clocks_total"] == "counter");
  CHECK(types["pstrain_checkpoint_duration_seconds"] == "histogram");
  CHECK(types["pstrain_job_generation"] == "gauge");
  REQUIRE(Find(samples, "pstrain_checkpoints_total"));
  CHECK(Find(samples, "pstrain_checkpoints_total")->value == 2);
  CHECK(Find(samples, "pstrain_checkpoint_last_id")->value == 2);
  CHECK(Find(samples, "pstrain_checkpoint_last_clock")->value == 100);
  CHECK(Find(samples, "pstrain_checkpoint_last_timestamp_seconds")->value ==
        Approx(1'700'000'030.0));
  CHECK(Find(samples, "pstrain_job_generation")->value == 2);
  CHECK(Find(samples, "pstrain_job_desired_workers")->value == 3);
  CHECK(Find(samples, "pstrain_rollbacks_total")->value == 2);
  CHECK(Find(samples, "pstrain_rollback_redone_clocks_total")->value == 22);
  // Durations 0.12 s and 4 s.
  const std::string d = "pstrain_checkpoint_duration_seconds";
  CHECK(Find(samples, d + "_count")->value == 2);
  CHECK(Find(samples, d + "_sum")->value == Approx(4.12));
  CHECK(Bucket(samples, d, {}, "0.1") == 0);
  CHECK(Bucket(samples, d, {}, "0.25") == 1);
  CHECK(Bucket(samples, d, {}, "2.5") == 1);
  CHECK(Bucket(samples, d, {}, "5") == 2);
  CHECK(Bucket(samples, d, {}, "+Inf") == 2);
}

TEST_CASE("Admin: /metrics counts the scheduler's and each PS's refusals by limit", "[scheduler]") {
  AdminSnapshot s = HandBuilt();
  s.scheduler_refusals = {1, 0, 5, 0, 7, 8};
  s.nodes[0].refusals = {2, 3, 4, 6, 10, 11};  // ps 0
  s.nodes[1].refusals = {9, 9, 9, 9, 9, 9};    // a worker: never shown
  std::map<std::string, std::string> types;
  const auto samples = ParseExposition(RenderPrometheus(s), &types);
  CHECK(types["pstrain_limit_refusals_total"] == "counter");
  const std::string m = "pstrain_limit_refusals_total";
  auto value = [&](const std::string& role, const std::string& limit) {
    const Sample* x = Find(samples, m, {{"role", role}, {"rank", "0"}, {"limit", limit}});
    return x ? x->value : -1;
  };
  CHECK(value("scheduler", "frame") == 1);
  CHECK(value("scheduler", "ids") == 0);
  CHECK(value("scheduler", "clients") == 5);
  CHECK(value("scheduler", "in_flight") == 0);
  CHECK(value("ps", "frame") == 2);
  CHECK(value("ps", "ids") == 3);
  CHECK(value("ps", "clients") == 4);
  CHECK(value("ps", "in_flight") == 6);
  CHECK(value("worker", "frame") == -1);
  // Connections refused by CURVE, per server.
  CHECK(types["pstrain_refused_connections_total"] == "counter");
  auto refused = [&](const std::string& role, const std::string& reason) {
    const Sample* x = Find(samples, "pstrain_refused_connections_total",
                           {{"role", role}, {"rank", "0"}, {"reason", reason}});
    return x ? x->value : -1;
  };
  CHECK(refused("scheduler", "client_key") == 7);
  CHECK(refused("scheduler", "handshake") == 8);
  CHECK(refused("ps", "client_key") == 10);
  CHECK(refused("ps", "handshake") == 11);
  CHECK(refused("worker", "handshake") == -1);
}

TEST_CASE("Admin: a recovering job is named so on /metrics and /status", "[scheduler]") {
  CHECK(std::string(AdminJobStateName(proto::JobState::RECOVERING)) == "recovering");
  AdminSnapshot s = HandBuilt();
  s.job_state = AdminJobStateName(proto::JobState::RECOVERING);
  const auto samples = ParseExposition(RenderPrometheus(s));
  REQUIRE(Find(samples, "pstrain_job_state", {{"state", "recovering"}}));
  CHECK(Find(samples, "pstrain_job_state", {{"state", "recovering"}})->value == 1);
  CHECK(Find(samples, "pstrain_job_state", {{"state", "running"}})->value == 0);
  CHECK(nlohmann::json::parse(RenderStatusJson(s))["state"] == "recovering");
}

TEST_CASE("Admin: /status JSON carries state, epochs, nodes, totals and history", "[scheduler]") {
  const auto j = nlohmann::json::parse(RenderStatusJson(HandBuilt()));
  CHECK(j["state"] == "running");
  CHECK(j["failure"] == "");
  CHECK(j["elapsed_ms"] == 2500);
  CHECK(j["job"]["servers"] == 1);
  CHECK(j["job"]["workers"] == 2);
  CHECK(j["totals"]["epochs_completed"] == 1);
  CHECK(j["totals"]["samples"] == 1400);
  CHECK(j["totals"]["samples_total"] == 3000);
  CHECK(j["totals"]["last_test_accuracy"].get<double>() == Approx(0.81));
  CHECK(j["totals"]["samples_per_second"].get<double>() == Approx(612.5));
  REQUIRE(j["epochs"].size() == 3);
  CHECK(j["epochs"][0]["epoch"] == 1);
  CHECK(j["epochs"][0]["test_accuracy"].get<double>() == Approx(0.81));
  CHECK(j["epochs"][0]["seconds"].get<double>() == Approx(1.2));
  CHECK(j["epochs"][1]["test_accuracy"].is_null());
  CHECK(j["epochs"][2]["train_loss"].is_null());
  REQUIRE(j["nodes"].size() == 3);
  CHECK(j["nodes"][0]["role"] == "ps");
  CHECK(j["nodes"][0]["endpoint"] == "tcp://127.0.0.1:7001");
  CHECK(j["nodes"][1]["host"] == "host\"b\\");
  CHECK(j["nodes"][1]["samples_per_second"].get<double>() == Approx(612.5));
  CHECK(j["nodes"][2]["state"] == "dead");
  CHECK(j["nodes"][2]["last_heartbeat_age_ms"] == 10500);
  REQUIRE(j["history"].size() == 2);
  CHECK(j["history"][0][1].get<double>() == Approx(0.9));
  CHECK(j["history"][1][1].is_null());  // NaN is not JSON
  CHECK(j["generation"] == 2);
  CHECK(j["desired_workers"] == 3);
  CHECK(j["unix_ms"] == 1'700'000'060'000);
  REQUIRE(j["checkpoints"].size() == 2);
  CHECK(j["checkpoints"][1]["id"] == 2);
  CHECK(j["checkpoints"][1]["clock"] == 100);
  CHECK(j["checkpoints"][1]["generation"] == 1);
  CHECK(j["checkpoints"][1]["duration_ms"].get<double>() == Approx(4000));
  CHECK(j["checkpoints"][1]["unix_ms"] == 1'700'000'030'000);
  REQUIRE(j["rollbacks"].size() == 2);
  CHECK(j["rollbacks"][0]["generation"] == 1);
  CHECK(j["rollbacks"][0]["checkpoint_id"] == 1);
  CHECK(j["rollbacks"][0]["clock"] == 50);
  CHECK(j["rollbacks"][0]["lost_clocks"] == 17);
  CHECK(j["rollbacks"][0]["reason"] == "PS 1 died");
  CHECK(j["rollbacks"][0]["start_ms"] == 1500);
  CHECK(j["rollbacks"][0]["end_ms"] == 1900);
  CHECK(j["rollbacks"][1]["end_ms"] == 0);
}

TEST_CASE("Admin: label values are escaped and bad UTF-8 does not break JSON", "[scheduler]") {
  AdminSnapshot s = HandBuilt();
  s.nodes[1].role = "wor\"ker\n";
  s.nodes[1].host = std::string("bad \xff\xfe utf8");
  s.failure = "line1\nline2";
  const auto samples = ParseExposition(RenderPrometheus(s));
  CHECK(Find(samples, "pstrain_node_clock", {{"role", "wor\\\"ker\\n"}, {"rank", "0"}}));
  const auto j = nlohmann::json::parse(RenderStatusJson(s));
  CHECK(j["failure"] == "line1\nline2");
}

TEST_CASE("Admin: a snapshot from a JobStatusResponse matches its fields", "[scheduler]") {
  capnp::MallocMessageBuilder msg;
  auto r = msg.initRoot<proto::JobStatusResponse>();
  r.setState(proto::JobState::DONE);
  r.setTotalEpochs(2);
  r.setSamplesPerEpoch(100);
  r.setElapsedMs(1234);
  r.setAdminUrl("http://127.0.0.1:1/");
  auto epochs = r.initEpochs(2);
  epochs[0].setEpoch(0);
  epochs[0].setSamples(100);
  epochs[0].setLossSum(50);
  epochs[0].setEvaluated(true);
  epochs[0].setTestCorrect(9);
  epochs[0].setTestTotal(10);
  auto nodes = r.initNodes(2);
  nodes[0].setRole(proto::Role::SERVER);
  nodes[0].setEndpoint("tcp://127.0.0.1:2");
  nodes[1].setRole(proto::Role::WORKER);
  nodes[1].setRank(0);
  nodes[1].setState(proto::NodeState::LEFT);
  nodes[1].setSamplesPerSecond(42.5);
  r.setGeneration(3);
  r.setDesiredWorkers(4);
  auto cks = r.initCheckpoints(1);
  cks[0].setId(7);
  cks[0].setClock(350);
  cks[0].setGeneration(2);
  cks[0].setDurationMs(85.5);
  cks[0].setUnixMs(1'700'000'000'000);
  auto rbs = r.initRollbacks(1);
  rbs[0].setGeneration(3);
  rbs[0].setCheckpointId(7);
  rbs[0].setClock(350);
  rbs[0].setLostClocks(12);
  rbs[0].setReason("PS 0 died");
  rbs[0].setStartMs(900);
  rbs[0].setEndMs(950);
  auto parsed = SnapshotFromProto(r.asReader());
  REQUIRE(parsed.ok());
  const AdminSnapshot& s = *parsed;
  CHECK(s.job_state == "done");
  CHECK(s.admin_url == "http://127.0.0.1:1/");
  CHECK(s.EpochsCompleted() == 1);
  REQUIRE(s.epochs.size() == 2);
  CHECK(s.epochs[0].epoch == 1);
  CHECK(s.epochs[0].train_loss == Approx(0.5));
  CHECK(s.epochs[0].test_accuracy == Approx(0.9));
  REQUIRE(s.nodes.size() == 2);
  CHECK(s.nodes[0].role == "ps");
  CHECK(s.nodes[1].state == "left");
  CHECK(s.nodes[1].samples_per_second == 42.5);
  CHECK(s.expected_servers == 1);
  CHECK(s.expected_workers == 1);
  CHECK(s.generation == 3);
  CHECK(s.desired_workers == 4);
  CHECK(s.unix_ms > 1'700'000'000'000);  // taken now
  REQUIRE(s.checkpoints.size() == 1);
  CHECK(s.checkpoints[0].id == 7);
  CHECK(s.checkpoints[0].clock == 350);
  CHECK(s.checkpoints[0].generation == 2);
  CHECK(s.checkpoints[0].duration_ms == 85.5);
  CHECK(s.checkpoints[0].unix_ms == 1'700'000'000'000);
  REQUIRE(s.rollbacks.size() == 1);
  CHECK(s.rollbacks[0].generation == 3);
  CHECK(s.rollbacks[0].checkpoint_id == 7);
  CHECK(s.rollbacks[0].lost_clocks == 12);
  CHECK(s.rollbacks[0].reason == "PS 0 died");
  CHECK(s.rollbacks[0].end_ms == 950);
  CHECK(s.RedoneClocks() == 12);
  // The same JSON shape as the scheduler's own /status.
  const auto j = nlohmann::json::parse(RenderStatusJson(s));
  CHECK(j["generation"] == 3);
  CHECK(j["checkpoints"][0]["id"] == 7);
  CHECK(j["rollbacks"][0]["lost_clocks"] == 12);
}

TEST_CASE("Admin: sparse tables reach /status and /metrics per table and shard", "[scheduler]") {
  capnp::MallocMessageBuilder msg;
  auto r = msg.initRoot<proto::JobStatusResponse>();
  r.setState(proto::JobState::RUNNING);
  auto nodes = r.initNodes(3);
  const std::vector<std::vector<SparseTableReport>> per_ps = {
      {{"emb", 1000, 150000, 136, 1200, 200, 77, 30}, {"lr", 10, 4096, 16, 10, 0, 0, 10}},
      {{"emb", 3000, 440000, 136, 3100, 100, 5, 0}}};
  for (uint32_t k = 0; k < 2; ++k) {
    nodes[k].setRole(proto::Role::SERVER);
    nodes[k].setRank(k);
    ToProto(per_ps[k], nodes[k].initSparseTables(per_ps[k].size()));
  }
  nodes[2].setRole(proto::Role::WORKER);
  auto parsed = SnapshotFromProto(r.asReader());
  REQUIRE(parsed.ok());
  REQUIRE(parsed->nodes[0].sparse_tables == per_ps[0]);
  REQUIRE(parsed->nodes[1].sparse_tables == per_ps[1]);

  const auto j = nlohmann::json::parse(RenderStatusJson(*parsed));
  CHECK(j["nodes"][0]["sparse_tables"][1]["table"] == "lr");
  CHECK(j["nodes"][1]["sparse_tables"][0]["rows"] == 3000);
  // Totals per table over the shards.
  REQUIRE(j["sparse_tables"].size() == 2);
  CHECK(j["sparse_tables"][0]["table"] == "emb");
  CHECK(j["sparse_tables"][0]["rows"] == 4000);
  CHECK(j["sparse_tables"][0]["bytes"] == 590000);
  CHECK(j["sparse_tables"][0]["bytes_per_row"] == Approx(147.5));
  CHECK(j["sparse_tables"][0]["evicted"] == 300);
  CHECK(j["sparse_tables"][0]["shards"] == 2);

  const auto samples = ParseExposition(RenderPrometheus(*parsed));
  const std::map<std::string, std::string> emb1{{"table", "emb"}, {"shard", "1"}};
  REQUIRE(Find(samples, "pstrain_sparse_rows", emb1));
  CHECK(Find(samples, "pstrain_sparse_rows", emb1)->value == 3000);
  CHECK(Find(samples, "pstrain_sparse_bytes", emb1)->value == 440000);
  CHECK(Find(samples, "pstrain_sparse_admitted_rows_total", emb1)->value == 3100);
  CHECK(Find(samples, "pstrain_sparse_evicted_rows_total", {{"table", "emb"}, {"shard", "0"}})
            ->value == 200);
  CHECK(Find(samples, "pstrain_sparse_unadmitted_updates_total", {{"table", "emb"}, {"shard", "0"}})
            ->value == 77);
  CHECK(Find(samples, "pstrain_sparse_changed_rows", {{"table", "lr"}, {"shard", "0"}})->value ==
        10);
  CHECK_FALSE(Find(samples, "pstrain_sparse_rows", {{"table", "lr"}, {"shard", "1"}}));
}

TEST_CASE("Admin: a sparse job's epochs carry test AUC and log-loss on /status, which the "
          "dashboard draws",
          "[scheduler]") {
  AdminSnapshot s = HandBuilt();
  s.epochs[0].has_auc = true;
  s.epochs[0].test_auc = 0.77;
  s.epochs[0].test_loss = 0.52;
  const auto j = nlohmann::json::parse(RenderStatusJson(s));
  CHECK(j["epochs"][0]["test_auc"] == Approx(0.77));
  CHECK(j["epochs"][0]["test_loss"] == Approx(0.52));
  CHECK(j["epochs"][1]["test_auc"].is_null());  // not evaluated
  s.epochs[0].has_auc = false;                   // the MLP
  CHECK(nlohmann::json::parse(RenderStatusJson(s))["epochs"][0]["test_auc"].is_null());
  const std::string html = kDashboardHtml;
  for (const char* id : {"epoch-auc", "epoch-logloss", "auc-section"})
    CHECK(html.find(std::string("id=\"") + id + "\"") != std::string::npos);
  CHECK(html.find("e.test_auc") != std::string::npos);
}

TEST_CASE("Admin: the dashboard is self-contained and polls /status", "[scheduler]") {
  const std::string html = kDashboardHtml;
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("fetch(\"/status\"") != std::string::npos);
  CHECK(html.find("id=\"nodes\"") != std::string::npos);
  CHECK(html.find("id=\"live-loss\"") != std::string::npos);
  // Generation, last checkpoint and rollbacks in the header line.
  for (const char* id : {"generation", "checkpoint", "rollbacks"})
    CHECK(html.find(std::string("<span id=\"") + id + "\">") != std::string::npos);
  // Nothing is loaded from elsewhere.
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("href=") == std::string::npos);
  CHECK(html.find("innerHTML") == std::string::npos);
}

// GET `path` from 127.0.0.1:port over a raw socket; returns the whole answer.
std::string Fetch(uint16_t port, const std::string& path, const std::string& method = "GET",
                  const std::string& authorization = "") {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  if (method == "POST") req += "Content-Length: 0\r\n";
  if (!authorization.empty()) req += "Authorization: " + authorization + "\r\n";
  req += "\r\n";
  REQUIRE(send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[8192];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

std::string Body(const std::string& response) {
  const size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

TEST_CASE("Admin: AdminServer serves the published snapshot", "[scheduler]") {
  auto admin = AdminServer::Start("127.0.0.1", 0, "");
  REQUIRE(admin.ok());
  const uint16_t port = (*admin)->port();
  CHECK((*admin)->url() == "http://127.0.0.1:" + std::to_string(port) + "/");
  // Before the first Publish: an empty (forming) job.
  CHECK(nlohmann::json::parse(Body(Fetch(port, "/status")))["state"] == "forming");
  (*admin)->Publish(HandBuilt());
  CHECK(Body(Fetch(port, "/healthz")) == "ok\n");
  const std::string status = Fetch(port, "/status");
  CHECK(status.find("Content-Type: application/json") != std::string::npos);
  CHECK(nlohmann::json::parse(Body(status))["nodes"].size() == 3);
  const std::string metrics = Fetch(port, "/metrics");
  CHECK(metrics.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  CHECK(Find(ParseExposition(Body(metrics)), "pstrain_epochs_completed")->value == 1);
  const std::string page = Fetch(port, "/");
  CHECK(page.find("Content-Type: text/html") != std::string::npos);
  CHECK(Body(page) == kDashboardHtml);

  auto bad = AdminServer::Start("nonsense", 0, "");
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  auto named = AdminServer::Start("127.0.0.1", 0, "trainer-1");
  REQUIRE(named.ok());
  CHECK((*named)->url().rfind("http://trainer-1:", 0) == 0);
}

TEST_CASE("Admin: on demand, each GET is answered with a snapshot built after it asked", "[scheduler]") {
  auto admin = AdminServer::Start("127.0.0.1", 0, "");
  REQUIRE(admin.ok());
  AdminServer& server = **admin;
  const uint16_t port = server.port();
  AdminSnapshot stale = HandBuilt();
  stale.model = "stale";
  server.Publish(stale);
  server.SetOnDemand(true);
  // The scheduler's loop, as Scheduler::Run does it: a snapshot only when a
  // GET asked, numbered so each answer shows which build it was.
  std::atomic<bool> stop{false};
  std::atomic<int> builds{0};
  std::thread loop([&] {
    uint64_t answered = 0;
    while (!stop) {
      const uint64_t asked = server.Requests();
      if (asked != answered) {
        AdminSnapshot s = HandBuilt();
        s.model = "build-" + std::to_string(++builds);
        server.Publish(s, asked);
        answered = asked;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(builds == 0);  // nobody asked: nothing built
  CHECK(nlohmann::json::parse(Body(Fetch(port, "/status")))["job"]["model"] == "build-1");
  CHECK(Body(Fetch(port, "/metrics")).find("pstrain_epochs_completed") != std::string::npos);
  CHECK(builds == 2);
  CHECK(nlohmann::json::parse(Body(Fetch(port, "/status")))["job"]["model"] == "build-3");
  CHECK(Body(Fetch(port, "/healthz")) == "ok\n");
  CHECK(builds == 3);  // /healthz needs no snapshot
  stop = true;
  loop.join();

  // No loop to answer: the GET serves the latest snapshot after kFreshWait.
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(nlohmann::json::parse(Body(Fetch(port, "/status")))["job"]["model"] == "build-3");
  CHECK(std::chrono::steady_clock::now() - t0 >= AdminServer::kFreshWait);
  // Not on demand (the loop ended): the latest, without waiting for a build.
  server.SetOnDemand(false);
  server.Publish(stale);
  CHECK(nlohmann::json::parse(Body(Fetch(port, "/status")))["job"]["model"] == "stale");
}

}  // namespace
}  // namespace pst

namespace pst {
namespace {

int StatusOf(const std::string& response) {
  return response.rfind("HTTP/1.1 ", 0) == 0 && response.size() >= 12 ? std::stoi(response.substr(9, 3)) : -1;
}

uint16_t PortOf(const std::string& url) {
  return static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

TEST_CASE("Admin: a secured scheduler's POSTs need its token and reach it over CurveZMQ", "[scheduler]") {
  auto keys = GenerateClusterKeys();
  REQUIRE(keys.ok());
  zmq::context_t ctx(1);
  SchedulerOptions options;
  options.curve = std::make_shared<const ClusterKeys>(*keys);
  auto sched = Scheduler::Create(ctx, options);
  REQUIRE(sched.ok());
  Scheduler* s = sched->get();
  std::thread run([s] { s->Run().IgnoreError(); });  // ends with kCancelled at Shutdown
  const uint16_t port = PortOf(s->admin_url());
  const std::string bearer = "Bearer " + keys->admin_token;
  CHECK(StatusOf(Fetch(port, "/status")) == 200);  // pages stay open
  CHECK(StatusOf(Fetch(port, "/scale?workers=2", "POST")) == 401);
  CHECK(StatusOf(Fetch(port, "/scale?workers=2", "POST", "Bearer " + std::string(64, '0'))) == 401);
  CHECK(StatusOf(Fetch(port, "/checkpoint", "POST")) == 401);
  // Authorised: forwarded to the scheduler, which refuses both while the job forms.
  const std::string scale = Fetch(port, "/scale?workers=2", "POST", bearer);
  CHECK(StatusOf(scale) == 409);
  CHECK(Body(scale).find("the job is not running") != std::string::npos);
  const std::string ckpt = Fetch(port, "/checkpoint?timeout_s=1", "POST", bearer);
  CHECK(StatusOf(ckpt) == 409);
  CHECK(Body(ckpt).find("not running") != std::string::npos);
  const std::string bad = Fetch(port, "/scale?workers=zero", "POST", bearer);
  CHECK(StatusOf(bad) == 400);
  CHECK(Body(bad).find("workers must be a whole number") != std::string::npos);
  s->Shutdown();
  run.join();
}

TEST_CASE("Admin: a scheduler without keys takes no POSTs", "[scheduler]") {
  zmq::context_t ctx(1);
  auto sched = Scheduler::Create(ctx, SchedulerOptions{});
  REQUIRE(sched.ok());
  const uint16_t port = PortOf((*sched)->admin_url());
  CHECK(StatusOf(Fetch(port, "/scale?workers=2", "POST", "Bearer anything")) == 403);
  CHECK(StatusOf(Fetch(port, "/status")) == 200);
}

TEST_CASE("Admin: Scheduler::Create starts the endpoint unless admin_port is -1", "[scheduler]") {
  zmq::context_t ctx(1);
  SchedulerOptions options;
  auto on = Scheduler::Create(ctx, options);
  REQUIRE(on.ok());
  CHECK((*on)->admin_url().rfind("http://127.0.0.1:", 0) == 0);

  options.admin_port = -1;
  auto off = Scheduler::Create(ctx, options);
  REQUIRE(off.ok());
  CHECK((*off)->admin_url().empty());

  options.admin_port = 70000;
  CHECK(Scheduler::Create(ctx, options).status().code() == StatusCode::kInvalidArgument);
  options.admin_port = 0;
  options.admin_bind = "not-an-ip";
  CHECK(Scheduler::Create(ctx, options).status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
