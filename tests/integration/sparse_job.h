// Helpers for integration tests of sparse models on real local clusters:
// synthetic Criteo-like data from pstrain-datagen (labels from a hidden
// model, so the data are the same on every machine), job files, launches and
// the per-epoch sample count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pst::testing {

// Training samples of MakeSparseData()'s train.tsv.
inline constexpr uint64_t kSparseTrainSamples = 27030;

// 30,000 samples (27,030 train, 2,970 test), 13 dense + 26 categorical
// fields, 2,000 ids per field, in a fresh directory (Catch2 REQUIREs success).
std::string MakeSparseData();

struct SparseJob {
  std::string model = "lr";
  std::string consistency = "bsp";
  uint32_t servers = 2;
  uint32_t workers = 2;
  uint32_t epochs = 2;
  uint32_t checkpoint_every_steps = 0;
  uint32_t checkpoint_keep = 3;
  std::string extra;  // more TOML
};

// Writes the job file for `data` (a MakeSparseData() directory); its path.
std::string WriteSparseJob(const std::string& data, const SparseJob& j);

// `pstrain launch` of `job` into `run_dir` with `extra_flags`; REQUIREs exit
// 0, the AUC progress line and no orphans; the run's result.json.
nlohmann::json LaunchSparse(const std::string& job, const std::string& run_dir,
                            const std::vector<std::string>& extra_flags = {});

// Every epoch trained every training sample exactly once (the scheduler's count).
void CheckEverySampleOnce(const nlohmann::json& result);

}  // namespace pst::testing
