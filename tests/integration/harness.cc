#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "cli/checkpoint_model.h"
#include "cli/child_process.h"

namespace pst::testing {

namespace {

// Every directory MakeTempDir created in this process, removed when the
// process exits (ctest runs one test case per process), so runs leave
// nothing under /tmp. PST_KEEP_TEST_DIRS=1 keeps them for a post-mortem.
class TempDirRegistry {
 public:
  void Add(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back(dir);
  }
  ~TempDirRegistry() {
    if (getenv("PST_KEEP_TEST_DIRS")) return;
    for (const std::string& d : dirs_) {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::string> dirs_;
};

TempDirRegistry& Registry() {
  static TempDirRegistry registry;
  return registry;
}

}  // namespace

std::string MakeTempDir() {
  char tmpl[] = "/tmp/pstrain-test-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  REQUIRE(dir != nullptr);
  Registry().Add(dir);
  return dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<CheckpointRecord> CompleteCheckpoints(const std::string& run_dir) {
  JobStoreOptions o;
  o.path = SchedulerStateDir(run_dir);
  o.read_only = true;
  auto store = JobStore::Create(o);
  REQUIRE(store.ok());
  auto list = (*store)->ListCompleteCheckpoints();
  REQUIRE(list.ok());
  return *list;
}

CommandResult RunPstrain(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                         std::chrono::milliseconds signal_after) {
  CommandResult r;
  const std::string log = MakeTempDir() + "/output.log";
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  auto child = ChildProcess::Start(std::string(PST_BIN_DIR) + "/" + argv[0], args, log);
  if (!child.ok()) {
    r.output = child.status().ToString();
    return r;
  }
  const auto start = std::chrono::steady_clock::now();
  bool signalled = false;
  while (true) {
    if (auto code = child->Poll()) {
      r.exit_code = *code;
      break;
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    if (signal_after.count() > 0 && !signalled && elapsed > signal_after) {
      child->Signal(SIGINT);
      signalled = true;
    }
    if (elapsed > timeout) {
      child->Stop(std::chrono::milliseconds(2000));
      r.exit_code = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  r.output = ReadFile(log);
  return r;
}

std::vector<pid_t> ProcessesMentioning(const std::string& needle) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadFile(entry.path() / "cmdline");
    for (char& c : cmdline)
      if (c == '\0') c = ' ';
    // Zombies have an empty command line; they are reaped, not orphaned.
    if (cmdline.find(needle) != std::string::npos) found.push_back(std::stoi(name));
  }
  return found;
}

std::string LastLine(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

}  // namespace pst::testing

namespace pst::testing {

void RequireNoOrphans(const std::string& run_dir) {
  const std::string endpoint = LastLine(ReadFile(run_dir + "/scheduler.endpoint"));
  // Children are killed by the kernel when the launcher dies; give it a moment.
  for (int i = 0; i < 50; ++i) {
    if (ProcessesMentioning(run_dir).empty() &&
        (endpoint.empty() || ProcessesMentioning(endpoint).empty()))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(ProcessesMentioning(run_dir).empty());
  if (!endpoint.empty()) CHECK(ProcessesMentioning(endpoint).empty());
}

void WaitForWorkerLoaded(const std::string& run_dir, int rank) {
  const std::string log = run_dir + "/logs/worker-" + std::to_string(rank) + ".log";
  for (int i = 0; i < 300; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (ReadFile(log).find("loaded") != std::string::npos) break;
  }
}

std::string WaitForLine(const std::string& path, const std::string& prefix,
                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    std::istringstream in(ReadFile(path));
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
    if (std::chrono::steady_clock::now() > deadline) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string WaitForStatus(const std::string& run_dir, const std::function<bool(const std::string&)>& done,
                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string body;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string url = ReadFile(run_dir + "/scheduler.endpoint.admin");
    while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
    if (!url.empty()) {
      HttpResult r = HttpGet(url + "status", std::chrono::milliseconds(2000));
      if (r.status == 200) {
        body = r.body;
        if (done(body)) return body;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return body;
}

HttpResult HttpGet(const std::string& url, std::chrono::milliseconds timeout) {
  return HttpRequest("GET", url, "", timeout);
}

HttpResult HttpRequest(const std::string& method, const std::string& url,
                       const std::string& authorization, std::chrono::milliseconds timeout) {
  HttpResult r;
  // http://HOST:PORT/PATH
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return r;
  const size_t colon = url.find(':', scheme.size());
  const size_t slash = url.find('/', scheme.size());
  if (colon == std::string::npos || slash == std::string::npos || colon > slash) return r;
  const std::string host = url.substr(scheme.size(), colon - scheme.size());
  const int port = std::atoi(url.substr(colon + 1, slash - colon - 1).c_str());
  const std::string path = url.substr(slash);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n";
  if (method == "POST") req += "Content-Length: 0\r\n";
  if (!authorization.empty()) req += "Authorization: " + authorization + "\r\n";
  req += "\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return r;
  }
  std::string raw;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool eof = false;
  while (!eof && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[8192];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      eof = true;
    } else {
      raw.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t split = raw.find("\r\n\r\n");
  if (!eof || raw.rfind("HTTP/1.1 ", 0) != 0 || split == std::string::npos) return r;
  r.status = std::atoi(raw.substr(9, 3).c_str());
  r.body = raw.substr(split + 4);
  return r;
}

}  // namespace pst::testing
