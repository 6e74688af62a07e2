#include "common/latency_histogram.h"

#include <cmath>
#include <limits>

#include <capnp/message.h>
#include <catch2/catch.hpp>

#include "proto/scheduler.capnp.h"

namespace pst {
namespace {

using H = LatencyHistogram;

// Index of the one bucket holding a count, or -1.
int OnlyBucket(const H& h) {
  int at = -1;
  for (size_t i = 0; i < H::kNumBuckets; ++i) {
    if (h.buckets()[i] == 0) continue;
    if (at >= 0) return -2;
    at = static_cast<int>(i);
  }
  return at;
}

TEST_CASE("LatencyHistogram: bounds are ascending, 0.1 ms to 10 s", "[common]") {
  CHECK(H::kNumBuckets == H::kBounds.size() + 1);
  CHECK(H::kBounds.front() == 0.0001);
  CHECK(H::kBounds.back() == 10);
  for (size_t i = 1; i < H::kBounds.size(); ++i) {
    CHECK(H::kBounds[i] > H::kBounds[i - 1]);
    CHECK(H::kBounds[i] / H::kBounds[i - 1] <= 2.5 + 1e-9);
  }
}

TEST_CASE("LatencyHistogram: a bound belongs to its own bucket (le is inclusive)", "[common]") {
  for (size_t i = 0; i < H::kBounds.size(); ++i) {
    INFO("bound " << H::kBounds[i]);
    H at;
    at.Record(H::kBounds[i]);
    CHECK(OnlyBucket(at) == static_cast<int>(i));
    H above;
    above.Record(std::nextafter(H::kBounds[i], 1e9));
    CHECK(OnlyBucket(above) == static_cast<int>(i + 1));
  }
  H zero;
  zero.Record(0.0);
  CHECK(OnlyBucket(zero) == 0);
  H huge;
  huge.Record(1e6);
  CHECK(OnlyBucket(huge) == static_cast<int>(H::kNumBuckets - 1));
  H inf;
  inf.Record(std::numeric_limits<double>::infinity());
  CHECK(OnlyBucket(inf) == static_cast<int>(H::kNumBuckets - 1));
}

TEST_CASE("LatencyHistogram: sum and count, negative counts as 0, NaN is ignored", "[common]") {
  H h;
  CHECK(h.count() == 0);
  CHECK(h.sum() == 0);
  h.Record(0.002);
  h.Record(0.003);
  h.Record(std::chrono::milliseconds(1500));
  CHECK(h.count() == 3);
  CHECK(h.sum() == Approx(1.505));
  CHECK(h.buckets()[4] == 1);   // (0.001, 0.0025]
  CHECK(h.buckets()[5] == 1);   // (0.0025, 0.005]
  CHECK(h.buckets()[13] == 1);  // (1, 2.5]
  h.Record(-1.0);
  CHECK(h.count() == 4);
  CHECK(h.buckets()[0] == 1);
  CHECK(h.sum() == Approx(1.505));
  h.Record(std::nan(""));
  CHECK(h.count() == 4);
  uint64_t total = 0;
  for (uint64_t c : h.buckets()) total += c;
  CHECK(total == h.count());
}

TEST_CASE("LatencyHistogram: Merge adds, Clear empties", "[common]") {
  H a, b;
  a.Record(0.001);
  b.Record(0.001);
  b.Record(20.0);
  a.Merge(b);
  CHECK(a.count() == 3);
  CHECK(a.sum() == Approx(20.002));
  CHECK(a.buckets()[3] == 2);
  CHECK(a.buckets()[H::kNumBuckets - 1] == 1);
  a.Clear();
  CHECK(a == H());
}

TEST_CASE("LatencyHistogram: encodes into a heartbeat and decodes back", "[common]") {
  H h;
  for (double s : {0.00005, 0.0004, 0.0004, 0.03, 7.0, 12.0}) h.Record(s);
  capnp::MallocMessageBuilder msg;
  auto b = msg.initRoot<proto::HeartbeatRequest>();
  h.EncodeBuckets(b.initPullLatencyBuckets(H::kNumBuckets));
  b.setPullLatencySumSeconds(h.sum());
  auto r = b.asReader();
  auto back = H::Decode(r.getPullLatencyBuckets(), r.getPullLatencySumSeconds());
  REQUIRE(back.ok());
  CHECK(*back == h);
  CHECK(back->count() == 6);
  // Nothing sent (an older worker): an empty list, which Decode rejects.
  CHECK(r.getPushLatencyBuckets().size() == 0);
  CHECK(H::Decode(r.getPushLatencyBuckets(), 0).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("LatencyHistogram: Decode rejects a wrong bucket count and bad sums", "[common]") {
  capnp::MallocMessageBuilder msg;
  auto b = msg.initRoot<proto::HeartbeatRequest>();
  auto fewer = b.initPullLatencyBuckets(H::kNumBuckets - 1);
  fewer.set(0, 3);
  auto more = b.initPushLatencyBuckets(H::kNumBuckets + 1);
  more.set(0, 3);
  auto r = b.asReader();
  auto s = H::Decode(r.getPullLatencyBuckets(), 0.1);
  CHECK(s.status().code() == StatusCode::kInvalidArgument);
  CHECK(s.status().message().find("16 buckets, expected 17") != std::string::npos);
  CHECK(H::Decode(r.getPushLatencyBuckets(), 0.1).status().code() == StatusCode::kInvalidArgument);

  capnp::MallocMessageBuilder ok_msg;
  auto ok = ok_msg.initRoot<proto::HeartbeatRequest>();
  auto list = ok.initPullLatencyBuckets(H::kNumBuckets);
  list.set(2, 5);
  auto good = ok.asReader().getPullLatencyBuckets();
  CHECK(H::Decode(good, 0.002).ok());
  CHECK(H::Decode(good, -1).status().code() == StatusCode::kInvalidArgument);
  CHECK(H::Decode(good, std::nan("")).status().code() == StatusCode::kInvalidArgument);
  CHECK(H::Decode(good, std::numeric_limits<double>::infinity()).status().code() ==
        StatusCode::kInvalidArgument);
  // Counts adding up past 2^64 - 1.
  list.set(0, std::numeric_limits<uint64_t>::max());
  CHECK(H::Decode(ok.asReader().getPullLatencyBuckets(), 1).status().code() ==
        StatusCode::kInvalidArgument);
  // A sum without counts.
  capnp::MallocMessageBuilder empty_msg;
  auto empty = empty_msg.initRoot<proto::HeartbeatRequest>();
  empty.initPullLatencyBuckets(H::kNumBuckets);
  CHECK(H::Decode(empty.asReader().getPullLatencyBuckets(), 0).ok());
  CHECK(H::Decode(empty.asReader().getPullLatencyBuckets(), 0.5).status().code() ==
        StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
