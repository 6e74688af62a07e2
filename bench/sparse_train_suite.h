// Suite "sparse-train": training of the sparse models, in one process against
// local clusters of real processes over loopback TCP (pst::Launch).
//   throughput  embedding + MLP (dim 16, hidden 64-32, Adagrad, batch 256,
//               BSP) on synthetic Criteo-like data generated for the run:
//               samples/s of the single-process reference trainer
//               (bench/ctr_reference.h), of 1 PS + 1 worker (and its ratio to
//               the reference) and of 2 PS + 2 workers;
//   quality     test AUC of LR and FM on MovieLens and SpamAssassin from the
//               example job files (2 PS + 2 workers, BSP) against the reference
//               trainer on the same files with the same hyper-parameters, the
//               difference flagged when above 0.005. A data set that is not
//               prepared is skipped, naming the command that prepares it.
#pragma once

#include <cstdint>
#include <string>

#include "bench/bench_util.h"
#include "common/status.h"

namespace pst::bench {

struct SparseTrainConfig {
  // Directory of pstrain-scheduler, pstrain-ps and pstrain-worker. Required.
  std::string bin_dir;
  // Synthetic samples (train and test together) and vocabulary per field of
  // the throughput runs. Defaults: 200,000 and 100,000.
  uint64_t samples = 200'000;
  uint64_t vocabulary = 100'000;
  // Where the quality rows' job files are (their data paths are relative to
  // the working directory, as for `pstrain launch --job`). Default: "examples".
  std::string examples_dir = "examples";
  // Run the quality rows. Default: true.
  bool quality = true;
};

// Prints the tables; adds report.json["sparse_train"] and summary lines. Run
// directories go under a fresh /tmp/pstrain-bench-sparse-train-XXXXXX,
// removed on success and kept (named in the error) on failure. Errors: the
// generator's, the reference trainer's and Launch's.
Status RunSparseTrainSuite(const SparseTrainConfig& config, Report& report);

}  // namespace pst::bench
