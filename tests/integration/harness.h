// Helpers for integration tests that run real pstrain processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "scheduler/job_store.h"

namespace pst::testing {

struct CommandResult {
  int exit_code = -1;  // -1 if it was killed for running past the timeout
  std::string output;  // stdout and stderr, interleaved
};

// Runs PST_BIN_DIR/<argv[0]> with the rest of argv; kills it after `timeout`.
// If `signal_after` > 0, sends SIGINT to it that long after the start.
CommandResult RunPstrain(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                         std::chrono::milliseconds signal_after = std::chrono::milliseconds(0));

// A fresh directory under /tmp, removed with its contents when the test
// process exits (kept if PST_KEEP_TEST_DIRS is set). Fails the current test
// if it cannot be created.
std::string MakeTempDir();

// PIDs of live processes whose command line contains `needle`.
std::vector<pid_t> ProcessesMentioning(const std::string& needle);

// The last non-empty line of `text`.
std::string LastLine(const std::string& text);

std::string ReadFile(const std::string& path);

// The scheduler's records of the run's complete checkpoints, oldest first
// (REQUIREs that the job store reads).
std::vector<CheckpointRecord> CompleteCheckpoints(const std::string& run_dir);

// Every process of a `pstrain launch` run mentions the run directory or the
// scheduler address on its command line; checks (Catch2 CHECK) that none is
// left, waiting up to 5 s for the kernel to finish killing them.
void RequireNoOrphans(const std::string& run_dir);

// Waits up to 30 s for worker `rank` of a launched run to have loaded its data
// (it trains right after).
void WaitForWorkerLoaded(const std::string& run_dir, int rank);

// Waits up to `timeout` for a line starting with `prefix` to appear in the file
// at `path`; returns the rest of that line, or "" on timeout.
std::string WaitForLine(const std::string& path, const std::string& prefix,
                        std::chrono::milliseconds timeout);

// Polls the /status document of a launched run (at the admin URL the
// scheduler wrote to <run_dir>/scheduler.endpoint.admin) until `done(body)`
// holds or `timeout` passes; returns the last body read ("" if none).
std::string WaitForStatus(const std::string& run_dir, const std::function<bool(const std::string&)>& done,
                          std::chrono::milliseconds timeout);

struct HttpResult {
  int status = -1;  // -1: no (complete) answer
  std::string body;
};

// GET `url` ("http://IPv4:PORT/path") with a raw socket; gives up after `timeout`.
HttpResult HttpGet(const std::string& url,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
// `method` (GET or POST, with an empty body) `url`, with an Authorization
// header unless `authorization` is empty.
HttpResult HttpRequest(const std::string& method, const std::string& url, const std::string& authorization,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace pst::testing
