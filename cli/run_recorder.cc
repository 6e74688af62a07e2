#include "cli/run_recorder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "cli/report_command.h"
#include "scheduler/admin_snapshot.h"

namespace pst {

RunRecorder::RunRecorder(std::string run_dir, ProgressPrinter& progress)
    : run_dir_(std::move(run_dir)), progress_(progress) {
  if (auto h = RunHistory::Open(run_dir_ + "/metrics.jsonl"); h.ok()) {
    history_ = std::move(h).value();
  } else {
    progress_.Line("warning: " + h.status().message() + "; no metrics history or plots for this run");
  }
}

void RunRecorder::Append(const nlohmann::json& line) {
  if (!history_) return;
  Status hs = history_->Append(line);
  if (!hs.ok()) {
    progress_.Line("warning: " + hs.message() + "; the metrics history stops here");
    history_.reset();
  }
}

void RunRecorder::Progress(proto::JobStatusResponse::Reader st, uint32_t epochs,
                           std::chrono::steady_clock::time_point launched) {
  const auto now = std::chrono::steady_clock::now();
  const proto::JobState state = st.getState();
  if (now - last_line_ < std::chrono::seconds(1) && state != proto::JobState::DONE &&
      state != proto::JobState::FAILED)
    return;
  last_line_ = now;
  uint64_t samples = 0, samples_done = 0;
  double loss_sum = 0;
  for (auto n : st.getNodes()) {
    if (n.getRole() != proto::Role::WORKER) continue;
    samples += n.getSamples();
    loss_sum += n.getLossSum();
  }
  for (auto e : st.getEpochs()) samples_done += e.getSamples();
  const double elapsed_s = st.getElapsedMs() / 1000.0;
  nlohmann::json line_loss, line_rate = 0.0;
  if (samples > line_samples_) {
    line_loss = (loss_sum - line_loss_sum_) / double(samples - line_samples_);
    // Over training time (which starts at the first lease, not at launch).
    line_rate = (samples - line_samples_) / std::max(1e-3, elapsed_s - line_elapsed_);
  }
  line_samples_ = samples;
  line_loss_sum_ = loss_sum;
  line_elapsed_ = elapsed_s;
  nlohmann::json line{
      {"type", "progress"},
      {"t", std::chrono::duration<double>(now - launched).count()},
      {"elapsed", elapsed_s},
      {"state", AdminJobStateName(state)},
      {"samples", samples_done},
      {"samples_per_second", line_rate},
      {"loss", line_loss},
      {"epoch", st.getSamplesPerEpoch() > 0 ? std::min<uint64_t>(epochs, samples / st.getSamplesPerEpoch() + 1) : 0}};
  nlohmann::json nodes = nlohmann::json::array();
  for (auto n : st.getNodes())
    nodes.push_back({{"role", AdminRoleName(n.getRole())},
                     {"rank", n.getRank()},
                     {"state", AdminNodeStateName(n.getState())},
                     {"clock", n.getClock()},
                     {"samples", n.getSamples()}});
  line["nodes"] = std::move(nodes);
  Append(line);
}

void RunRecorder::Epoch(const EpochSummary& es) {
  Append({{"type", "epoch"},
          {"epoch", es.epoch},
          {"train_loss", es.train_loss},
          {"test_accuracy", es.test_accuracy},
          {"test_auc", es.has_auc ? nlohmann::json(es.test_auc) : nlohmann::json()},
          {"test_log_loss", es.test_log_loss},
          {"seconds", es.seconds},
          {"end_elapsed", es.end_seconds},
          {"worker_compute_seconds", es.compute_seconds},
          {"worker_wait_seconds", es.wait_seconds},
          {"worker_push_seconds", es.push_seconds}});
}

void RunRecorder::WritePlots() {
  auto lines = ReadRunHistory(run_dir_ + "/metrics.jsonl");
  if (!lines.ok()) return;
  Status ps = WriteRunPlots(run_dir_, *lines);
  std::error_code ec;
  const bool auc = std::filesystem::exists(run_dir_ + "/auc.svg", ec);  // a sparse model's
  if (ps.ok())
    progress_.Line(fmt::format("plots: {0}/loss.svg, {0}/accuracy.svg, {0}/throughput.svg{1}",
                               run_dir_, auc ? ", " + run_dir_ + "/auc.svg" : ""));
  else
    progress_.Line("warning: " + ps.message());
}

Status WriteResultJson(const std::string& path, const LaunchOptions& options, const LaunchResult& r) {
  nlohmann::json j;
  j["run_dir"] = r.run_dir;
  // A sparse job's workers write no model file: its model is in the checkpoints
  // (`pstrain export`).
  j["model"] = options.job.sparse() ? nlohmann::json() : nlohmann::json(r.model_path);
  j["servers"] = options.job.num_servers;
  j["workers"] = options.job.num_workers;
  j["step_delay_ms"] = options.step_delay_ms;
  j["pin_cpus"] = options.pin_cpus;
  j["final_test_accuracy"] = r.final_test_accuracy;
  if (options.job.sparse()) {
    j["model_kind"] = ModelKindName(options.job.model.kind);
    j["final_test_auc"] = r.final_test_auc;
    j["target_auc"] = options.job.train.target_auc;
  }
  j["wall_seconds"] = r.wall_seconds;
  j["samples_per_second"] = r.samples_per_second;
  j["target_accuracy"] = options.job.train.target_accuracy;
  j["target_reached"] = r.target_reached;
  if (r.target_reached) j["seconds_to_target"] = r.seconds_to_target;
  j["resumed"] = r.resumed;
  j["restarts"] = r.restarts;
  j["rollbacks"] = r.generation;
  j["redone_clocks"] = r.redone_clocks;
  j["complete_checkpoints"] = r.checkpoints;
  if (r.fault.injected) {
    j["fault"] = {{"kind", FaultKindName(options.fault.kind)},
                  {"target", r.fault.target},
                  {"injected_at", r.fault.injected_at},
                  {"detected_at", r.fault.detected_at},
                  {"recovered_at", r.fault.recovered_at}};
  }
  j["epochs"] = nlohmann::json::array();
  for (const EpochSummary& e : r.epochs)
    j["epochs"].push_back({{"epoch", e.epoch},
                           {"samples", e.samples},
                           {"train_loss", e.train_loss},
                           {"test_accuracy", e.test_accuracy},
                           {"test_auc", e.has_auc ? nlohmann::json(e.test_auc) : nlohmann::json()},
                           {"test_log_loss", e.test_log_loss},
                           {"seconds", e.seconds},
                           {"worker_wait_seconds", e.wait_seconds},
                           {"worker_compute_seconds", e.compute_seconds},
                           {"worker_push_seconds", e.push_seconds}});
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) return Status::Unavailable("cannot write " + path);
  return Status::OK();
}

}  // namespace pst
