// Suite "large": a dense model of about 100M parameters (784-127000-10,
// Adam, batch 64, BSP) on 1 PS + 1 worker and 2 PS + 1 worker, a few dozen
// steps each. Prints samples/s; the worker's compute time per step against
// the plain single-process trainer's (bench/plain_trainer.h, same OpenBLAS,
// same model) timed right before and right after each cluster run; the
// worker's and the PS's peak resident
// memory (sampled from /proc while the job runs) against the bytes they
// must hold; the scheduler's checkpoint rounds during the runs; and the time
// to capture and durably write one PS's checkpoint (parameters and Adam
// state, real RocksDB) and to restore it, with the PS's own code in this
// process. Runs one large job at a time (a few GB each).
#pragma once

#include <cstdint>
#include <string>

#include "bench/bench_util.h"
#include "common/status.h"

namespace pst::bench {

struct LargeConfig {
  // Hidden units of the 784-H-10 model: 127000 gives 100.97M parameters.
  // Default: 127000.
  uint32_t hidden = 127000;
  // Training steps of each cluster run (the training set is cut to this many
  // batches: one epoch). Default: 24.
  uint32_t steps = 24;
  // Timed steps of the plain trainer (after one warm-up step). Default: 4.
  uint32_t plain_steps = 4;
  // Directory of pstrain-scheduler, pstrain-ps and pstrain-worker. Required.
  std::string bin_dir;
};

// Adds report.json["large"] and summary lines. Run directories go under a
// fresh /tmp/pstrain-bench-large-XXXXXX, removed on success and kept (and
// named in the error) on failure.
Status RunLargeSuite(const LargeConfig& config, Report& report);

}  // namespace pst::bench
