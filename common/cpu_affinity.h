// Pinning threads to CPUs, for local clusters where a worker's training
// thread should have a core to itself (pstrain launch --pin-cpus). CPU lists
// use the kernel's notation ("0-3,6"). Linux only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pst {

// "0-3,6" -> {0, 1, 2, 3, 6}: sorted, without duplicates. kInvalidArgument for
// an empty list, a malformed item, a reversed range or a CPU number the
// kernel's cpu_set_t cannot hold.
StatusOr<std::vector<int>> ParseCpuList(std::string_view text);

// The inverse of ParseCpuList: {0, 1, 2, 3, 6} -> "0-3,6"; {} -> "".
std::string FormatCpuList(const std::vector<int>& cpus);

// The CPUs the calling thread may run on (sched_getaffinity), sorted.
std::vector<int> AllowedCpus();

// Restricts the calling thread to `cpus`; threads it starts later inherit
// that set, so called first thing in main() it places the whole process.
// kInvalidArgument if the kernel refuses the set (e.g. none of its CPUs is
// online or allowed to this process). An empty list changes nothing.
Status PinCallingThread(const std::vector<int>& cpus);

// How `pstrain launch --pin-cpus` splits the CPUs it may use: one CPU of its
// own for each worker's training thread (the highest-numbered ones), the
// rest shared by everything else (servers, scheduler, and the workers'
// network and heartbeat threads).
struct CpuPlacement {
  std::vector<int> compute;  // compute[i]: worker i's training thread
  std::vector<int> shared;   // never empty
};
// kInvalidArgument, saying what to do, when `allowed` has fewer than
// workers + 1 CPUs.
StatusOr<CpuPlacement> PlaceCpus(const std::vector<int>& allowed, uint32_t workers);

}  // namespace pst
