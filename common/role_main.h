// What every role's main() shares: turning SIGINT/SIGTERM into a clean
// shutdown, and a final Status into a one-line message plus exit code.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/cluster_keys.h"
#include "common/status.h"

namespace pst {

// Runs `run` on the calling thread. SIGINT or SIGTERM calls `on_signal` (on a
// helper thread, via Boost.Asio's signal_set) which must make `run` return soon.
Status RunUntilSignalled(const std::function<Status()>& run, const std::function<void()>& on_signal);

// Parses argv into `app`. Returns nothing when the program should go on, or
// the exit code when it should stop: 0 after --help, 2 after printing
// "<program>: error: <what> (see <program> --help)" for a bad flag.
std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv);

// Adds the --cpus LIST flag every role has (e.g. "1" or "2-3"): the CPUs the
// whole process runs on. pstrain launch --pin-cpus sets it.
void AddCpusFlag(CLI::App& app, std::string* cpus);

// Pins the calling thread, and so every thread started after it, to the
// --cpus list if one was given, and logs the CPUs the kernel then reports.
// Call after InitLogging and before any other thread starts.
Status ApplyCpusFlag(const std::string& cpus);

// Adds the --key-dir DIR flag every binary that talks to a job has: the
// cluster's key directory (`pstrain keygen`); with it every socket uses CurveZMQ.
void AddKeyDirFlag(CLI::App& app, std::string* key_dir);

// The keys in `key_dir` (LoadClusterKeys), or null for "" (plain TCP). Errors
// as LoadClusterKeys.
StatusOr<std::shared_ptr<const ClusterKeys>> LoadKeyDir(const std::string& key_dir);

// Prints "<program>: error: <message>" to stderr for a non-OK status and returns
// the process exit code: 0 for OK, 2 for kInvalidArgument (bad usage), 1 otherwise.
int ExitCodeFor(const std::string& program, const Status& status);

}  // namespace pst
