#include "ps/shard.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/model_layout.h"
#include "common/status.h"

namespace pst {
namespace {

// Model {16, 32, 4}: w0 [0,512) b0 [512,544) w1 [544,672) b1 [672,676).
// The shard owns [100, 600): part of w0, all of b0, part of w1. With blocks of
// 256 keys that is block A = [100, 356) and the shorter block B = [356, 600).
constexpr KeyRange kRange{100, 600};
constexpr KeyRange kA{100, 356};
constexpr KeyRange kB{356, 600};
constexpr uint64_t kMaxAhead = 4;
constexpr float kLr = 0.1f;

JobSpec SgdJob() {
  JobSpec job;
  job.model.layer_sizes = {16, 32, 4};
  job.model.seed = 11;
  job.optimizer.kind = OptimizerKind::kSgd;
  job.optimizer.learning_rate = kLr;
  job.optimizer.weight_decay = 0;
  job.optimizer.schedule = LrSchedule::kConstant;
  job.train.block_keys = 256;
  return job;
}

std::unique_ptr<Shard> MakeShard(const JobSpec& job = SgdJob(), uint32_t workers = 2,
                                 KeyRange range = kRange) {
  StatusOr<std::unique_ptr<Shard>> s = Shard::Create(job, range, workers, kMaxAhead);
  REQUIRE(s.ok());
  return std::move(s).value();
}

std::vector<float> Values(const Shard& s, KeyRange keys) {
  const float* v = s.values(keys);
  return std::vector<float>(v, v + keys.size());
}

std::vector<float> InitialValues(KeyRange keys, const JobSpec& job = SgdJob()) {
  StatusOr<ModelLayout> layout = ModelLayout::FromSpec(job.model);
  REQUIRE(layout.ok());
  std::vector<float> v(keys.size());
  InitParams(job.model, *layout, keys.begin, keys.end, v.data());
  return v;
}

// A distinct gradient sum for (rank, clock) over `keys`.
std::vector<float> Grad(uint32_t rank, uint64_t clock, KeyRange keys) {
  std::vector<float> g(keys.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const uint64_t k = keys.begin + i;
    g[i] = 0.5f * float(rank + 1) + 0.01f * float(k % 97) - 0.3f * float(clock) +
           (k % 3 == 0 ? -2.0f : 1.0f);
  }
  return g;
}

Status PushBlock(Shard& s, uint32_t rank, uint64_t clock, KeyRange block, uint32_t samples,
                 const std::vector<float>& g) {
  return s.Push(rank, clock, block, samples, g.data(), g.size());
}

Status PushGrad(Shard& s, uint32_t rank, uint64_t clock, KeyRange block, uint32_t samples) {
  return PushBlock(s, rank, clock, block, samples, Grad(rank, clock, block));
}

Status PushEmpty(Shard& s, uint32_t rank, uint64_t clock) {
  return s.Push(rank, clock, KeyRange{}, 0, nullptr, 0);
}

// p - lr * (sum of sums) / samples.
std::vector<float> SgdStep(const std::vector<float>& p, const std::vector<std::vector<float>>& sums,
                           uint32_t samples, float lr = kLr) {
  std::vector<float> out = p;
  for (size_t i = 0; i < p.size(); ++i) {
    double sum = 0;
    for (const auto& g : sums) sum += g[i];
    out[i] = float(double(p[i]) - double(lr) * sum / samples);
  }
  return out;
}

void CheckValues(const Shard& s, KeyRange keys, const std::vector<float>& expected) {
  const std::vector<float> got = Values(s, keys);
  REQUIRE(got.size() == expected.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) bad += !(got[i] == Approx(expected[i]).margin(1e-5));
  CHECK(bad == 0);
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Observable state; rejected calls must not change it.
struct State {
  std::vector<float> values;
  uint64_t version, version_a, version_b, steps_a, steps_b;
};
State Snap(const Shard& s) {
  return {Values(s, kRange),
          s.version(),
          s.VersionOf(kA),
          s.VersionOf(kB),
          s.optimizer_steps(kA.begin),
          s.optimizer_steps(kB.begin)};
}
void CheckUnchanged(const Shard& s, const State& before) {
  const State now = Snap(s);
  CHECK(BitEqual(now.values, before.values));
  CHECK(now.version == before.version);
  CHECK(now.version_a == before.version_a);
  CHECK(now.version_b == before.version_b);
  CHECK(now.steps_a == before.steps_a);
  CHECK(now.steps_b == before.steps_b);
}

TEST_CASE("Shard: initial values are InitParams of the shard's range", "[ps]") {
  auto s = MakeShard();
  CHECK(s->range() == kRange);
  CHECK(s->version() == 0);
  CHECK(s->optimizer_steps(kA.begin) == 0);
  const std::vector<float> init = InitialValues(kRange);
  CHECK(BitEqual(Values(*s, kRange), init));
  // b0 ([512, 544)) starts at zero, the weights do not.
  for (uint64_t k = 512; k < 544; ++k) CHECK(init[k - kRange.begin] == 0.0f);
  CHECK(init[0] != 0.0f);
  // values() of a sub-range points into the same array.
  CHECK(BitEqual(Values(*s, {512, 544}), std::vector<float>(32, 0.0f)));
}

TEST_CASE("Shard: blocks tile the range", "[ps]") {
  CHECK(MakeShard()->blocks() == std::vector<KeyRange>{kA, kB});
  CHECK(MakeShard(SgdJob(), 2, {0, 512})->blocks() == std::vector<KeyRange>{{0, 256}, {256, 512}});
  CHECK(MakeShard(SgdJob(), 2, {10, 20})->blocks() == std::vector<KeyRange>{{10, 20}});
  // A server with no keys has no blocks and nothing to wait for.
  auto empty = MakeShard(SgdJob(), 2, {50, 50});
  CHECK(empty->blocks().empty());
  CHECK(empty->version() == 0);
  CHECK(empty->CheckPull({50, 50}, 0).ok());
  CHECK(PushEmpty(*empty, 0, 0).ok());
}

TEST_CASE("Shard: Create rejects bad arguments", "[ps]") {
  auto code = [](const JobSpec& job, KeyRange r, uint32_t workers, uint64_t ahead) {
    return Shard::Create(job, r, workers, ahead).status().code();
  };
  CHECK(code(SgdJob(), {0, 677}, 2, kMaxAhead) == StatusCode::kInvalidArgument);
  CHECK(code(SgdJob(), {10, 5}, 2, kMaxAhead) == StatusCode::kInvalidArgument);
  CHECK(code(SgdJob(), kRange, 0, kMaxAhead) == StatusCode::kInvalidArgument);
  CHECK(code(SgdJob(), kRange, 2, 0) == StatusCode::kInvalidArgument);
  JobSpec bad = SgdJob();
  bad.train.batch_size = 0;
  CHECK(code(bad, kRange, 2, kMaxAhead) == StatusCode::kInvalidArgument);
  bad = SgdJob();
  bad.train.block_keys = 0;
  CHECK(code(bad, kRange, 2, kMaxAhead) == StatusCode::kInvalidArgument);
  CHECK(code(SgdJob(), {0, 676}, 1, kMaxAhead) == StatusCode::kOk);
}

TEST_CASE("Shard: BSP applies the mean of both workers' pushes once", "[ps]") {
  auto s = MakeShard();
  const std::vector<float> init_a = InitialValues(kA), init_b = InitialValues(kB);

  REQUIRE(PushGrad(*s, 0, 0, kA, 3).ok());
  REQUIRE(PushGrad(*s, 0, 0, kB, 3).ok());
  // One worker alone does not advance the model.
  CHECK(s->version() == 0);
  CHECK(s->optimizer_steps(kA.begin) == 0);
  CHECK(BitEqual(Values(*s, kRange), InitialValues(kRange)));

  // Block A completes first and is updated on its own.
  REQUIRE(PushGrad(*s, 1, 0, kA, 5).ok());
  CHECK(s->VersionOf(kA) == 1);
  CHECK(s->VersionOf(kB) == 0);
  CHECK(s->version() == 0);
  CHECK(s->optimizer_steps(kA.begin) == 1);
  CHECK(s->optimizer_steps(kA.end - 1) == 1);
  CHECK(s->optimizer_steps(kB.begin) == 0);
  const std::vector<float> a1 = SgdStep(init_a, {Grad(0, 0, kA), Grad(1, 0, kA)}, 3 + 5);
  CheckValues(*s, kA, a1);
  CHECK(BitEqual(Values(*s, kB), init_b));
  CHECK(s->CheckPull(kA, 1).ok());
  CHECK(s->CheckPull(kRange, 1).code() == StatusCode::kUnavailable);

  REQUIRE(PushGrad(*s, 1, 0, kB, 5).ok());
  CHECK(s->version() == 1);
  CHECK(s->optimizer_steps(kB.begin) == 1);
  const std::vector<float> b1 = SgdStep(init_b, {Grad(0, 0, kB), Grad(1, 0, kB)}, 8);
  CheckValues(*s, kA, a1);
  CheckValues(*s, kB, b1);
  CHECK(s->CheckPull(kRange, 1).ok());

  // Neither worker can push clock 0 again; the next clock starts from scratch.
  CHECK(PushGrad(*s, 0, 0, kA, 3).code() == StatusCode::kFailedPrecondition);
  CheckValues(*s, kA, a1);
  REQUIRE(PushGrad(*s, 1, 1, kA, 2).ok());
  CHECK(s->VersionOf(kA) == 1);
  REQUIRE(PushGrad(*s, 0, 1, kA, 2).ok());
  CHECK(s->VersionOf(kA) == 2);
  CHECK(s->optimizer_steps(kA.begin) == 2);
  CheckValues(*s, kA, SgdStep(a1, {Grad(0, 1, kA), Grad(1, 1, kA)}, 4));
  CheckValues(*s, kB, b1);
}

TEST_CASE("Shard: a single worker advances on each push", "[ps]") {
  auto s = MakeShard(SgdJob(), 1);
  std::vector<float> a = InitialValues(kA), b = InitialValues(kB);
  for (uint64_t c = 0; c < 6; ++c) {
    REQUIRE(PushGrad(*s, 0, c, kA, 2).ok());
    REQUIRE(PushGrad(*s, 0, c, kB, 2).ok());
    CHECK(s->version() == c + 1);
    a = SgdStep(a, {Grad(0, c, kA)}, 2);
    b = SgdStep(b, {Grad(0, c, kB)}, 2);
  }
  CheckValues(*s, kA, a);
  CheckValues(*s, kB, b);
}

TEST_CASE("Shard: an empty push from an idle worker counts for every block", "[ps]") {
  auto s = MakeShard();
  const std::vector<float> init_a = InitialValues(kA), init_b = InitialValues(kB);
  REQUIRE(PushEmpty(*s, 1, 0).ok());
  CHECK(s->version() == 0);
  REQUIRE(PushGrad(*s, 0, 0, kA, 4).ok());
  CHECK(s->VersionOf(kA) == 1);
  CHECK(s->version() == 0);
  REQUIRE(PushGrad(*s, 0, 0, kB, 4).ok());
  CHECK(s->version() == 1);
  CHECK(s->optimizer_steps(kA.begin) == 1);
  CHECK(s->optimizer_steps(kB.begin) == 1);
  // The mean is over worker 0's samples only.
  CheckValues(*s, kA, SgdStep(init_a, {Grad(0, 0, kA)}, 4));
  CheckValues(*s, kB, SgdStep(init_b, {Grad(0, 0, kB)}, 4));
}

TEST_CASE("Shard: a clock with only empty pushes advances without an optimizer step", "[ps]") {
  JobSpec job = SgdJob();
  job.optimizer.kind = OptimizerKind::kAdam;  // any step would move the values
  auto s = MakeShard(job);
  const std::vector<float> init = InitialValues(kRange, job);
  REQUIRE(PushEmpty(*s, 0, 0).ok());
  REQUIRE(PushEmpty(*s, 1, 0).ok());
  CHECK(s->version() == 1);
  CHECK(s->optimizer_steps(kA.begin) == 0);
  CHECK(s->optimizer_steps(kB.begin) == 0);
  CHECK(BitEqual(Values(*s, kRange), init));

  REQUIRE(PushEmpty(*s, 1, 1).ok());
  REQUIRE(PushEmpty(*s, 0, 1).ok());
  CHECK(s->version() == 2);
  CHECK(BitEqual(Values(*s, kRange), init));

  // The next clock with data is optimizer step 1.
  REQUIRE(PushGrad(*s, 0, 2, kA, 1).ok());
  REQUIRE(PushGrad(*s, 0, 2, kB, 1).ok());
  REQUIRE(PushEmpty(*s, 1, 2).ok());
  CHECK(s->version() == 3);
  CHECK(s->optimizer_steps(kA.begin) == 1);
  CHECK_FALSE(BitEqual(Values(*s, kRange), init));
}

TEST_CASE("Shard: pushes for later clocks are held and applied in order", "[ps]") {
  // A step schedule halves the rate after every step, so the order matters:
  // clock 0 must get lr 0.1, clock 1 lr 0.05 and clock 2 lr 0.025.
  JobSpec job = SgdJob();
  job.optimizer.schedule = LrSchedule::kStep;
  job.optimizer.step_size = 1;
  job.optimizer.step_gamma = 0.5f;
  auto s = MakeShard(job);
  const std::vector<float> init_a = InitialValues(kA, job);

  REQUIRE(PushGrad(*s, 0, 1, kA, 2).ok());
  REQUIRE(PushGrad(*s, 1, 1, kA, 2).ok());
  REQUIRE(PushGrad(*s, 1, 2, kA, 1).ok());
  CHECK(s->VersionOf(kA) == 0);  // clock 1 is complete but waits for clock 0
  CHECK(BitEqual(Values(*s, kA), init_a));
  REQUIRE(PushGrad(*s, 0, 0, kA, 3).ok());
  CHECK(s->VersionOf(kA) == 0);
  REQUIRE(PushGrad(*s, 1, 0, kA, 1).ok());
  CHECK(s->VersionOf(kA) == 2);  // clocks 0 and 1; clock 2 still lacks worker 0
  CHECK(s->optimizer_steps(kA.begin) == 2);
  CHECK(s->version() == 0);  // block B has seen nothing
  const auto a0 = SgdStep(init_a, {Grad(0, 0, kA), Grad(1, 0, kA)}, 4, 0.1f);
  const auto a1 = SgdStep(a0, {Grad(0, 1, kA), Grad(1, 1, kA)}, 4, 0.05f);
  CheckValues(*s, kA, a1);
  REQUIRE(PushGrad(*s, 0, 2, kA, 1).ok());
  CHECK(s->VersionOf(kA) == 3);
  CheckValues(*s, kA, SgdStep(a1, {Grad(0, 2, kA), Grad(1, 2, kA)}, 2, 0.025f));
  CHECK(BitEqual(Values(*s, kB), InitialValues(kB, job)));
}

TEST_CASE("Shard: invalid pushes are rejected and change nothing", "[ps]") {
  auto s = MakeShard();
  const std::vector<float> big(kRange.size(), 1000.0f);  // would be visible if added
  const std::vector<float> big_a(kA.size(), 1000.0f);
  const State before = Snap(*s);

  SECTION("rank >= num_workers") {
    CHECK(PushBlock(*s, 2, 0, kA, 1, big_a).code() == StatusCode::kInvalidArgument);
    CHECK(PushBlock(*s, 1000, 0, kA, 1, big_a).code() == StatusCode::kInvalidArgument);
    CHECK(PushEmpty(*s, 2, 0).code() == StatusCode::kInvalidArgument);
  }
  SECTION("clock too far ahead") {
    CHECK(PushBlock(*s, 0, kMaxAhead, kA, 1, big_a).code() == StatusCode::kOutOfRange);
    CHECK(PushBlock(*s, 0, UINT64_MAX, kA, 1, big_a).code() == StatusCode::kOutOfRange);
    CHECK(PushEmpty(*s, 0, kMaxAhead).code() == StatusCode::kOutOfRange);
  }
  SECTION("keys that are not exactly one block") {
    const std::vector<KeyRange> not_blocks = {
        {kA.begin, kA.end - 1},        // part of a block
        {kA.begin + 1, kA.end},        // part of a block
        {kA.begin + 1, kB.begin + 1},  // shifted
        {200, 400},                    // across two blocks
        kRange,                        // all blocks at once
        {kB.begin, kB.end + 1},        // past the range
        {0, 100},                      // before the range
        {600, 676},                    // after the range
    };
    for (const KeyRange& k : not_blocks) {
      CAPTURE(k.begin, k.end);
      CHECK(s->Push(0, 0, k, 1, big.data(), k.size()).code() == StatusCode::kInvalidArgument);
    }
    // Reversed keys.
    CHECK(s->Push(0, 0, {kA.end, kA.begin}, 1, big.data(), 0).code() ==
          StatusCode::kInvalidArgument);
  }
  SECTION("value count differs from key count") {
    CHECK(s->Push(0, 0, kA, 1, big.data(), kA.size() - 1).code() == StatusCode::kInvalidArgument);
    CHECK(s->Push(0, 0, kA, 1, big.data(), kA.size() + 1).code() == StatusCode::kInvalidArgument);
    CHECK(s->Push(0, 0, KeyRange{}, 0, big.data(), 1).code() == StatusCode::kInvalidArgument);
  }
  SECTION("gradient values with sample count 0") {
    CHECK(PushBlock(*s, 0, 0, kA, 0, big_a).code() == StatusCode::kInvalidArgument);
  }
  SECTION("an empty push that claims samples") {
    CHECK(s->Push(0, 0, KeyRange{}, 3, nullptr, 0).code() == StatusCode::kInvalidArgument);
  }
  CheckUnchanged(*s, before);

  // Whatever was rejected, a clean round now gives exactly the clean result.
  for (uint32_t r : {0u, 1u})
    for (KeyRange b : {kA, kB}) REQUIRE(PushGrad(*s, r, 0, b, 1 + r).ok());
  CHECK(s->version() == 1);
  CheckValues(*s, kA, SgdStep(InitialValues(kA), {Grad(0, 0, kA), Grad(1, 0, kA)}, 3));
  CheckValues(*s, kB, SgdStep(InitialValues(kB), {Grad(0, 0, kB), Grad(1, 0, kB)}, 3));
}

TEST_CASE("Shard: rejected pushes within a clock are not accumulated", "[ps]") {
  auto s = MakeShard();
  const std::vector<float> init_a = InitialValues(kA), init_b = InitialValues(kB);

  SECTION("duplicate push of a block") {
    REQUIRE(PushGrad(*s, 0, 0, kA, 2).ok());
    const State before = Snap(*s);
    CHECK(PushBlock(*s, 0, 0, kA, 2, std::vector<float>(kA.size(), 1000.0f)).code() ==
          StatusCode::kAlreadyExists);
    CheckUnchanged(*s, before);
    REQUIRE(PushGrad(*s, 1, 0, kA, 3).ok());
    CHECK(s->VersionOf(kA) == 1);
    CheckValues(*s, kA, SgdStep(init_a, {Grad(0, 0, kA), Grad(1, 0, kA)}, 5));
  }
  SECTION("duplicate empty push") {
    REQUIRE(PushEmpty(*s, 0, 0).ok());
    CHECK(PushEmpty(*s, 0, 0).code() == StatusCode::kAlreadyExists);
    CHECK(PushGrad(*s, 0, 0, kB, 2).code() == StatusCode::kAlreadyExists);
    CHECK(s->version() == 0);
    REQUIRE(PushGrad(*s, 1, 0, kA, 3).ok());
    REQUIRE(PushGrad(*s, 1, 0, kB, 3).ok());
    CHECK(s->version() == 1);
    CheckValues(*s, kA, SgdStep(init_a, {Grad(1, 0, kA)}, 3));
    CheckValues(*s, kB, SgdStep(init_b, {Grad(1, 0, kB)}, 3));
  }
  // Both orders, so a check that stops at the first bad block after marking
  // the earlier ones is caught.
  for (const auto& [pushed, other] : {std::pair{kA, kB}, std::pair{kB, kA}}) {
    DYNAMIC_SECTION("an empty push after data for block " << pushed.begin
                                                          << " is rejected as a whole") {
      REQUIRE(PushGrad(*s, 0, 0, pushed, 2).ok());
      const State before = Snap(*s);
      CHECK(PushEmpty(*s, 0, 0).code() == StatusCode::kAlreadyExists);
      CheckUnchanged(*s, before);
      // The other block did not record worker 0: it can still push it.
      REQUIRE(PushGrad(*s, 0, 0, other, 2).ok());
      REQUIRE(PushEmpty(*s, 1, 0).ok());
      CHECK(s->version() == 1);
      CheckValues(*s, other, SgdStep(InitialValues(other), {Grad(0, 0, other)}, 2));
    }
    DYNAMIC_SECTION("an empty push for a clock block " << pushed.begin
                                                       << " already applied is rejected") {
      REQUIRE(PushGrad(*s, 0, 0, pushed, 2).ok());
      REQUIRE(PushGrad(*s, 1, 0, pushed, 2).ok());
      REQUIRE(s->VersionOf(pushed) == 1);
      const State before = Snap(*s);
      CHECK(PushEmpty(*s, 0, 0).code() == StatusCode::kFailedPrecondition);
      CheckUnchanged(*s, before);
      REQUIRE(PushGrad(*s, 0, 0, other, 2).ok());
      REQUIRE(PushGrad(*s, 1, 0, other, 2).ok());
      CHECK(s->version() == 1);
    }
  }
  SECTION("clock already applied and the window moving with the version") {
    for (KeyRange b : {kA, kB}) {
      REQUIRE(PushGrad(*s, 0, 0, b, 2).ok());
      REQUIRE(PushGrad(*s, 1, 0, b, 3).ok());
    }
    const State after = Snap(*s);
    CHECK(PushGrad(*s, 0, 0, kA, 2).code() == StatusCode::kFailedPrecondition);
    CHECK(PushEmpty(*s, 1, 0).code() == StatusCode::kFailedPrecondition);
    CHECK(PushGrad(*s, 0, 1 + kMaxAhead, kA, 1).code() == StatusCode::kOutOfRange);
    CHECK(PushGrad(*s, 0, kMaxAhead, kA, 1).ok());  // held, not applied
    CheckUnchanged(*s, after);
  }
  SECTION("each block has its own clock window") {
    REQUIRE(PushGrad(*s, 0, 0, kA, 1).ok());
    REQUIRE(PushGrad(*s, 1, 0, kA, 1).ok());
    REQUIRE(s->VersionOf(kA) == 1);
    CHECK(PushGrad(*s, 0, kMaxAhead, kA, 1).ok());
    CHECK(PushGrad(*s, 0, kMaxAhead, kB, 1).code() == StatusCode::kOutOfRange);
  }
}

TEST_CASE("Shard: CheckPull", "[ps]") {
  auto s = MakeShard();
  CHECK(s->CheckPull(kRange, 0).ok());
  CHECK(s->CheckPull({150, 160}, 0).ok());
  CHECK(s->CheckPull({150, 150}, 0).ok());
  CHECK(s->CheckPull(kRange, 1).code() == StatusCode::kUnavailable);
  CHECK(s->CheckPull(kRange, kMaxAhead).code() == StatusCode::kUnavailable);
  CHECK(s->CheckPull(kRange, kMaxAhead + 1).code() == StatusCode::kOutOfRange);
  CHECK(s->CheckPull(kRange, UINT64_MAX).code() == StatusCode::kOutOfRange);
  CHECK(s->CheckPull({kRange.begin - 1, kRange.end}, 0).code() == StatusCode::kInvalidArgument);
  CHECK(s->CheckPull({kRange.begin, kRange.end + 1}, 0).code() == StatusCode::kInvalidArgument);
  CHECK(s->CheckPull({0, 50}, 0).code() == StatusCode::kInvalidArgument);
  CHECK(s->CheckPull({300, 200}, 0).code() == StatusCode::kInvalidArgument);
  // Keys the shard does not own win over a version that is not there yet.
  CHECK(s->CheckPull({0, 50}, 1).code() == StatusCode::kInvalidArgument);

  // Block A at version 1, block B at 0.
  REQUIRE(PushGrad(*s, 0, 0, kA, 1).ok());
  REQUIRE(PushEmpty(*s, 1, 0).ok());
  REQUIRE(s->VersionOf(kA) == 1);
  REQUIRE(s->VersionOf(kB) == 0);
  CHECK(s->VersionOf({300, 400}) == 0);  // overlaps both
  CHECK(s->VersionOf({kA.end - 1, kA.end}) == 1);
  CHECK(s->CheckPull(kA, 1).ok());
  CHECK(s->CheckPull({150, 160}, 1).ok());
  CHECK(s->CheckPull(kA, 2).code() == StatusCode::kUnavailable);
  CHECK(s->CheckPull(kA, 1 + kMaxAhead).code() == StatusCode::kUnavailable);
  CHECK(s->CheckPull(kA, 2 + kMaxAhead).code() == StatusCode::kOutOfRange);
  CHECK(s->CheckPull(kB, 1).code() == StatusCode::kUnavailable);
  CHECK(s->CheckPull({300, 400}, 1).code() == StatusCode::kUnavailable);
  CHECK(s->CheckPull(kRange, 1).code() == StatusCode::kUnavailable);

  REQUIRE(PushGrad(*s, 0, 0, kB, 1).ok());
  CHECK(s->version() == 1);
  CHECK(s->CheckPull(kRange, 1).ok());
  CHECK(s->CheckPull({300, 400}, 1).ok());
}

}  // namespace
}  // namespace pst

namespace pst {
namespace {

JobSpec AsyncJob(Consistency c, uint32_t staleness) {
  JobSpec job = SgdJob();
  job.train.consistency = c;
  job.train.staleness = staleness;
  return job;
}

std::vector<float> Ones(KeyRange keys, float v) { return std::vector<float>(keys.size(), v); }

TEST_CASE("Shard: ASP applies every push on arrival with its own mean", "[ps]") {
  const JobSpec job = AsyncJob(Consistency::kAsp, 0);
  auto shard = MakeShard(job);
  const std::vector<float> before = Values(*shard, kA);
  // Worker 0 pushes a gradient sum of 2.0 per key over 4 samples: mean 0.5.
  auto g = Ones(kA, 2.0f);
  REQUIRE(shard->Push(0, 0, kA, 4, g.data(), g.size()).ok());
  std::vector<float> after = Values(*shard, kA);
  for (size_t i = 0; i < after.size(); ++i) CHECK(after[i] == Approx(before[i] - kLr * 0.5f));
  // No waiting for worker 1: a pull at any version is answered now.
  CHECK(shard->CheckPull(kA, 1000).ok());
  // Worker 1 pushes the same block at its clock 0: applied on top.
  REQUIRE(shard->Push(1, 0, kA, 4, g.data(), g.size()).ok());
  after = Values(*shard, kA);
  for (size_t i = 0; i < after.size(); ++i) CHECK(after[i] == Approx(before[i] - 2 * kLr * 0.5f));
  CHECK(shard->optimizer_steps(kA.begin) == 2);
}

TEST_CASE("Shard: ASP/SSP pushes of one worker must come in clock order", "[ps]") {
  auto shard = MakeShard(AsyncJob(Consistency::kSsp, 1));
  auto g = Ones(kA, 1.0f);
  REQUIRE(shard->Push(0, 0, kA, 1, g.data(), g.size()).ok());
  const std::vector<float> v = Values(*shard, kA);
  CHECK(shard->Push(0, 0, kA, 1, g.data(), g.size()).code() == StatusCode::kFailedPrecondition);
  CHECK(shard->Push(0, 2, kA, 1, g.data(), g.size()).code() == StatusCode::kFailedPrecondition);
  CHECK(Values(*shard, kA) == v);
  CHECK(shard->Push(0, 1, kA, 1, g.data(), g.size()).ok());
}

TEST_CASE("Shard: SSP pulls wait for the slowest live worker", "[ps]") {
  auto shard = MakeShard(AsyncJob(Consistency::kSsp, 2));
  auto g = Ones(kA, 1.0f);
  // Worker 0 pushes clocks 0..3 of block A; worker 1 nothing yet.
  for (uint64_t c = 0; c < 4; ++c) REQUIRE(shard->Push(0, c, kA, 1, g.data(), g.size()).ok());
  CHECK(shard->SlowestClock(kA) == 0);
  // Worker 0 at clock 4 with staleness 2 needs every worker at clock >= 2.
  CHECK(shard->CheckPull(kA, 2).code() == StatusCode::kUnavailable);
  CHECK(shard->CheckPull(kA, 0).ok());
  REQUIRE(shard->Push(1, 0, kA, 1, g.data(), g.size()).ok());
  CHECK(shard->CheckPull(kA, 2).code() == StatusCode::kUnavailable);
  REQUIRE(shard->Push(1, 1, kA, 1, g.data(), g.size()).ok());
  CHECK(shard->SlowestClock(kA) == 2);
  CHECK(shard->CheckPull(kA, 2).ok());
  // Block B has seen no pushes: a pull spanning both waits for B.
  CHECK(shard->CheckPull(kRange, 2).code() == StatusCode::kUnavailable);
}

TEST_CASE("Shard: a retired worker is no longer waited for", "[ps]") {
  auto shard = MakeShard(AsyncJob(Consistency::kSsp, 0));
  auto g = Ones(kA, 1.0f);
  REQUIRE(shard->Push(0, 0, kA, 1, g.data(), g.size()).ok());
  CHECK(shard->CheckPull(kA, 1).code() == StatusCode::kUnavailable);
  REQUIRE(shard->Retire(1).ok());
  CHECK(shard->SlowestClock(kA) == 1);
  CHECK(shard->CheckPull(kA, 1).ok());
  // A retired worker cannot push again.
  CHECK(shard->Push(1, 0, kA, 1, g.data(), g.size()).code() == StatusCode::kFailedPrecondition);
  CHECK(shard->Retire(7).code() == StatusCode::kInvalidArgument);
  // BSP has no retirement: idle workers push empty clocks instead.
  auto bsp = MakeShard();
  CHECK(bsp->Retire(0).code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
