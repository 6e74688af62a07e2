// Helpers for integration tests that run real pstrain processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace pst::testing {

struct CommandResult {
  int exit_code = -1;  // -1 if it was killed for running past the timeout
  std::string output;  // stdout and stderr, interleaved
};

// Runs PST_BIN_DIR/<argv[0]> with the rest of argv; kills it after `timeout`.
// If `signal_after` > 0, sends SIGINT to it that long after the start.
CommandResult RunPstrain(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                         std::chrono::milliseconds signal_after = std::chrono::milliseconds(0));

// A fresh directory under /tmp.
std::string MakeTempDir();

// PIDs of live processes whose command line contains `needle`.
std::vector<pid_t> ProcessesMentioning(const std::string& needle);

// The last non-empty line of `text`.
std::string LastLine(const std::string& text);

std::string ReadFile(const std::string& path);

}  // namespace pst::testing
