// A per-process scratch file on tmpfs for fuzz targets whose reader takes a
// path (the IDX and safetensors readers). /dev/shm keeps the writes and the
// reader's fsync off the disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pst::fuzz {

// Writes `size` bytes to /dev/shm/pst-fuzz-<pid>-<name> (replacing it) and
// returns the path. Aborts if it cannot (a harness failure, not a finding).
std::string WriteScratch(const std::string& name, const uint8_t* data, size_t size);

}  // namespace pst::fuzz
