#include "cli/run_history.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

namespace pst {
namespace {

std::string TempPath(const std::string& name) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("pst_cli_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

TEST_CASE("RunHistory: appends one parseable line per record", "[cli]") {
  const std::string path = TempPath("metrics.jsonl");
  std::filesystem::remove(path);
  {
    auto h = RunHistory::Open(path);
    REQUIRE(h.ok());
    REQUIRE((*h)->Append({{"type", "progress"}, {"t", 1.5}, {"loss", nullptr}}).ok());
    // Flushed at once: visible before the writer closes.
    std::ifstream in(path);
    std::string line;
    REQUIRE(std::getline(in, line));
    CHECK(nlohmann::json::parse(line)["t"] == 1.5);
    REQUIRE((*h)->Append({{"type", "epoch"}, {"epoch", 1}, {"train_loss", std::nan("")}}).ok());
  }
  {
    // Reopening appends.
    auto h = RunHistory::Open(path);
    REQUIRE(h.ok());
    REQUIRE((*h)->Append({{"type", "epoch"}, {"epoch", 2}}).ok());
  }
  std::ofstream(path, std::ios::app) << "{\"torn\":";  // a torn last line is skipped
  auto lines = ReadRunHistory(path);
  REQUIRE(lines.ok());
  REQUIRE(lines->size() == 3);
  CHECK((*lines)[0]["type"] == "progress");
  CHECK((*lines)[1]["train_loss"].is_null());  // NaN becomes null
  CHECK((*lines)[2]["epoch"] == 2);
}

TEST_CASE("RunHistory: Open and ReadRunHistory report missing paths", "[cli]") {
  CHECK(RunHistory::Open("/nonexistent/dir/metrics.jsonl").status().code() ==
        StatusCode::kUnavailable);
  CHECK(ReadRunHistory("/nonexistent/metrics.jsonl").status().code() == StatusCode::kNotFound);
}

}  // namespace
}  // namespace pst
