#include "bench/cluster_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

namespace pst::bench {
namespace {

namespace fs = std::filesystem;

// The content of a /proc file, or "" if it cannot be read (the process may
// exit while it is read: ifstream would throw then).
std::string ReadProcFile(const fs::path& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

}  // namespace

JobSpec SyntheticEmbeddingMlpJob(const std::string& data) {
  JobSpec job;
  job.model.kind = ModelKind::kEmbeddingMlp;
  job.model.embedding_dim = 16;
  job.model.hidden = {64, 32};
  job.optimizer.kind = OptimizerKind::kAdagrad;
  job.optimizer.learning_rate = 0.05f;
  job.train.batch_size = 256;
  job.train.epochs = 1;
  job.train.batches_per_shard = 16;
  job.sparse_data.format = DataFormat::kCriteoTsv;
  job.sparse_data.train = data + "/train.tsv";
  job.sparse_data.test = data + "/test.tsv";
  return job;
}

StatusOr<LaunchResult> LaunchQuiet(const JobSpec& job, const std::string& run_dir,
                                   const std::string& bin_dir, std::chrono::seconds timeout) {
  LaunchOptions lo;
  lo.job = job;
  lo.run_dir = run_dir;
  lo.bin_dir = bin_dir;
  lo.progress = ProgressStyle::kQuiet;
  lo.timeout = timeout;
  lo.admin_port = -1;
  std::ostringstream out;
  std::atomic<bool> interrupted{false};
  auto r = Launch(lo, interrupted, out);
  if (!r.ok()) {
    std::cout << out.str();
    return r.status().WithContext(fmt::format("launch {} PS + {} workers (kept {})",
                                              job.num_servers, job.num_workers, run_dir));
  }
  return r;
}

RssSampler::RssSampler(std::string run_dir) : run_dir_(std::move(run_dir)) {
  thread_ = std::thread([this] { Loop(); });
}

void RssSampler::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::map<std::string, uint64_t> RssSampler::peaks() {
  MutexLock lock(&mu_);
  return peaks_;
}

void RssSampler::Loop() {
  while (!stop_) {
    Sample();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void RssSampler::Sample() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = ReadProcFile(entry.path() / "cmdline");
    if (cmdline.find(run_dir_) == std::string::npos) continue;
    std::string role;
    for (const char* r : {"pstrain-worker", "pstrain-ps"})
      if (cmdline.find(r) != std::string::npos && cmdline.find(r) < cmdline.find('\0')) role = r;
    if (role.empty()) continue;
    std::istringstream status(ReadProcFile(entry.path() / "status"));
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("VmHWM:", 0) != 0) continue;
      const uint64_t bytes = std::stoull(line.substr(6)) * 1024;
      MutexLock lock(&mu_);
      peaks_[role] = std::max(peaks_[role], bytes);
    }
  }
}

std::vector<double> ReadCheckpointRounds(const std::string& run_dir) {
  static const std::regex kLine(R"(checkpoint \d+ complete at clock \d+ \((\d+) ms\))");
  std::vector<double> ms;
  std::ifstream in(run_dir + "/logs/scheduler.log");
  std::smatch m;
  for (std::string line; std::getline(in, line);)
    if (std::regex_search(line, m, kLine)) ms.push_back(std::stod(m[1]));
  return ms;
}

std::map<uint64_t, std::vector<PsCheckpointCost>> ReadPsCheckpointCosts(const std::string& run_dir) {
  static const std::regex kLine(
      R"(checkpoint (\d+) at clock (\d+) durable ([\d.]+) ms after its clock: capture pause )"
      R"(([\d.]+) ms, write ([\d.]+) ms, copied on write ([\d.]+) MB \((\d+) blocks, ([\d.]+) ms\))");
  std::map<uint64_t, std::vector<PsCheckpointCost>> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir + "/logs", ec)) {
    if (!entry.path().filename().string().starts_with("ps-")) continue;
    std::ifstream in(entry.path());
    std::smatch m;
    for (std::string line; std::getline(in, line);) {
      if (!std::regex_search(line, m, kLine)) continue;
      PsCheckpointCost c{std::stoull(m[1]), std::stoull(m[2]), std::stod(m[3]), std::stod(m[4]),
                         std::stod(m[5]), std::stod(m[6]), std::stoull(m[7]), std::stod(m[8])};
      out[c.id].push_back(c);
    }
  }
  return out;
}

}  // namespace pst::bench
