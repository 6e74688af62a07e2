#include "cli/report_command.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <fmt/format.h>

#include "cli/run_history.h"
#include "cli/svg_plot.h"
#include "common/job_file.h"

namespace pst {
namespace fs = std::filesystem;
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A number field of `j`, NaN when it is missing or not a number.
double Num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : kNaN;
}

std::string Type(const nlohmann::json& j) {
  auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.close();
  if (!f) return Status::Unavailable("cannot write " + path);
  return Status::OK();
}

}  // namespace

Status WriteRunPlots(const std::string& run_dir, const std::vector<nlohmann::json>& history) {
  PlotSeries loss{"training loss (recent)", "#1f77b4", {}, false};
  PlotSeries epoch_loss{"epoch train loss", "#d62728", {}, true};
  PlotSeries accuracy{"test accuracy", "#2ca02c", {}, false};
  PlotSeries throughput{"samples/s", "#ff7f0e", {}, false};
  PlotSeries auc{"test AUC", "#9467bd", {}, false};
  PlotSeries log_loss{"test log-loss", "#8c564b", {}, false};
  for (const nlohmann::json& j : history) {
    if (!j.is_object()) continue;
    const std::string type = Type(j);
    if (type == "progress") {
      const double t = Num(j, "elapsed");
      if (t > 0) {
        loss.points.emplace_back(t, Num(j, "loss"));
        const auto state = j.value("state", std::string());
        if (state == "running") throughput.points.emplace_back(t, Num(j, "samples_per_second"));
      }
    } else if (type == "epoch") {
      epoch_loss.points.emplace_back(Num(j, "end_elapsed"), Num(j, "train_loss"));
      accuracy.points.emplace_back(Num(j, "epoch"), Num(j, "test_accuracy"));
      if (j.contains("test_auc") && j["test_auc"].is_number()) {  // a sparse model
        auc.points.emplace_back(Num(j, "epoch"), Num(j, "test_auc"));
        log_loss.points.emplace_back(Num(j, "epoch"), Num(j, "test_log_loss"));
      }
    }
  }
  LinePlot lp{"Training loss", "training time (s)", "loss", {loss, epoch_loss}};
  lp.y_from_zero = lp.x_from_zero = true;
  LinePlot ap{"Test accuracy per epoch", "epoch", "test accuracy", {accuracy}};
  ap.x_integer = true;
  LinePlot tp{"Training throughput", "training time (s)", "samples/s", {throughput}};
  tp.y_from_zero = tp.x_from_zero = true;
  PST_RETURN_IF_ERROR(WriteFile(run_dir + "/loss.svg", RenderSvg(lp)));
  PST_RETURN_IF_ERROR(WriteFile(run_dir + "/accuracy.svg", RenderSvg(ap)));
  PST_RETURN_IF_ERROR(WriteFile(run_dir + "/throughput.svg", RenderSvg(tp)));
  if (auc.points.empty()) return Status::OK();
  LinePlot qp{"Test AUC and log-loss per epoch", "epoch", "AUC, log-loss", {auc, log_loss}};
  qp.x_integer = true;
  return WriteFile(run_dir + "/auc.svg", RenderSvg(qp));
}

Status RunReportCommand(const ReportOptions& options, std::ostream& out) {
  const std::string& dir = options.run_dir;
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return Status::NotFound("no such directory: " + dir +
                            " (give the run directory of a `pstrain launch`)");
  if (!fs::is_directory(dir, ec))
    return Status::NotFound(dir +
                            " is not a directory (give the run directory of a `pstrain launch`)");
  const std::string result_path = dir + "/result.json";
  if (!fs::exists(result_path, ec))
    return Status::NotFound(dir + " has no result.json: the job did not finish (see " + dir +
                            "/logs)");
  nlohmann::json result;
  {
    std::ifstream in(result_path);
    result = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  }
  if (!result.is_object() || !result.contains("epochs") || !result["epochs"].is_array())
    return Status::DataLoss(result_path + " is not a pstrain result (corrupt or truncated JSON)");

  nlohmann::json summary;
  summary["run_dir"] = dir;
  // The job, from job.toml (optional).
  if (auto job = LoadJobFile(dir + "/job.toml"); job.ok()) {
    std::string layers;
    for (uint32_t l : job->model.layer_sizes)
      layers += (layers.empty() ? "" : "-") + std::to_string(l);
    summary["job"] = {{"model", layers},
                      {"optimizer", OptimizerKindName(job->optimizer.kind)},
                      {"consistency", ConsistencyName(job->train.consistency)},
                      {"servers", job->num_servers},
                      {"workers", job->num_workers},
                      {"epochs", job->train.epochs}};
  } else {
    summary["job"] = {{"servers", result.value("servers", 0)},
                      {"workers", result.value("workers", 0)}};
  }
  nlohmann::json epochs = nlohmann::json::array();
  for (const nlohmann::json& e : result["epochs"]) {
    if (!e.is_object()) continue;
    const double compute = Num(e, "worker_compute_seconds"), wait = Num(e, "worker_wait_seconds"),
                 push = Num(e, "worker_push_seconds");
    const double busy = compute + wait + push;
    auto pct = [busy](double v) { return busy > 0 ? 100.0 * v / busy : 0.0; };
    epochs.push_back({{"epoch", e.value("epoch", 0)},
                      {"train_loss", Num(e, "train_loss")},
                      {"test_accuracy", Num(e, "test_accuracy")},
                      {"seconds", Num(e, "seconds")},
                      {"compute_pct", pct(compute)},
                      {"wait_pct", pct(wait)},
                      {"push_pct", pct(push)}});
  }
  summary["epochs"] = epochs;
  summary["final_test_accuracy"] = Num(result, "final_test_accuracy");
  summary["training_seconds"] = Num(result, "wall_seconds");
  summary["samples_per_second"] = Num(result, "samples_per_second");
  summary["target_accuracy"] = Num(result, "target_accuracy");
  summary["target_reached"] = result.value("target_reached", false);
  if (result.contains("seconds_to_target"))
    summary["seconds_to_target"] = Num(result, "seconds_to_target");
  auto history = ReadRunHistory(dir + "/metrics.jsonl");
  summary["metrics_lines"] = history.ok() ? history->size() : 0;
  nlohmann::json files = nlohmann::json::object();
  for (const char* f :
       {"model.safetensors", "loss.svg", "accuracy.svg", "throughput.svg", "auc.svg",
        "metrics.jsonl"}) {
    const std::string path = dir + "/" + f;
    if (fs::exists(path, ec)) files[f] = path;
  }
  summary["files"] = files;

  if (options.json) {
    out << summary.dump(2) << "\n";
    return Status::OK();
  }
  const nlohmann::json& job = summary["job"];
  std::string line = "job: ";
  if (job.contains("model"))
    line += fmt::format("model {}, {}, {}, ", job["model"].get<std::string>(),
                        job["optimizer"].get<std::string>(), job["consistency"].get<std::string>());
  line += fmt::format("{} PS + {} worker(s)", job["servers"].get<uint32_t>(),
                      job["workers"].get<uint32_t>());
  out << line << "\n";
  out << fmt::format("{:>5}  {:>10}  {:>13}  {:>8}  {:>8}  {:>7}  {:>7}\n", "epoch", "train loss",
                     "test accuracy", "seconds", "compute", "wait", "push");
  for (const nlohmann::json& e : epochs)
    out << fmt::format("{:>5}  {:>10.4f}  {:>13.4f}  {:>8.2f}  {:>7.0f}%  {:>6.0f}%  {:>6.0f}%\n",
                       e["epoch"].get<int>(), e["train_loss"].get<double>(),
                       e["test_accuracy"].get<double>(), e["seconds"].get<double>(),
                       e["compute_pct"].get<double>(), e["wait_pct"].get<double>(),
                       e["push_pct"].get<double>());
  out << fmt::format("final test accuracy: {:.4f}\n", Num(result, "final_test_accuracy"));
  if (result.contains("final_test_auc") && result["final_test_auc"].is_number())
    out << fmt::format("final test AUC: {:.4f}\n", Num(result, "final_test_auc"));
  out << fmt::format("training time: {:.2f} s, {:.0f} samples/s\n", Num(result, "wall_seconds"),
                     Num(result, "samples_per_second"));
  const double target = Num(result, "target_accuracy");
  if (target > 0) {
    if (summary["target_reached"].get<bool>())
      out << fmt::format("target accuracy {:.4f}: reached after {:.2f} s of training\n", target,
                         Num(result, "seconds_to_target"));
    else
      out << fmt::format("target accuracy {:.4f}: not reached\n", target);
  } else {
    out << "target accuracy: none set\n";
  }
  std::vector<std::string> plots;
  for (const char* f : {"loss.svg", "accuracy.svg", "throughput.svg", "auc.svg"})
    if (files.contains(f)) plots.push_back(files[f].get<std::string>());
  std::string joined;
  for (const std::string& p : plots) joined += (joined.empty() ? "" : ", ") + p;
  out << "plots: " << (plots.empty() ? "none" : joined) << "\n";
  out << "model: "
      << (files.contains("model.safetensors") ? files["model.safetensors"].get<std::string>()
                                              : "none")
      << "\n";
  return Status::OK();
}

}  // namespace pst
