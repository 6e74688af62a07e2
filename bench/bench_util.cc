#include "bench/bench_util.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <numeric>
#include <regex>

#include <fmt/format.h>

namespace pst::bench {
namespace {

const auto kBenchStart = std::chrono::steady_clock::now();

}  // namespace

LatencyStats Summarize(const std::vector<double>& seconds) {
  std::vector<double> ms(seconds.size());
  std::transform(seconds.begin(), seconds.end(), ms.begin(), [](double s) { return s * 1e3; });
  std::sort(ms.begin(), ms.end());
  LatencyStats st;
  st.n = ms.size();
  st.mean_ms = std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
  // Nearest-rank percentile: the smallest value with at least p% of the samples at or below it.
  auto rank = [&](double p) {
    const size_t r = static_cast<size_t>(std::ceil(p / 100.0 * ms.size()));
    return ms[std::clamp<size_t>(r, 1, ms.size()) - 1];
  };
  st.p50_ms = rank(50);
  st.p99_ms = rank(99);
  st.min_ms = ms.front();
  st.max_ms = ms.back();
  return st;
}

void Progress(const std::string& what) {
  const double t =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - kBenchStart).count();
  std::cout << fmt::format("[{:6.1f} s] {}\n", t, what) << std::flush;
}

void Table::Print() const {
  std::vector<size_t> width(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  };
  measure(header_);
  for (const auto& r : rows_) measure(r);
  auto print = [&](const std::vector<std::string>& row) {
    std::string line = " ";
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string& cell = i < row.size() ? row[i] : std::string();
      line +=
          i == 0 ? fmt::format(" {:<{}}", cell, width[i]) : fmt::format("  {:>{}}", cell, width[i]);
    }
    std::cout << line << "\n";
  };
  print(header_);
  size_t total = 1;
  for (size_t w : width) total += w + 2;
  std::cout << "  " << std::string(total - 1, '-') << "\n";
  for (const auto& r : rows_) print(r);
  std::cout << std::flush;
}

RoleThread::~RoleThread() {
  if (thread_.joinable()) thread_.detach();
}

void RoleThread::Start(std::function<Status()> fn) {
  std::packaged_task<Status()> task(std::move(fn));
  result_ = task.get_future();
  thread_ = std::thread(std::move(task));
}

bool RoleThread::finished() const {
  return joined_ || (result_.valid() &&
                     result_.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
}

Status RoleThread::Join(std::chrono::milliseconds timeout) {
  if (!result_.valid()) return Status::FailedPrecondition("role thread was never started");
  if (result_.wait_for(timeout) != std::future_status::ready) {
    thread_.detach();
    return Status::DeadlineExceeded("did not return within " + std::to_string(timeout.count()) +
                                    " ms of Shutdown()");
  }
  thread_.join();
  joined_ = true;
  return result_.get();
}

StatusOr<std::string> MakeTempDir(const std::string& name) {
  std::string path = "/tmp/pstrain-bench-" + name + "-XXXXXX";
  if (mkdtemp(path.data()) == nullptr)
    return Status::Unavailable(std::string("cannot create a directory under /tmp: ") +
                               std::strerror(errno));
  return path;
}

std::string FormatCount(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Fixed(double v, int decimals) { return fmt::format("{:.{}f}", v, decimals); }

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

WorkerTiming ReadWorkerTiming(const std::string& run_dir, uint32_t rank) {
  static const std::regex kLine(
      R"(finished after (\d+) steps: (\d+) ms waiting for pulls, (\d+) ms computing, (\d+) ms )"
      R"(sending pushes)");
  WorkerTiming t;
  std::ifstream in(fmt::format("{}/logs/worker-{}.log", run_dir, rank));
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (!std::regex_search(line, m, kLine)) continue;
    t.found = true;
    t.steps = std::stoull(m[1]);
    t.wait_pull_ms = std::stod(m[2]);
    t.compute_ms = std::stod(m[3]);
    t.push_ms = std::stod(m[4]);
  }
  return t;
}

uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

}  // namespace pst::bench
