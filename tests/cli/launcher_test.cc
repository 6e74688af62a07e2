#include "cli/launcher.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

namespace pst {
namespace {

TEST_CASE("Launch: step delays up to the limit are valid", "[cli]") {
  LaunchOptions o;
  CHECK(ValidateLaunchOptions(o).ok());
  o.step_delay_ms = kMaxStepDelayMs;
  o.straggler_delay_ms = kMaxStepDelayMs;
  CHECK(ValidateLaunchOptions(o).ok());
}

TEST_CASE("Launch: a step delay above the limit is one error naming the flag", "[cli]") {
  LaunchOptions o;
  o.step_delay_ms = kMaxStepDelayMs + 1;
  Status s = ValidateLaunchOptions(o);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message() == "--step-delay-ms: expected milliseconds in [0, 60000], got 60001");

  o.step_delay_ms = 10;
  o.straggler_delay_ms = 4000000000u;
  s = ValidateLaunchOptions(o);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("--worker-delay-ms") == 0);
}

TEST_CASE("Launch: a bad step delay fails before anything is created", "[cli]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("pst_cli_launcher_test_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  LaunchOptions o;
  o.run_dir = (dir / "run").string();
  o.bin_dir = dir.string();  // holds no binaries: we must not get that far
  o.step_delay_ms = kMaxStepDelayMs + 1;
  std::atomic<bool> interrupted{false};
  std::ostringstream out;
  auto r = Launch(o, interrupted, out);
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(r.status().message().find("--step-delay-ms") == 0);
  CHECK(out.str().empty());
  CHECK_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace pst
