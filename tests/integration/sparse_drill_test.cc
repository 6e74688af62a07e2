// `pstrain drill` on a sparse job (FM on synthetic click data, 2 PS + 2
// workers, BSP, a checkpoint every 20 clocks): each fault kind is injected
// when the launcher's status poll sees half of the job's samples trained (an
// observed point, not a sleep), the job must recover, train every sample of
// every epoch once and end within 1 point of test AUC of a fault-free run.
// (Killing a PS of a sparse job is tested, with its restored rows, in
// sparse_recovery_test.cc.)
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/integration/sparse_job.h"

namespace pst {
namespace {

using std::chrono::seconds;
using testing::CheckEverySampleOnce;
using testing::LaunchSparse;
using testing::MakeSparseData;
using testing::MakeTempDir;
using testing::ReadFile;
using testing::RunPstrain;
using testing::SparseJob;
using testing::WriteSparseJob;

TEST_CASE("Sparse drill: kill -9 of a worker and of the scheduler, a paused worker, workers "
          "removed and added: each recovers within 1 point of test AUC",
          "[integration]") {
  const std::string data = MakeSparseData();
  SparseJob j;
  j.model = "fm";
  j.checkpoint_every_steps = 20;
  const std::string job = WriteSparseJob(data, j);
  // One fault-free run is every drill's baseline (--baseline-accuracy).
  const nlohmann::json baseline = LaunchSparse(job, MakeTempDir() + "/run");
  const double auc = baseline["final_test_auc"].get<double>();
  REQUIRE(auc > 0.65);

  for (const std::string scenario :
       {"kill-scheduler", "kill-worker", "pause-worker", "remove-workers", "add-workers"}) {
    INFO(scenario);
    const std::string dir = MakeTempDir() + "/drill";
    // 5 ms a step stretches the job (about 2 s an epoch) past the heartbeat
    // timeout the drills use (1 s), so a paused worker is declared dead.
    auto r = RunPstrain({"pstrain", "drill", scenario, "--job", job, "--run-dir", dir, "--at",
                         "0.4", "--step-delay-ms", "5", "--pause-s", "2",
                         "--baseline-accuracy", fmt::format("{:.6f}", auc)},
                        seconds(300));
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("PASSED") != std::string::npos);
    CHECK(r.output.find("final test AUC:") != std::string::npos);
    CHECK(r.output.find("time to recover:  n/a") == std::string::npos);
    const auto result = nlohmann::json::parse(ReadFile(dir + "/fault/result.json"));
    CHECK(result["fault"]["kind"] == scenario);
    CHECK(result["fault"]["injected_at"].get<double>() > 0);
    CheckEverySampleOnce(result);
    testing::RequireNoOrphans(dir);
  }
}

}  // namespace
}  // namespace pst
