#include "scheduler/admin_snapshot.h"

#include <chrono>
#include <cmath>
#include <map>
#include <exception>

#include <fmt/format.h>
#include <kj/exception.h>
#include <nlohmann/json.hpp>

namespace pst {

uint32_t AdminSnapshot::EpochsCompleted() const {
  uint32_t n = 0;
  for (const AdminEpoch& e : epochs) n += e.evaluated ? 1 : 0;
  return n;
}

uint64_t AdminSnapshot::SamplesDone() const {
  uint64_t n = 0;
  for (const AdminEpoch& e : epochs) n += e.samples;
  return n;
}

double AdminSnapshot::SamplesPerSecond() const {
  double r = 0;
  for (const AdminNode& n : nodes)
    if (n.role == "worker") r += n.samples_per_second;
  return r;
}

uint64_t AdminSnapshot::RedoneClocks() const {
  uint64_t n = 0;
  for (const AdminRollback& r : rollbacks) n += r.lost_clocks;
  return n;
}

const char* AdminRoleName(proto::Role role) {
  switch (role) {
    case proto::Role::SERVER:
      return "ps";
    case proto::Role::WORKER:
      return "worker";
    case proto::Role::SCHEDULER:
      return "scheduler";
    default:
      return "client";
  }
}

const char* AdminNodeStateName(proto::NodeState state) {
  switch (state) {
    case proto::NodeState::ALIVE:
      return "alive";
    case proto::NodeState::SUSPECT:
      return "suspect";
    case proto::NodeState::DEAD:
      return "dead";
    case proto::NodeState::LEFT:
      return "left";
  }
  return "unknown";
}

const char* AdminJobStateName(proto::JobState state) {
  switch (state) {
    case proto::JobState::FORMING:
      return "forming";
    case proto::JobState::RUNNING:
      return "running";
    case proto::JobState::DONE:
      return "done";
    case proto::JobState::FAILED:
      return "failed";
    case proto::JobState::RECOVERING:
      return "recovering";
  }
  return "unknown";
}

namespace {

// JSON has no NaN or infinity: those become null.
nlohmann::json Num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json SparseTableJson(const SparseTableReport& t) {
  return {{"table", t.table},
          {"rows", t.rows},
          {"bytes", t.bytes},
          {"bytes_per_row", Num(t.rows ? double(t.bytes) / double(t.rows) : 0.0)},
          {"raw_bytes_per_row", t.raw_bytes_per_row},
          {"admitted", t.admitted},
          {"evicted", t.evicted},
          {"unadmitted_updates", t.unadmitted_updates},
          {"changed_rows", t.changed_rows}};
}

nlohmann::json SparseTablesJson(const std::vector<SparseTableReport>& tables) {
  nlohmann::json out = nlohmann::json::array();
  for (const SparseTableReport& t : tables) out.push_back(SparseTableJson(t));
  return out;
}

// Per table, summed over the PS shards that reported it (plus "shards").
nlohmann::json SparseTotalsJson(const AdminSnapshot& s) {
  std::map<std::string, std::pair<SparseTableReport, uint32_t>> totals;
  for (const AdminNode& n : s.nodes) {
    if (n.role != "ps") continue;
    for (const SparseTableReport& t : n.sparse_tables) {
      auto& [sum, shards] = totals[t.table];
      sum.table = t.table;
      sum.rows += t.rows;
      sum.bytes += t.bytes;
      sum.raw_bytes_per_row = t.raw_bytes_per_row;
      sum.admitted += t.admitted;
      sum.evicted += t.evicted;
      sum.unadmitted_updates += t.unadmitted_updates;
      sum.changed_rows += t.changed_rows;
      ++shards;
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, total] : totals) {
    nlohmann::json j = SparseTableJson(total.first);
    j["shards"] = total.second;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

std::string RenderStatusJson(const AdminSnapshot& s, int indent) {
  using nlohmann::json;
  json j;
  j["state"] = s.job_state;
  j["failure"] = s.failure;
  j["waiting_for"] = s.waiting_for;
  j["scheduler"] = s.scheduler_endpoint;
  j["admin_url"] = s.admin_url;
  j["job"] = {{"servers", s.expected_servers},
              {"workers", s.expected_workers},
              {"model", s.model},
              {"optimizer", s.optimizer},
              {"consistency", s.consistency},
              {"epochs", s.total_epochs},
              {"samples_per_epoch", s.samples_per_epoch}};
  j["elapsed_ms"] = s.elapsed_ms;
  j["uptime_ms"] = s.uptime_ms;
  const uint64_t done = s.SamplesDone();
  const uint64_t total = s.samples_per_epoch * s.total_epochs;
  double last_accuracy = -1;
  for (const AdminEpoch& e : s.epochs)
    if (e.evaluated) last_accuracy = e.test_accuracy;
  j["totals"] = {{"epochs_completed", s.EpochsCompleted()},
                 {"epochs", s.total_epochs},
                 {"samples", done},
                 {"samples_total", total},
                 {"progress", Num(total ? double(done) / double(total) : 0.0)},
                 {"samples_per_second", Num(s.SamplesPerSecond())},
                 {"last_test_accuracy", last_accuracy >= 0 ? Num(last_accuracy) : json()}};
  j["epochs"] = json::array();
  for (const AdminEpoch& e : s.epochs) {
    json je = {
        {"epoch", e.epoch},
        {"samples", e.samples},
        {"train_loss", e.samples ? Num(e.train_loss) : json()},
        {"evaluated", e.evaluated},
        {"test_accuracy", e.evaluated ? Num(e.test_accuracy) : json()},
        {"test_loss", e.evaluated ? Num(e.test_loss) : json()},
        {"test_auc", e.evaluated && e.has_auc ? Num(e.test_auc) : json()},
        {"test_correct", e.test_correct},
        {"test_total", e.test_total},
        {"start_ms", e.start_ms},
        {"end_ms", e.end_ms},
        {"wait_ms", Num(e.wait_ms)},
        {"compute_ms", Num(e.compute_ms)},
        {"push_ms", Num(e.push_ms)},
        {"seconds", Num(e.end_ms >= e.start_ms && e.end_ms ? (e.end_ms - e.start_ms) / 1e3 : 0.0)}};
    j["epochs"].push_back(std::move(je));
  }
  j["nodes"] = json::array();
  for (const AdminNode& n : s.nodes) {
    j["nodes"].push_back({{"role", n.role},
                          {"rank", n.rank},
                          {"endpoint", n.endpoint},
                          {"host", n.host},
                          {"pid", n.pid},
                          {"state", n.state},
                          {"clock", n.clock},
                          {"samples", n.samples},
                          {"loss_sum", Num(n.loss_sum)},
                          {"steps", n.steps},
                          {"samples_per_second", Num(n.samples_per_second)},
                          {"last_heartbeat_age_ms", n.heartbeat_age_ms},
                          {"max_staleness", n.max_staleness},
                          {"sparse_tables", SparseTablesJson(n.sparse_tables)}});
  }
  j["sparse_tables"] = SparseTotalsJson(s);
  // The live curve, compact: [[elapsed_s, loss, samples_per_second], ...].
  json h = json::array();
  for (const AdminHistoryPoint& p : s.history)
    h.push_back(json::array({Num(p.elapsed_s), Num(p.loss), Num(p.samples_per_second)}));
  j["history"] = std::move(h);
  j["unix_ms"] = s.unix_ms;
  j["generation"] = s.generation;
  j["desired_workers"] = s.desired_workers;
  j["checkpoints"] = json::array();
  for (const AdminCheckpoint& c : s.checkpoints)
    j["checkpoints"].push_back({{"id", c.id},
                                {"clock", c.clock},
                                {"generation", c.generation},
                                {"duration_ms", Num(c.duration_ms)},
                                {"unix_ms", c.unix_ms}});
  j["rollbacks"] = json::array();
  for (const AdminRollback& r : s.rollbacks)
    j["rollbacks"].push_back({{"generation", r.generation},
                              {"checkpoint_id", r.checkpoint_id},
                              {"clock", r.clock},
                              {"lost_clocks", r.lost_clocks},
                              {"reason", r.reason},
                              {"start_ms", r.start_ms},
                              {"end_ms", r.end_ms}});
  try {
    // Replace invalid UTF-8 (host names come from the network) instead of throwing.
    return j.dump(indent, ' ', false, json::error_handler_t::replace);
  } catch (const std::exception& e) {
    return std::string("{\"state\":\"unknown\",\"failure\":\"cannot render status\"}");
  }
}

namespace {

// Prometheus label values escape backslash, double quote and newline.
std::string LabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string Value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

class Exposition {
 public:
  // Starts a metric family: its HELP and TYPE lines.
  void Family(const std::string& name, const std::string& type, const std::string& help) {
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const std::string& name, const std::string& labels, double v) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + Value(v) + "\n";
  }
  // The samples of one histogram: cumulative _bucket{le=...} counts ending in
  // le="+Inf" (== _count), then _sum and _count.
  void Histogram(const std::string& name, const std::string& labels, const LatencyHistogram& h) {
    const std::string le = labels.empty() ? "le=\"" : labels + ",le=\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < LatencyHistogram::kNumBuckets; ++i) {
      cumulative += h.buckets()[i];
      const bool last = i + 1 == LatencyHistogram::kNumBuckets;
      Sample(name + "_bucket", le + (last ? "+Inf" : Value(LatencyHistogram::kBounds[i])) + "\"",
             static_cast<double>(cumulative));
    }
    Sample(name + "_sum", labels, h.sum());
    Sample(name + "_count", labels, static_cast<double>(h.count()));
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string NodeLabels(const AdminNode& n) {
  return "role=\"" + LabelValue(n.role) + "\",rank=\"" + std::to_string(n.rank) + "\"";
}

// pstrain_sparse_*: per sparse table and PS shard (labels table, shard).
void SparseMetrics(const AdminSnapshot& s, Exposition& x) {
  using Field = uint64_t SparseTableReport::*;
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
    Field field;
  };
  static const Metric kMetrics[] = {
      {"pstrain_sparse_rows", "gauge", "Live rows of a sparse table on a PS shard.",
       &SparseTableReport::rows},
      {"pstrain_sparse_bytes", "gauge",
       "Memory a sparse table holds on a PS shard (rows, optimizer state, index, sketch).",
       &SparseTableReport::bytes},
      {"pstrain_sparse_raw_bytes_per_row", "gauge",
       "Bytes of id + row + optimizer state of one row (the baseline of the memory per row).",
       &SparseTableReport::raw_bytes_per_row},
      {"pstrain_sparse_admitted_rows_total", "counter",
       "Rows created (ids admitted) in a sparse table on a PS shard.", &SparseTableReport::admitted},
      {"pstrain_sparse_evicted_rows_total", "counter",
       "Rows dropped by eviction from a sparse table on a PS shard.", &SparseTableReport::evicted},
      {"pstrain_sparse_unadmitted_updates_total", "counter",
       "Row updates dropped because their id was not admitted yet.",
       &SparseTableReport::unadmitted_updates},
      {"pstrain_sparse_changed_rows", "gauge",
       "Rows written since the last checkpoint capture (the next increment's size).",
       &SparseTableReport::changed_rows},
  };
  for (const Metric& m : kMetrics) {
    x.Family(m.name, m.type, m.help);
    for (const AdminNode& n : s.nodes) {
      if (n.role != "ps") continue;
      for (const SparseTableReport& t : n.sparse_tables)
        x.Sample(m.name,
                 "table=\"" + LabelValue(t.table) + "\",shard=\"" + std::to_string(n.rank) + "\"",
                 static_cast<double>(t.*m.field));
    }
  }
}

}  // namespace

std::string RenderPrometheus(const AdminSnapshot& s) {
  Exposition x;
  x.Family("pstrain_job_state", "gauge", "1 for the job's current state, 0 for the others.");
  for (const char* state : {"forming", "running", "recovering", "done", "failed"})
    x.Sample("pstrain_job_state", std::string("state=\"") + state + "\"",
             s.job_state == state ? 1 : 0);
  x.Family("pstrain_epochs", "gauge", "Epochs the job trains.");
  x.Sample("pstrain_epochs", "", s.total_epochs);
  x.Family("pstrain_epochs_completed", "gauge", "Epochs trained and evaluated.");
  x.Sample("pstrain_epochs_completed", "", s.EpochsCompleted());
  x.Family("pstrain_training_elapsed_seconds", "gauge",
           "Training time: from the first data shard lease to now (or the job's end).");
  x.Sample("pstrain_training_elapsed_seconds", "", s.elapsed_ms / 1e3);
  x.Family("pstrain_samples_total", "counter", "Training samples finished, over all epochs.");
  x.Sample("pstrain_samples_total", "", static_cast<double>(s.SamplesDone()));
  x.Family("pstrain_samples_per_second", "gauge", "Training speed of the whole cluster.");
  x.Sample("pstrain_samples_per_second", "", s.SamplesPerSecond());

  x.Family("pstrain_refused_connections_total", "counter",
           "Connections a server's CURVE socket refused: reason=\"client_key\", a CURVE client "
           "key that is not the cluster's; reason=\"handshake\", no CURVE or another cluster's "
           "server key.");
  auto connections = [&x](const std::string& labels, const LimitRefusals& r) {
    x.Sample("pstrain_refused_connections_total", labels + ",reason=\"client_key\"",
             static_cast<double>(r.client_key));
    x.Sample("pstrain_refused_connections_total", labels + ",reason=\"handshake\"",
             static_cast<double>(r.handshake));
  };
  connections("role=\"scheduler\",rank=\"0\"", s.scheduler_refusals);
  for (const AdminNode& n : s.nodes)
    if (n.role == "ps") connections(NodeLabels(n), n.refusals);

  x.Family("pstrain_limit_refusals_total", "counter",
           "Requests a server refused by a limit (an error reply, kResourceExhausted): "
           "limit=\"frame\" (network.max_frame_bytes and the envelope limits), \"ids\" "
           "(network.max_ids_per_request), \"clients\" (network.max_clients), \"in_flight\" "
           "(network.max_in_flight_per_client).");
  auto refusals = [&x](const std::string& labels, const LimitRefusals& r) {
    for (const auto& [limit, n] : {std::pair<const char*, uint64_t>{"frame", r.frame},
                                   {"ids", r.ids},
                                   {"clients", r.clients},
                                   {"in_flight", r.in_flight}})
      x.Sample("pstrain_limit_refusals_total", labels + ",limit=\"" + limit + "\"",
               static_cast<double>(n));
  };
  refusals("role=\"scheduler\",rank=\"0\"", s.scheduler_refusals);
  for (const AdminNode& n : s.nodes)
    if (n.role == "ps") refusals(NodeLabels(n), n.refusals);

  x.Family("pstrain_epoch_train_loss", "gauge", "Mean training loss of an epoch (1-based).");
  for (const AdminEpoch& e : s.epochs)
    if (e.samples)
      x.Sample("pstrain_epoch_train_loss", fmt::format("epoch=\"{}\"", e.epoch), e.train_loss);
  x.Family("pstrain_epoch_test_accuracy", "gauge",
           "Test accuracy of the model at the end of an epoch (1-based).");
  for (const AdminEpoch& e : s.epochs)
    if (e.evaluated)
      x.Sample("pstrain_epoch_test_accuracy", fmt::format("epoch=\"{}\"", e.epoch),
               e.test_accuracy);
  x.Family("pstrain_epoch_test_auc", "gauge",
           "Test AUC of a sparse model at the end of an epoch (1-based).");
  for (const AdminEpoch& e : s.epochs)
    if (e.evaluated && e.has_auc)
      x.Sample("pstrain_epoch_test_auc", fmt::format("epoch=\"{}\"", e.epoch), e.test_auc);
  x.Family("pstrain_epoch_test_log_loss", "gauge",
           "Mean test loss of the model at the end of an epoch (1-based).");
  for (const AdminEpoch& e : s.epochs)
    if (e.evaluated)
      x.Sample("pstrain_epoch_test_log_loss", fmt::format("epoch=\"{}\"", e.epoch), e.test_loss);

  x.Family("pstrain_node_up", "gauge", "1 while a node is alive or suspect, 0 once dead or left.");
  for (const AdminNode& n : s.nodes)
    x.Sample("pstrain_node_up", NodeLabels(n), n.state == "alive" || n.state == "suspect");
  x.Family("pstrain_node_samples_total", "counter", "Training samples a worker has finished.");
  for (const AdminNode& n : s.nodes)
    x.Sample("pstrain_node_samples_total", NodeLabels(n), static_cast<double>(n.samples));
  x.Family("pstrain_node_samples_per_second", "gauge",
           "Training speed of a worker, from its last heartbeats.");
  for (const AdminNode& n : s.nodes)
    x.Sample("pstrain_node_samples_per_second", NodeLabels(n), n.samples_per_second);
  x.Family("pstrain_node_heartbeat_age_seconds", "gauge", "Time since a node's last heartbeat.");
  for (const AdminNode& n : s.nodes)
    x.Sample("pstrain_node_heartbeat_age_seconds", NodeLabels(n), n.heartbeat_age_ms / 1e3);
  x.Family("pstrain_node_max_staleness", "gauge",
           "Largest staleness (clocks) a worker observed or a PS served so far.");
  for (const AdminNode& n : s.nodes)
    x.Sample("pstrain_node_max_staleness", NodeLabels(n), static_cast<double>(n.max_staleness));
  x.Family("pstrain_epoch_worker_seconds", "gauge",
           "Workers' time in an epoch's leases by activity (wait = waiting for pulls).");
  for (const AdminEpoch& e : s.epochs) {
    for (const auto& [what, ms] : {std::pair<const char*, double>{"wait", e.wait_ms},
                                   {"compute", e.compute_ms},
                                   {"push", e.push_ms}})
      x.Sample("pstrain_epoch_worker_seconds",
               fmt::format("epoch=\"{}\",activity=\"{}\"", e.epoch, what), ms / 1e3);
  }
  x.Family("pstrain_node_clock", "gauge",
           "Worker: the next clock it computes; PS: its model version.");
  for (const AdminNode& n : s.nodes)
    x.Sample("pstrain_node_clock", NodeLabels(n), static_cast<double>(n.clock));

  SparseMetrics(s, x);

  x.Family("pstrain_worker_pull_latency_seconds", "histogram",
           "A worker's pull round trips: a parameter block's request sent to its answer received.");
  for (const AdminNode& n : s.nodes)
    if (n.role == "worker")
      x.Histogram("pstrain_worker_pull_latency_seconds", NodeLabels(n), n.pull_latency);
  x.Family("pstrain_worker_push_latency_seconds", "histogram",
           "A worker's push round trips: a gradient block's request sent to its ack received.");
  for (const AdminNode& n : s.nodes)
    if (n.role == "worker")
      x.Histogram("pstrain_worker_push_latency_seconds", NodeLabels(n), n.push_latency);

  x.Family("pstrain_job_generation", "gauge", "The job's generation: bumped by every rollback.");
  x.Sample("pstrain_job_generation", "", s.generation);
  x.Family("pstrain_job_desired_workers", "gauge",
           "Workers the job should have (pstrain scale; a supervising launcher starts them).");
  x.Sample("pstrain_job_desired_workers", "", s.desired_workers);
  x.Family("pstrain_rollbacks_total", "counter", "Rollbacks to a checkpoint.");
  x.Sample("pstrain_rollbacks_total", "", static_cast<double>(s.rollbacks.size()));
  x.Family("pstrain_rollback_redone_clocks_total", "counter",
           "Clocks trained again because of rollbacks (furthest worker clock - resume clock).");
  x.Sample("pstrain_rollback_redone_clocks_total", "", static_cast<double>(s.RedoneClocks()));
  x.Family("pstrain_checkpoints_total", "counter", "Complete (committed) checkpoints.");
  x.Sample("pstrain_checkpoints_total", "", static_cast<double>(s.checkpoints.size()));
  const AdminCheckpoint none;
  const AdminCheckpoint& last = s.checkpoints.empty() ? none : s.checkpoints.back();
  x.Family("pstrain_checkpoint_last_id", "gauge",
           "Id of the newest complete checkpoint (0: none yet).");
  x.Sample("pstrain_checkpoint_last_id", "", static_cast<double>(last.id));
  x.Family("pstrain_checkpoint_last_clock", "gauge",
           "Clock of the newest complete checkpoint (0: none yet).");
  x.Sample("pstrain_checkpoint_last_clock", "", static_cast<double>(last.clock));
  x.Family("pstrain_checkpoint_last_timestamp_seconds", "gauge",
           "Unix time the newest complete checkpoint completed (absent: none yet).");
  if (!s.checkpoints.empty())
    x.Sample("pstrain_checkpoint_last_timestamp_seconds", "", last.unix_ms / 1e3);
  LatencyHistogram durations;
  for (const AdminCheckpoint& c : s.checkpoints) durations.Record(c.duration_ms / 1e3);
  x.Family("pstrain_checkpoint_duration_seconds", "histogram",
           "Complete checkpoint rounds: from the round's start to every PS having written it.");
  x.Histogram("pstrain_checkpoint_duration_seconds", "", durations);
  return x.Take();
}

namespace {

AdminSnapshot SnapshotFromProtoOrThrow(proto::JobStatusResponse::Reader r) {
  AdminSnapshot s;
  s.job_state = AdminJobStateName(r.getState());
  s.failure = r.getMessage().cStr();
  s.waiting_for = r.getWaitingFor().cStr();
  s.total_epochs = r.getTotalEpochs();
  s.samples_per_epoch = r.getSamplesPerEpoch();
  s.elapsed_ms = r.getElapsedMs();
  s.admin_url = r.getAdminUrl().cStr();
  s.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  s.generation = r.getGeneration();
  s.desired_workers = r.getDesiredWorkers();
  for (auto c : r.getCheckpoints())
    s.checkpoints.push_back(
        {c.getId(), c.getClock(), c.getGeneration(), c.getDurationMs(), c.getUnixMs()});
  for (auto b : r.getRollbacks())
    s.rollbacks.push_back({b.getGeneration(), b.getCheckpointId(), b.getClock(), b.getLostClocks(),
                           b.getReason().cStr(), b.getStartMs(), b.getEndMs()});
  for (auto e : r.getEpochs()) {
    AdminEpoch a;
    a.epoch = e.getEpoch() + 1;
    a.samples = e.getSamples();
    a.train_loss = e.getSamples() ? e.getLossSum() / double(e.getSamples()) : 0;
    a.evaluated = e.getEvaluated();
    a.test_correct = e.getTestCorrect();
    a.test_total = e.getTestTotal();
    a.test_accuracy = e.getTestTotal() ? double(e.getTestCorrect()) / e.getTestTotal() : 0;
    a.test_loss = e.getTestTotal() ? e.getTestLossSum() / double(e.getTestTotal()) : 0;
    a.has_auc = e.getHasAuc();
    a.test_auc = e.getTestAuc();
    a.start_ms = e.getStartMs();
    a.end_ms = e.getEndMs();
    a.wait_ms = e.getWaitMs();
    a.compute_ms = e.getComputeMs();
    a.push_ms = e.getPushMs();
    s.epochs.push_back(a);
  }
  for (auto n : r.getNodes()) {
    AdminNode a;
    a.role = AdminRoleName(n.getRole());
    a.rank = n.getRank();
    a.endpoint = n.getEndpoint().cStr();
    a.host = n.getHost().cStr();
    a.pid = n.getPid();
    a.state = AdminNodeStateName(n.getState());
    a.clock = n.getClock();
    a.samples = n.getSamples();
    a.loss_sum = n.getLossSum();
    a.steps = n.getSteps();
    a.samples_per_second = n.getSamplesPerSecond();
    a.heartbeat_age_ms = n.getLastHeartbeatAgeMs();
    a.max_staleness = n.getMaxStaleness();
    a.sparse_tables = FromProto(n.getSparseTables());
    if (a.role == "ps") ++s.expected_servers;
    if (a.role == "worker") ++s.expected_workers;
    s.nodes.push_back(std::move(a));
  }
  return s;
}

}  // namespace

StatusOr<AdminSnapshot> SnapshotFromProto(proto::JobStatusResponse::Reader r) {
  try {
    return SnapshotFromProtoOrThrow(r);
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument(std::string("malformed job status: ") +
                                   e.getDescription().cStr());
  }
}

}  // namespace pst
