#include "tests/integration/sparse_job.h"

#include <fstream>

#include <catch2/catch.hpp>

#include "tests/integration/harness.h"

namespace pst::testing {

using std::chrono::seconds;

std::string MakeSparseData() {
  const std::string dir = MakeTempDir() + "/data";
  auto r = RunPstrain({"pstrain-datagen", "synthetic", "--out", dir, "--samples", "30000",
                       "--vocabulary", "2000", "--seed", "3"},
                      seconds(120));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return dir;
}

std::string WriteSparseJob(const std::string& data, const SparseJob& j) {
  const std::string path = MakeTempDir() + "/job.toml";
  std::ofstream out(path);
  out << "[data]\nformat = \"criteo\"\ntrain = \"" << data << "/train.tsv\"\ntest = \"" << data
      << "/test.tsv\"\n[model]\nkind = \"" << j.model
      << "\"\nfactors = 4\nembedding_dim = 4\nhidden = [16]\n"
      << "[optimizer]\nkind = \"adagrad\"\nlearning_rate = 0.05\n"
      << "[train]\nbatch_size = 256\nbatches_per_shard = 8\nepochs = " << j.epochs
      << "\nconsistency = \"" << j.consistency << "\"\nstaleness = 1\n"
      << "[checkpoint]\nevery_steps = " << j.checkpoint_every_steps
      << "\nkeep = " << j.checkpoint_keep
      << "\n[cluster]\nservers = " << j.servers << "\nworkers = " << j.workers << "\n"
      << j.extra;
  return path;
}

nlohmann::json LaunchSparse(const std::string& job, const std::string& run_dir,
                            const std::vector<std::string>& extra_flags) {
  std::vector<std::string> argv = {"pstrain", "launch", "--job",      job,
                                   "--run-dir", run_dir, "--progress", "lines"};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  auto r = RunPstrain(argv, seconds(300));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("test AUC") != std::string::npos);  // the progress line
  CHECK(LastLine(r.output).rfind("final test AUC: ", 0) == 0);
  RequireNoOrphans(run_dir);
  return nlohmann::json::parse(ReadFile(run_dir + "/result.json"));
}

void CheckEverySampleOnce(const nlohmann::json& result) {
  REQUIRE(result["epochs"].is_array());
  for (const auto& e : result["epochs"])
    CHECK(e["samples"].get<uint64_t>() == kSparseTrainSamples);
}

}  // namespace pst::testing
