#include "common/job_spec.h"

#include <catch2/catch.hpp>

namespace pst {
namespace {

TEST_CASE("BlockKeys: a set value wins, automatic is larger only where workers prefetch",
          "[common]") {
  TrainSpec t;
  CHECK(t.block_keys == 0);  // automatic by default
  CHECK(BlockKeys(t) == kPipelinedBlockKeys);  // BSP
  t.consistency = Consistency::kAsp;
  CHECK(BlockKeys(t) == kPipelinedBlockKeys);
  t.consistency = Consistency::kSsp;
  t.staleness = 0;
  CHECK(BlockKeys(t) == kPipelinedBlockKeys);
  t.staleness = 1;
  CHECK(BlockKeys(t) == kPrefetchBlockKeys);
  t.staleness = 4;
  CHECK(BlockKeys(t) == kPrefetchBlockKeys);
  t.block_keys = 4096;
  CHECK(BlockKeys(t) == 4096);
  t.consistency = Consistency::kBsp;
  CHECK(BlockKeys(t) == 4096);
}

TEST_CASE("ValidateJobSpec: block_keys is 0 or in [256, 2^28]", "[common]") {
  JobSpec job;
  for (uint64_t ok : {uint64_t{0}, uint64_t{256}, uint64_t{1} << 28}) {
    job.train.block_keys = ok;
    CHECK(ValidateJobSpec(job).ok());
  }
  for (uint64_t bad : {uint64_t{1}, uint64_t{255}, (uint64_t{1} << 28) + 1}) {
    CAPTURE(bad);
    job.train.block_keys = bad;
    Status s = ValidateJobSpec(job);
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::Contains("train.block_keys: must be 0 (automatic)"));
  }
}

}  // namespace
}  // namespace pst
