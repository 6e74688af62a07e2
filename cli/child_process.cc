#include "cli/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

namespace pst {

StatusOr<ChildProcess> ChildProcess::Start(const std::string& program,
                                           const std::vector<std::string>& args,
                                           const std::string& log_path,
                                           const std::map<std::string, std::string>& env) {
  if (access(program.c_str(), X_OK) != 0)
    return Status::NotFound("cannot run " + program + ": " + std::strerror(errno) +
                            " (build the project first, or pass --bin-dir)");
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    return Status::Unavailable("cannot open log file " + log_path + ": " + std::strerror(errno));
  // Everything the child needs is prepared before fork: only async-signal-safe
  // calls are allowed between fork and exec.
  std::vector<std::string> storage;
  storage.push_back(program);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    if (!env.count(kv.substr(0, kv.find('=')))) env_storage.push_back(kv);
  }
  for (const auto& [k, v] : env) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return Status::Unavailable(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execve(program.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(log_fd);
  setpgid(pid, pid);  // also from the parent, so the group exists before we signal it
  return ChildProcess(pid, log_path);
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(o.pid_), log_path_(std::move(o.log_path_)), status_(o.status_) {
  o.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0 && !status_) Stop(std::chrono::milliseconds(0));
    pid_ = o.pid_;
    log_path_ = std::move(o.log_path_);
    status_ = o.status_;
    o.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) Stop(std::chrono::milliseconds(0));
}

std::optional<int> ChildProcess::Poll() {
  if (status_ || pid_ <= 0) return status_;
  int st = 0;
  const pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  } else if (r < 0 && errno == ECHILD) {
    status_ = 255;  // reaped elsewhere; its status is unknown
  }
  return status_;
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto s = Poll()) return s;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void ChildProcess::Signal(int signo) {
  if (pid_ > 0 && !Poll()) kill(pid_, signo);
}

int ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (auto s = Poll()) return *s;
  if (grace.count() > 0) {
    kill(pid_, SIGTERM);
    if (auto s = Wait(grace)) return *s;
  }
  kill(pid_, SIGKILL);
  return Wait(std::chrono::milliseconds(5000)).value_or(137);
}

std::string ChildProcess::LastLogLine() const {
  std::ifstream in(log_path_);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

}  // namespace pst
