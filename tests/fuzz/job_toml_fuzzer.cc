// Fuzz target: the job file reader (common/job_file.h). Any text either parses
// to a spec that passes validation or is an error; a spec that parses is
// written back as TOML (JobSpecToToml), and that text must parse again to a
// spec that writes the same text (a spec read from TOML always fits TOML).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "common/job_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  pst::StatusOr<pst::JobSpec> spec = pst::ParseJobToml(text, "fuzz.toml");
  if (!spec.ok()) return 0;
  const std::string written = pst::JobSpecToToml(*spec);
  pst::StatusOr<pst::JobSpec> again = pst::ParseJobToml(written, "written.toml");
  if (!again.ok() || pst::JobSpecToToml(*again) != written) {
    std::cerr << "job_toml_fuzzer: a parsed spec does not round-trip: "
              << again.status().ToString() << "\n--- written:\n" << written << "\n";
    std::abort();
  }
  return 0;
}
