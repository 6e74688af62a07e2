// Fuzz target: the safetensors reader (common/safetensors.h). A file that
// reads must hold tensors whose value counts match their shapes, and writing
// it back and reading that again must give the same names, shapes, values
// (bit for bit) and metadata.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "common/safetensors.h"
#include "tests/fuzz/temp_file.h"

namespace {

bool SameTensors(const pst::SafetensorsFile& a, const pst::SafetensorsFile& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& x = a.tensors[i];
    const auto& y = b.tensors[i];
    if (x.name != y.name || x.shape != y.shape || x.values.size() != y.values.size()) return false;
    if (std::memcmp(x.values.data(), y.values.data(), x.values.size() * sizeof(float)) != 0)
      return false;
  }
  return true;
}

void Fail(const std::string& what) {
  std::cerr << "safetensors_fuzzer: " << what << "\n";
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = pst::fuzz::WriteScratch("in.safetensors", data, size);
  auto file = pst::ReadSafetensors(path);
  if (!file.ok()) return 0;
  for (const auto& t : file->tensors) {
    uint64_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    if (n != t.values.size()) Fail("tensor " + t.name + ": values do not match its shape");
  }
  const std::string again_path = path + ".out";
  pst::Status written = pst::WriteSafetensors(again_path, file->tensors, file->metadata);
  if (!written.ok()) Fail("a file that reads does not write back: " + written.ToString());
  auto again = pst::ReadSafetensors(again_path);
  if (!again.ok()) Fail("a file written back does not read: " + again.status().ToString());
  if (!SameTensors(*file, *again)) Fail("a file written back reads differently");
  return 0;
}
