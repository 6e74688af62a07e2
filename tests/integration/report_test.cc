// Integration tests of a run directory's metrics history and plots, and of
// `pstrain report` (cli/report_command.h) on a real `pstrain launch` run.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace pst {
namespace {

using std::chrono::seconds;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::RequireNoOrphans;
using testing::RunPstrain;

// Every tag of `xml` is closed, in order (enough for the SVGs we write).
bool WellFormedSvg(const std::string& xml) {
  if (xml.find("<svg") == std::string::npos) return false;
  std::vector<std::string> stack;
  size_t i = 0;
  while ((i = xml.find('<', i)) != std::string::npos) {
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) return false;
    const std::string tag = xml.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return false;
    if (tag[0] == '?' || tag[0] == '!' || tag.back() == '/') continue;
    if (tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) return false;
      stack.pop_back();
    } else {
      stack.push_back(tag.substr(0, tag.find_first_of(" \t\n")));
    }
  }
  return stack.empty();
}

std::vector<nlohmann::json> ReadLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));  // throws if torn
  return out;
}

size_t CountType(const std::vector<nlohmann::json>& lines, const std::string& type) {
  size_t n = 0;
  for (const auto& j : lines) n += j.value("type", "") == type;
  return n;
}

TEST_CASE("Report: a run leaves metrics.jsonl and plots, and `pstrain report` summarises it",
          "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  auto r = RunPstrain({"pstrain", "launch", "--run-dir", run_dir, "--epochs", "2", "--train-limit",
                       "6000", "--progress", "lines"},
                      seconds(180));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("plots: " + run_dir + "/loss.svg") != std::string::npos);

  std::vector<nlohmann::json> lines;
  REQUIRE_NOTHROW(lines = ReadLines(run_dir + "/metrics.jsonl"));
  CHECK(CountType(lines, "progress") >= 1);
  REQUIRE(CountType(lines, "epoch") == 2);
  uint32_t next_epoch = 1;
  for (const auto& j : lines) {
    if (j["type"] == "progress") {
      CHECK(j.contains("t"));
      CHECK(j.contains("elapsed"));
      CHECK(j["nodes"].is_array());
    } else {
      CHECK(j["epoch"] == next_epoch++);
      CHECK(j["test_accuracy"].get<double>() > 0.5);
      CHECK(j.contains("worker_compute_seconds"));
    }
  }
  for (const char* f : {"loss.svg", "accuracy.svg", "throughput.svg"}) {
    INFO(f);
    CHECK(WellFormedSvg(ReadFile(run_dir + "/" + f)));
  }

  const auto result = nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
  auto report = RunPstrain({"pstrain", "report", run_dir}, seconds(20));
  INFO(report.output);
  REQUIRE(report.exit_code == 0);
  char final_line[64];
  std::snprintf(final_line, sizeof(final_line), "final test accuracy: %.4f",
                result["final_test_accuracy"].get<double>());
  CHECK(report.output.find(final_line) != std::string::npos);
  // One table row per epoch: "    1      0.xxxx ...".
  for (const auto& e : result["epochs"]) {
    char row[32];
    std::snprintf(row, sizeof(row), "\n%5d  ", e["epoch"].get<int>());
    CHECK(report.output.find(row) != std::string::npos);
  }
  CHECK(report.output.find("job: model 784-128-10") != std::string::npos);
  CHECK(report.output.find(run_dir + "/accuracy.svg") != std::string::npos);
  CHECK(report.output.find(run_dir + "/model.safetensors") != std::string::npos);

  auto json = RunPstrain({"pstrain", "report", run_dir, "--json"}, seconds(20));
  REQUIRE(json.exit_code == 0);
  const auto summary = nlohmann::json::parse(json.output);
  CHECK(summary["epochs"].size() == 2);
  CHECK(summary["final_test_accuracy"].get<double>() ==
        Approx(result["final_test_accuracy"].get<double>()));
}

TEST_CASE("Report: clear one-line errors for a missing or unfinished run directory",
          "[integration]") {
  auto missing = RunPstrain({"pstrain", "report", "/nonexistent"}, seconds(20));
  INFO(missing.output);
  CHECK(missing.exit_code == 1);
  CHECK(std::count(missing.output.begin(), missing.output.end(), '\n') == 1);
  CHECK(missing.output.find("/nonexistent") != std::string::npos);

  const std::string dir = MakeTempDir();
  auto unfinished = RunPstrain({"pstrain", "report", dir}, seconds(20));
  INFO(unfinished.output);
  CHECK(unfinished.exit_code == 1);
  CHECK(unfinished.output.find("has no result.json: the job did not finish") != std::string::npos);

  std::ofstream(dir + "/result.json") << "{\"epochs\": [";
  auto corrupt = RunPstrain({"pstrain", "report", dir}, seconds(20));
  INFO(corrupt.output);
  CHECK(corrupt.exit_code == 1);
  CHECK(std::count(corrupt.output.begin(), corrupt.output.end(), '\n') == 1);

  auto usage = RunPstrain({"pstrain", "report"}, seconds(20));
  CHECK(usage.exit_code == 2);
}

TEST_CASE("Report: an interrupted run still leaves its metrics history and loss plot",
          "[integration]") {
  const std::string run_dir = MakeTempDir() + "/run";
  auto r = RunPstrain(
      {"pstrain", "launch", "--run-dir", run_dir, "--epochs", "200", "--progress", "lines"},
      seconds(60), std::chrono::milliseconds(5000));
  INFO(r.output);
  CHECK(r.exit_code == 130);
  std::vector<nlohmann::json> lines;
  REQUIRE_NOTHROW(lines = ReadLines(run_dir + "/metrics.jsonl"));
  CHECK(CountType(lines, "progress") >= 1);
  CHECK(WellFormedSvg(ReadFile(run_dir + "/loss.svg")));
  CHECK(r.output.find("plots: ") != std::string::npos);
  RequireNoOrphans(run_dir);
}

}  // namespace
}  // namespace pst
