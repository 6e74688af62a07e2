// pst::ChildProcess: a program started by the launcher (or a test) with its
// output going to a log file. Children get their own process group, so a
// terminal's Ctrl-C reaches only the launcher, which then stops them in order;
// and they are killed by the kernel if the launcher itself dies (Linux
// PR_SET_PDEATHSIG), so no run ever leaves orphans behind. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace pst {

class ChildProcess {
 public:
  // Starts `program` with `args` (argv[1..]), stdout and stderr appended to
  // `log_path`, plus `env` added to the environment. kNotFound if the program
  // does not exist, kUnavailable if it cannot be started.
  static StatusOr<ChildProcess> Start(const std::string& program,
                                      const std::vector<std::string>& args,
                                      const std::string& log_path,
                                      const std::map<std::string, std::string>& env = {});
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  // The exit status if the child has ended (without blocking): the exit code,
  // or 128 + signal number if a signal ended it.
  std::optional<int> Poll();
  // Waits up to `timeout` for the child to end.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Sends a signal (no-op once the child has been reaped).
  void Signal(int signo);
  // SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status.
  int Stop(std::chrono::milliseconds grace);
  // The last non-empty line of the log (for error messages).
  std::string LastLogLine() const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> status_;
};

}  // namespace pst
