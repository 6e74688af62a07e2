#include "cli/status_command.h"

#include <algorithm>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <kj/exception.h>
#include <zmq.hpp>

#include "cli/key_setup.h"
#include "common/channel.h"

namespace pst {
namespace {

std::string Thousands(uint64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

StatusOr<std::string> ResolveSchedulerEndpoint(const std::string& scheduler,
                                               const std::string& run_dir) {
  if (scheduler.empty() == run_dir.empty())
    return Status::InvalidArgument(
        "give either --scheduler tcp://HOST:PORT or --run-dir DIR (see --help)");
  if (!scheduler.empty()) return scheduler;
  const std::string path = run_dir + "/scheduler.endpoint";
  std::ifstream in(path);
  std::string endpoint;
  if (!in || !std::getline(in, endpoint) || endpoint.empty())
    return Status::NotFound("no scheduler address in " + path + ": is " + run_dir +
                            " the run directory of a `pstrain launch`?");
  return endpoint;
}

// One line per sparse table and PS shard; "" when the job has none.
std::string FormatSparseTables(const AdminSnapshot& s) {
  std::vector<std::vector<std::string>> rows{{"SPARSE TABLE", "SHARD", "ROWS", "MEMORY",
                                              "BYTES/ROW", "ADMITTED", "EVICTED",
                                              "UNADMITTED UPDATES"}};
  for (const AdminNode& n : s.nodes) {
    if (n.role != "ps") continue;
    for (const SparseTableReport& t : n.sparse_tables)
      rows.push_back({t.table, std::to_string(n.rank), Thousands(t.rows),
                      fmt::format("{:.1f} MiB", t.bytes / 1048576.0),
                      t.rows ? fmt::format("{:.1f}", double(t.bytes) / double(t.rows)) : "-",
                      Thousands(t.admitted), Thousands(t.evicted), Thousands(t.unadmitted_updates)});
  }
  if (rows.size() == 1) return "";
  std::vector<size_t> w(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  std::string out;
  for (const auto& r : rows) {
    out += fmt::format("{:<{}}", r[0], w[0]);
    for (size_t i = 1; i < r.size(); ++i) out += fmt::format("  {:>{}}", r[i], w[i]);
    out += "\n";
  }
  return out;
}

std::string FormatStatusTable(const AdminSnapshot& s) {
  std::string out;
  const uint32_t done = s.EpochsCompleted();
  const uint32_t current = std::min(s.total_epochs, done + (s.job_state == "running" ? 1u : 0u));
  out += fmt::format("job: {}  epoch {}/{}", s.job_state, current, s.total_epochs);
  const uint64_t samples = s.SamplesDone();
  const uint64_t total = s.samples_per_epoch * s.total_epochs;
  if (total > 0)
    out += fmt::format("  samples {} of {} ({:.1f}%)", Thousands(samples), Thousands(total),
                       100.0 * double(samples) / double(total));
  out += fmt::format("  training {:.1f} s", s.elapsed_ms / 1000.0);
  for (auto it = s.epochs.rbegin(); it != s.epochs.rend(); ++it) {
    if (!it->evaluated) continue;
    out += fmt::format("  last test accuracy {:.4f} (epoch {})", it->test_accuracy, it->epoch);
    break;
  }
  out += "\n";
  if (!s.failure.empty()) out += "failure: " + s.failure + "\n";
  if (!s.waiting_for.empty()) out += s.waiting_for + "\n";
  if (!s.admin_url.empty()) out += "admin: " + s.admin_url + "\n";
  struct Row {
    std::string role, rank, address, state, clock, rate, heartbeat;
  };
  std::vector<Row> rows{
      {"ROLE", "RANK", "ADDRESS", "STATE", "CLOCK", "SAMPLES/S", "LAST HEARTBEAT"}};
  for (const AdminNode& n : s.nodes) {
    Row r;
    r.role = n.role;
    r.rank = std::to_string(n.rank);
    r.address = !n.endpoint.empty() ? n.endpoint : fmt::format("pid {} on {}", n.pid, n.host);
    r.state = n.state;
    r.clock = std::to_string(n.clock);
    r.rate =
        n.role == "worker" ? Thousands(static_cast<uint64_t>(n.samples_per_second + 0.5)) : "-";
    r.heartbeat = fmt::format("{:.1f} s ago", n.heartbeat_age_ms / 1000.0);
    rows.push_back(std::move(r));
  }
  size_t w[7] = {};
  for (const Row& r : rows) {
    const std::string* cells[7] = {&r.role,  &r.rank, &r.address,  &r.state,
                                   &r.clock, &r.rate, &r.heartbeat};
    for (int i = 0; i < 7; ++i) w[i] = std::max(w[i], cells[i]->size());
  }
  for (const Row& r : rows) {
    out +=
        fmt::format("{:<{}}  {:>{}}  {:<{}}  {:<{}}  {:>{}}  {:>{}}  {}\n", r.role, w[0], r.rank,
                    w[1], r.address, w[2], r.state, w[3], r.clock, w[4], r.rate, w[5], r.heartbeat);
  }
  if (s.nodes.empty()) out += "(no node has registered yet)\n";
  out += FormatSparseTables(s);
  return out;
}

StatusOr<AdminSnapshot> FetchJobStatus(const StatusCommandOptions& options) {
  PST_ASSIGN_OR_RETURN(const std::string endpoint, ResolveSchedulerEndpoint(options.scheduler, options.run_dir));
  PST_ASSIGN_OR_RETURN(const auto curve, ResolveControlKeys(options.key_dir, options.run_dir));
  zmq::context_t ctx(1);
  PST_ASSIGN_OR_RETURN(auto channel, Channel::Connect(ctx, endpoint, {}, curve.get()));
  OutMessage req;
  req.envelope().getBody().initJobStatusRequest();
  auto reply = channel->Call(req, options.timeout);
  if (!reply.ok()) {
    if (reply.status().code() == StatusCode::kDeadlineExceeded ||
        reply.status().code() == StatusCode::kUnavailable)
      return Status::Unavailable(fmt::format(
          "cannot reach the scheduler at {}: no answer within {:.0f} s; check that the job is "
          "still running (`pstrain launch` prints the scheduler's address) or pass the right "
          "--scheduler / --run-dir (and, for a secured job, its --key-dir)",
          endpoint, options.timeout.count() / 1000.0));
    return reply.status().WithContext("scheduler at " + endpoint);
  }
  AdminSnapshot snapshot;
  try {
    auto body = reply->envelope().getBody();
    if (!body.isJobStatusResponse())
      return Status::Internal("the scheduler at " + endpoint + " sent an unexpected reply");
    auto st = body.getJobStatusResponse();
    const Status rpc = FromRpcStatus(st.getStatus());
    if (!rpc.ok()) return rpc.WithContext("the scheduler at " + endpoint + " refused the request");
    PST_ASSIGN_OR_RETURN(snapshot, SnapshotFromProto(st));
  } catch (const kj::Exception& e) {
    return Status::Internal("unreadable status from " + endpoint + ": " +
                            e.getDescription().cStr());
  }
  snapshot.scheduler_endpoint = endpoint;
  return snapshot;
}

Status RunStatusCommand(const StatusCommandOptions& options, std::ostream& out) {
  PST_ASSIGN_OR_RETURN(const AdminSnapshot snapshot, FetchJobStatus(options));
  if (options.json) {
    out << RenderStatusJson(snapshot, 2) << "\n";
  } else {
    out << FormatStatusTable(snapshot);
  }
  return Status::OK();
}

}  // namespace pst
