#include "ps/admission_sketch.h"

#include <catch2/catch.hpp>
#include <cstdint>

#include "common/hash.h"

namespace pst {
namespace {

TEST_CASE("AdmissionSketch: counts sightings, never undercounts, forgets", "[ps]") {
  auto sketch = AdmissionSketch::Create(1 << 12);
  REQUIRE(sketch.ok());
  AdmissionSketch& s = **sketch;
  CHECK(s.Estimate(5) == 0);
  CHECK(s.Add(5) == 1);
  CHECK(s.Add(5) == 2);
  CHECK(s.Add(5) == 3);
  CHECK(s.Estimate(5) == 3);
  // Many other ids: id 5's count can only grow by collisions, never shrink.
  for (uint64_t i = 0; i < 2000; ++i) s.Add(Mix64(i));
  CHECK(s.Estimate(5) >= 3);
  // With 4 rows of 4096 counters, 2000 other ids rarely collide in every row.
  int overcounted = 0;
  for (uint64_t i = 0; i < 2000; ++i) overcounted += s.Estimate(Mix64(i)) > 1;
  CHECK(overcounted < 20);
  s.Forget(5);
  CHECK(s.Estimate(5) == 0);
}

TEST_CASE("AdmissionSketch: saturates and halves, memory fixed", "[ps]") {
  auto sketch = AdmissionSketch::Create(64);
  REQUIRE(sketch.ok());
  AdmissionSketch& s = **sketch;
  const size_t bytes = s.bytes();
  CHECK(bytes == 4 * 64);
  for (int i = 0; i < 300; ++i) s.Add(9);
  CHECK(s.halvings() == 0);
  CHECK(s.Estimate(9) == AdmissionSketch::kMaxCount);
  // 64 * 8 = 512 sightings trigger a halving of every counter.
  for (int i = 0; i < 212; ++i) s.Add(9);
  CHECK(s.halvings() == 1);
  CHECK(s.Estimate(9) == AdmissionSketch::kMaxCount / 2);
  for (uint64_t i = 0; i < 100000; ++i) s.Add(Mix64(i));
  CHECK(s.bytes() == bytes);
}

TEST_CASE("AdmissionSketch: bad widths rejected", "[ps]") {
  CHECK_FALSE(AdmissionSketch::Create(0).ok());
  CHECK_FALSE(AdmissionSketch::Create(100).ok());
  CHECK_FALSE(AdmissionSketch::Create(32).ok());
  CHECK(AdmissionSketch::Create(64).ok());
}

}  // namespace
}  // namespace pst
