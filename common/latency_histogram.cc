#include "common/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace pst {

void LatencyHistogram::Record(double seconds) {
  if (std::isnan(seconds)) return;
  if (seconds < 0) seconds = 0;
  // The first bound >= seconds; kBounds.size() (the +Inf bucket) if none.
  const size_t i = std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin();
  ++buckets_[i];
  ++count_;
  sum_ += seconds;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kNumBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
}

void LatencyHistogram::EncodeBuckets(capnp::List<uint64_t>::Builder out) const {
  const size_t n = std::min<size_t>(out.size(), kNumBuckets);
  for (size_t i = 0; i < n; ++i) out.set(static_cast<unsigned>(i), buckets_[i]);
}

StatusOr<LatencyHistogram> LatencyHistogram::Decode(capnp::List<uint64_t>::Reader buckets,
                                                    double sum_seconds) {
  if (buckets.size() != kNumBuckets)
    return Status::InvalidArgument("latency histogram: " + std::to_string(buckets.size()) +
                                   " buckets, expected " + std::to_string(kNumBuckets));
  if (!std::isfinite(sum_seconds) || sum_seconds < 0)
    return Status::InvalidArgument("latency histogram: bad sum " + std::to_string(sum_seconds));
  LatencyHistogram h;
  for (size_t i = 0; i < kNumBuckets; ++i) {
    h.buckets_[i] = buckets[static_cast<unsigned>(i)];
    if (__builtin_add_overflow(h.count_, h.buckets_[i], &h.count_))
      return Status::InvalidArgument("latency histogram: the counts overflow");
  }
  if (h.count_ == 0 && sum_seconds > 0)
    return Status::InvalidArgument("latency histogram: a sum but no durations");
  h.sum_ = sum_seconds;
  return h;
}

}  // namespace pst
