// `pstrain status`: asks a running job's scheduler for its status (a
// JobStatusRequest over ZeroMQ) and prints the nodes and the job's progress as
// a table, or the raw status as JSON.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "common/status.h"
#include "scheduler/admin_snapshot.h"

namespace pst {

struct StatusCommandOptions {
  // The scheduler's address, e.g. "tcp://127.0.0.1:7000". Either this or run_dir.
  std::string scheduler;
  // A `pstrain launch` run directory; its scheduler.endpoint names the scheduler.
  std::string run_dir;
  // Print the status as JSON (the same document as the admin endpoint's
  // /status, without the live history) instead of a table. Default: false.
  bool json = false;
  // The cluster's key directory for a secured job; "" = the run directory's
  // job.toml names it, or the job has none. Default: "".
  std::string key_dir;
  // How long to wait for the scheduler's answer. Default: 3 s.
  std::chrono::milliseconds timeout{3000};
};

// Asks the scheduler for the job's status once and returns it as a snapshot
// (scheduler_endpoint filled in; options.json is ignored). Blocks up to
// options.timeout. Errors as RunStatusCommand.
StatusOr<AdminSnapshot> FetchJobStatus(const StatusCommandOptions& options);

// Prints the status to `out`. Blocks up to options.timeout. Errors:
// kInvalidArgument (neither or both of scheduler and run_dir), kNotFound (no
// scheduler.endpoint in run_dir), kUnavailable (no answer in time; the message
// names the address and what to do), kInternal (an answer we cannot read).
Status RunStatusCommand(const StatusCommandOptions& options, std::ostream& out);

// The scheduler address given directly, or read from a run directory's
// scheduler.endpoint. kInvalidArgument unless exactly one is given; kNotFound
// when the run directory has no address.
StatusOr<std::string> ResolveSchedulerEndpoint(const std::string& scheduler,
                                               const std::string& run_dir);

// The table `pstrain status` prints: a progress line, the admin URL (if any)
// and one row per node.
std::string FormatStatusTable(const AdminSnapshot& s);

}  // namespace pst
