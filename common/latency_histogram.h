// pst::LatencyHistogram: durations counted in fixed buckets, the shape of a
// Prometheus histogram (per-bucket counts, their sum and count). Workers
// measure their pull and push round trips with it (worker/ps_client.h) and send
// the cumulative histograms in heartbeats (HeartbeatRequest.pullLatency* and
// pushLatency*); the scheduler checks them with Decode() and exports them on
// /metrics. The bucket bounds are fixed here, once, so sender and receiver agree
// without sending them.
//
// Thread-compatible: a plain value; concurrent use needs outside locking.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <capnp/list.h>

#include "common/status.h"

namespace pst {

class LatencyHistogram {
 public:
  // Upper bounds in seconds of the finite buckets, ascending, inclusive (as
  // Prometheus' `le`): 0.1 ms to 10 s in 1-2.5-5 steps. One more bucket takes
  // everything above the last bound (+Inf). Never change them: heartbeats carry
  // the counts per bucket, not the bounds (a receiver rejects another count).
  static constexpr std::array<double, 16> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                     1,      2.5,     5,      10};
  static constexpr size_t kNumBuckets = kBounds.size() + 1;

  // Counts one duration: into the first bucket whose bound is >= seconds (the
  // last one if none is). A negative duration counts as 0; NaN is ignored.
  void Record(double seconds);
  void Record(std::chrono::steady_clock::duration d) {
    Record(std::chrono::duration<double>(d).count());
  }
  // Adds every bucket count, the count and the sum of `other` to this one.
  void Merge(const LatencyHistogram& other);
  void Clear() { *this = LatencyHistogram(); }

  // Per-bucket counts, not cumulative: buckets()[i] counts the durations in
  // (kBounds[i-1], kBounds[i]]; buckets()[kNumBuckets-1] those above kBounds.back().
  const std::array<uint64_t, kNumBuckets>& buckets() const { return buckets_; }
  // Durations counted (the sum of buckets()).
  uint64_t count() const { return count_; }
  // Sum of the durations counted, in seconds.
  double sum() const { return sum_; }

  // Wire form (HeartbeatRequest): buckets() as a List(UInt64) of kNumBuckets
  // entries plus sum() as a Float64. Writes buckets() into `out`.
  // REQUIRES: out.size() == kNumBuckets, e.g. out = b.initPullLatencyBuckets(kNumBuckets).
  void EncodeBuckets(capnp::List<uint64_t>::Builder out) const;
  // The histogram of a wire form. kInvalidArgument if `buckets` does not have
  // kNumBuckets entries, `sum_seconds` is negative or not finite (or > 0 with
  // no counts), or the counts add up to more than 2^64 - 1. Does not throw.
  static StatusOr<LatencyHistogram> Decode(capnp::List<uint64_t>::Reader buckets,
                                           double sum_seconds);

  bool operator==(const LatencyHistogram&) const = default;

 private:
  std::array<uint64_t, kNumBuckets> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace pst
