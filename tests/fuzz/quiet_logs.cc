// Linked into every fuzz target: the code under test logs every refusal as a
// warning, which would cost most of a run's time and bury libFuzzer's output.
// The findings are crashes and the targets' own checks, never log lines.
#include <spdlog/spdlog.h>

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}
