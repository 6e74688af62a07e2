// Fuzz target: the framing every pstrain server reads first (common/wire.h):
// a Cap'n Proto envelope frame plus float frames, received on a ROUTER as the
// scheduler and the PS receive them. A message RecvMessage accepts must be
// safe to read in full: every field of the envelope (printed as text, which
// visits each one) and every float of every frame it vouches for.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/wire.h"
#include "tests/fuzz/frames.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pst::fuzz::Loopback& loopback = pst::fuzz::Loopback::Instance();
  pst::InMessage in;
  if (!loopback.Receive(data, size, &in)) return 0;
  try {
    volatile size_t text = in.envelope().toString().size();
    (void)text;
  } catch (const kj::Exception&) {
    // Text without its NUL terminator is only found when read; the handlers
    // catch kj::Exception for that reason.
  }
  float sum = 0;
  for (size_t i = 0; i < in.num_bulk_frames(); ++i)
    for (size_t j = 0; j < in.num_floats(i); ++j) sum += in.floats(i)[j];
  volatile float sink = sum;
  (void)sink;
  return 0;
}
