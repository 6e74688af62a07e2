#include "cli/report_command.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

namespace pst {
namespace {

std::string FreshDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("pst_cli_report_" + std::to_string(getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

TEST_CASE("RunReportCommand: summarises result.json, errors name the problem", "[cli]") {
  const std::string dir = FreshDir("run");
  std::ostringstream out;
  SECTION("no result.json") {
    Status s = RunReportCommand({dir, false}, out);
    CHECK(s.code() == StatusCode::kNotFound);
    CHECK(s.message() == dir + " has no result.json: the job did not finish (see " + dir + "/logs)");
  }
  SECTION("missing directory") {
    Status s = RunReportCommand({dir + "/nope", false}, out);
    CHECK(s.code() == StatusCode::kNotFound);
    CHECK(s.message().find("no such directory") != std::string::npos);
  }
  SECTION("corrupt result.json") {
    std::ofstream(dir + "/result.json") << "{\"epochs\": [";
    CHECK(RunReportCommand({dir, false}, out).code() == StatusCode::kDataLoss);
  }
  SECTION("a result without job.toml or metrics") {
    std::ofstream(dir + "/result.json") << R"({"servers": 1, "workers": 3, "final_test_accuracy": 0.8123,
      "wall_seconds": 2.5, "samples_per_second": 1000, "target_accuracy": 0.8, "target_reached": true,
      "seconds_to_target": 2.5, "epochs": [{"epoch": 1, "train_loss": 0.6, "test_accuracy": 0.8123,
      "seconds": 2.5, "worker_wait_seconds": 1, "worker_compute_seconds": 3, "worker_push_seconds": 0}]})";
    REQUIRE(RunReportCommand({dir, false}, out).ok());
    const std::string text = out.str();
    INFO(text);
    CHECK(text.find("1 PS + 3 worker(s)") != std::string::npos);
    CHECK(text.find("    1      0.6000         0.8123      2.50       75%      25%       0%") !=
          std::string::npos);
    CHECK(text.find("final test accuracy: 0.8123") != std::string::npos);
    CHECK(text.find("reached after 2.50 s") != std::string::npos);
    CHECK(text.find("plots: none") != std::string::npos);

    std::ostringstream json;
    REQUIRE(RunReportCommand({dir, true}, json).ok());
    const auto j = nlohmann::json::parse(json.str());
    CHECK(j["epochs"].size() == 1);
    CHECK(j["epochs"][0]["compute_pct"] == Approx(75));
    CHECK(j["target_reached"] == true);
  }
}

TEST_CASE("WriteRunPlots: writes the three plots, even from no history", "[cli]") {
  const std::string dir = FreshDir("plots");
  REQUIRE(WriteRunPlots(dir, {}).ok());
  for (const char* f : {"loss.svg", "accuracy.svg", "throughput.svg"})
    CHECK(std::filesystem::file_size(dir + "/" + f) > 0);
  CHECK(WriteRunPlots(dir + "/missing", {}).code() == StatusCode::kUnavailable);
}

TEST_CASE("WriteRunPlots: a sparse model's epochs give auc.svg with the AUC and log-loss curves",
          "[cli]") {
  const std::string dir = FreshDir("auc");
  std::vector<nlohmann::json> history = {
      {{"type", "epoch"}, {"epoch", 1}, {"train_loss", 0.6}, {"test_accuracy", 0.7},
       {"test_auc", 0.71}, {"test_log_loss", 0.58}, {"end_elapsed", 1.0}},
      {{"type", "epoch"}, {"epoch", 2}, {"train_loss", 0.5}, {"test_accuracy", 0.72},
       {"test_auc", 0.78}, {"test_log_loss", 0.52}, {"end_elapsed", 2.0}}};
  REQUIRE(WriteRunPlots(dir, history).ok());
  std::ifstream in(dir + "/auc.svg");
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(svg.find("Test AUC and log-loss per epoch") != std::string::npos);
  CHECK(svg.find(">test AUC<") != std::string::npos);
  CHECK(svg.find(">test log-loss<") != std::string::npos);
  // One line per series, each through its two epochs.
  size_t lines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1))
    ++lines;
  CHECK(lines == 2);

  // The MLP's epochs (no AUC) give no auc.svg.
  const std::string mlp = FreshDir("mlp");
  history[0].erase("test_auc");
  history[1]["test_auc"] = nullptr;
  REQUIRE(WriteRunPlots(mlp, history).ok());
  CHECK_FALSE(std::filesystem::exists(mlp + "/auc.svg"));
}

}  // namespace
}  // namespace pst
