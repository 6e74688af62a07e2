// Fuzz target: the scheduler's request decoder (scheduler/requests.h). The
// message is received as the scheduler receives it (common/wire.h) and decoded
// by DecodeRequest, which must never throw (an exception escaping is a crash
// here) and either refuses the message or yields a call whose text fields are
// whole strings and whose latency histograms, when valid, hold one count per
// bucket.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <variant>

#include "common/wire.h"
#include "scheduler/requests.h"
#include "tests/fuzz/frames.h"

namespace {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::cerr << "scheduler_request_fuzzer: " << what << "\n";
  std::abort();
}

void CheckHistogram(const std::optional<pst::StatusOr<pst::LatencyHistogram>>& h) {
  if (!h || !h->ok()) return;
  uint64_t total = 0;
  for (uint64_t c : (*h)->buckets()) total += c;
  Check(total == (*h)->count(), "a decoded histogram's count is not the sum of its buckets");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pst::fuzz::Loopback& loopback = pst::fuzz::Loopback::Instance();
  pst::InMessage in;
  if (!loopback.Receive(data, size, &in)) return 0;
  const pst::StatusOr<pst::SchedulerCall> call = pst::DecodeRequest(in.envelope());
  if (!call.ok()) {
    Check(call.status().code() == pst::StatusCode::kInvalidArgument,
          "a refused request is not kInvalidArgument");
    return 0;
  }
  if (const auto* hb = std::get_if<pst::HeartbeatCall>(&*call)) {
    CheckHistogram(hb->pull_latency);
    CheckHistogram(hb->push_latency);
    volatile size_t n = hb->checkpoint_error.size() + hb->restore_error.size() +
                        hb->waits_for.size() + hb->removed.size();
    (void)n;
  } else if (const auto* reg = std::get_if<pst::RegisterCall>(&*call)) {
    volatile size_t n = reg->endpoint.size() + reg->host.size();
    (void)n;
  }
  return 0;
}
