#include "common/cpu_affinity.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace pst {
namespace {

bool ParseCpu(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && *out >= 0 && *out < CPU_SETSIZE;
}

}  // namespace

StatusOr<std::vector<int>> ParseCpuList(std::string_view text) {
  auto bad = [&](std::string_view item, const char* why) {
    return Status::InvalidArgument(fmt::format(
        "bad CPU list '{}': '{}' {} (write CPU numbers below {} and ranges, e.g. 0-3,6)", text,
        item, why, CPU_SETSIZE));
  };
  if (text.empty()) return Status::InvalidArgument("empty CPU list (e.g. 0-3,6)");
  std::vector<int> cpus;
  size_t pos = 0;
  for (;;) {
    const size_t comma = text.find(',', pos);
    const std::string_view item =
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    const size_t dash = item.find('-');
    int first = 0, last = 0;
    if (dash == std::string_view::npos) {
      if (!ParseCpu(item, &first)) return bad(item, "is not a CPU number");
      last = first;
    } else {
      if (!ParseCpu(item.substr(0, dash), &first) || !ParseCpu(item.substr(dash + 1), &last))
        return bad(item, "is not a range of CPU numbers");
      if (last < first) return bad(item, "runs backwards");
    }
    for (int c = first; c <= last; ++c) cpus.push_back(c);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? std::to_string(cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]);
    i = j + 1;
  }
  return out;
}

std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

Status PinCallingThread(const std::vector<int>& cpus) {
  if (cpus.empty()) return Status::OK();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) {
    if (c < 0 || c >= CPU_SETSIZE) return Status::InvalidArgument(fmt::format("no CPU {}", c));
    CPU_SET(c, &set);
  }
  // pid 0: the calling thread only (Linux), which is what later threads copy.
  if (sched_setaffinity(0, sizeof(set), &set) != 0)
    return Status::InvalidArgument(
        fmt::format("cannot pin to CPUs {}: {} (this process may use CPUs {})",
                    FormatCpuList(cpus), std::strerror(errno), FormatCpuList(AllowedCpus())));
  return Status::OK();
}

StatusOr<CpuPlacement> PlaceCpus(const std::vector<int>& allowed, uint32_t workers) {
  if (allowed.size() < size_t{workers} + 1)
    return Status::InvalidArgument(fmt::format(
        "--pin-cpus: {} worker(s) need a CPU each plus one for the servers and scheduler, and "
        "only {} CPU(s) ({}) are available: start fewer workers or drop --pin-cpus",
        workers, allowed.size(), FormatCpuList(allowed)));
  CpuPlacement p;
  // Training threads take the highest CPUs: CPU 0 usually fields most device
  // interrupts, which belong with the shared work.
  const auto split = allowed.end() - workers;
  p.shared.assign(allowed.begin(), split);
  p.compute.assign(split, allowed.end());
  return p;
}

}  // namespace pst
