#include "tests/integration/harness.h"

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/child_process.h"

namespace pst::testing {

std::string MakeTempDir() {
  char tmpl[] = "/tmp/pstrain-test-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  return dir ? dir : "/tmp";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
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
