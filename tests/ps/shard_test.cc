#include "ps/shard.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/job_spec.h"
#include "common/job_tables.h"
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
  StatusOr<std::unique_ptr<Shard>> s =
      Shard::Create(JobTables(job).value(), job.train, range, workers, kMaxAhead);
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
    return Shard::Create(JobTables(job).value(), job.train, r, workers, ahead).status().code();
  };
  CHECK(code(SgdJob(), {0, 677}, 2, kMaxAhead) == StatusCode::kInvalidArgument);
  CHECK(code(SgdJob(), {10, 5}, 2, kMaxAhead) == StatusCode::kInvalidArgument);
  CHECK(code(SgdJob(), kRange, Shard::kMaxRanks + 1, kMaxAhead) == StatusCode::kInvalidArgument);
  CHECK(code(SgdJob(), kRange, 2, 0) == StatusCode::kInvalidArgument);
  JobSpec bad = SgdJob();
  bad.train.batch_size = 0;
  CHECK(code(bad, kRange, 2, kMaxAhead) == StatusCode::kInvalidArgument);
  bad = SgdJob();
  bad.train.block_keys = 255;  // 0 is automatic; below 256 is refused
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

TEST_CASE("Shard: BSP keeps no pointer to a push's values after Push returns", "[ps]") {
  // A lone push that completes its clock is applied straight from the
  // caller's buffer; any other is copied. Overwriting each buffer right after
  // its push (as a freed network frame would be) must change nothing.
  auto s = MakeShard();
  const std::vector<float> init_a = InitialValues(kA);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> g00 = Grad(0, 0, kA), g01 = Grad(0, 1, kA), g10 = Grad(1, 0, kA);
  REQUIRE(PushBlock(*s, 0, 0, kA, 3, g00).ok());  // waits for worker 1
  std::fill(g00.begin(), g00.end(), nan);
  REQUIRE(PushBlock(*s, 0, 1, kA, 3, g01).ok());  // a later clock: held
  std::fill(g01.begin(), g01.end(), nan);
  REQUIRE(PushBlock(*s, 1, 0, kA, 5, g10).ok());  // completes clock 0
  std::fill(g10.begin(), g10.end(), nan);
  const std::vector<float> a1 = SgdStep(init_a, {Grad(0, 0, kA), Grad(1, 0, kA)}, 8);
  CheckValues(*s, kA, a1);
  std::vector<float> g11 = Grad(1, 1, kA);
  REQUIRE(PushBlock(*s, 1, 1, kA, 5, g11).ok());  // completes clock 1
  CheckValues(*s, kA, SgdStep(a1, {Grad(0, 1, kA), Grad(1, 1, kA)}, 8));

  // One worker: every push completes its clock and is applied from its buffer.
  auto one = MakeShard(SgdJob(), 1);
  std::vector<float> g = Grad(0, 0, kA);
  REQUIRE(PushBlock(*one, 0, 0, kA, 2, g).ok());
  std::fill(g.begin(), g.end(), nan);
  CheckValues(*one, kA, SgdStep(init_a, {Grad(0, 0, kA)}, 2));
}

TEST_CASE("Shard: BSP sums a clock's pushes in data order, whatever arrives first or who pushes",
          "[ps]") {
  // Three batches whose float sum depends on the order of the additions.
  const float x = 3e7f, y = 1.0f, z = -3e7f;
  const float in_order = (x + y) + z;
  REQUIRE(in_order != (x + z) + y);  // otherwise this test could not fail
  const std::vector<float> gx(kA.size(), x), gy(kA.size(), y), gz(kA.size(), z);
  const std::vector<std::pair<uint64_t, const std::vector<float>*>> batches = {
      {0, &gx}, {512, &gy}, {1024, &gz}};  // (data order, gradient)
  // The clock's update must be exactly a lone worker's push of the in-order sum.
  auto lone = MakeShard(SgdJob(), 1);
  const std::vector<float> sum(kA.size(), in_order);
  REQUIRE(PushBlock(*lone, 0, 0, kA, 9, sum).ok());
  const std::vector<float> expected = Values(*lone, kA);

  std::vector<int> arrival = {0, 1, 2};
  do {
    std::vector<uint32_t> ranks = {0, 1, 2};  // ranks[b]: the worker that trained batch b
    do {
      auto s = MakeShard(SgdJob(), 3);
      for (int b : arrival) {
        const auto& [order, g] = batches[b];
        REQUIRE(s->Push(ranks[b], 0, kA, 3, g->data(), g->size(), order).ok());
      }
      INFO("arrival " << arrival[0] << arrival[1] << arrival[2] << ", ranks " << ranks[0]
                      << ranks[1] << ranks[2]);
      CHECK(s->VersionOf(kA) == 1);
      CHECK(BitEqual(Values(*s, kA), expected));
    } while (std::next_permutation(ranks.begin(), ranks.end()));
  } while (std::next_permutation(arrival.begin(), arrival.end()));

  // Equal data orders (an old client that sends none) fall back to rank order.
  auto s = MakeShard(SgdJob(), 3);
  REQUIRE(s->Push(2, 0, kA, 3, gy.data(), gy.size()).ok());
  REQUIRE(s->Push(0, 0, kA, 3, gx.data(), gx.size()).ok());
  REQUIRE(s->Push(1, 0, kA, 3, gz.data(), gz.size()).ok());
  auto lone2 = MakeShard(SgdJob(), 1);
  const std::vector<float> rank_sum(kA.size(), (x + z) + y);
  REQUIRE(PushBlock(*lone2, 0, 0, kA, 9, rank_sum).ok());
  CHECK(BitEqual(Values(*s, kA), Values(*lone2, kA)));
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

// Worker roster, checkpoint capture and restore.
namespace pst {
namespace {

using Catch::Matchers::Contains;

JobSpec AdamJob() {
  JobSpec job = SgdJob();
  job.optimizer.kind = OptimizerKind::kAdam;
  return job;
}

std::vector<uint32_t> Ranks(std::initializer_list<uint32_t> r) { return r; }

void CheckNear(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) bad += !(got[i] == Approx(want[i]).margin(1e-5));
  CHECK(bad == 0);
}

// The state of `s` now, through a capture at its current clock (which must be
// one every block has reached exactly, e.g. BSP with no pending clocks).
CapturedCheckpoint CaptureNow(Shard& s, uint64_t clock) {
  REQUIRE(s.BeginCapture(1000, clock).ok());
  REQUIRE(s.capture_ready());
  std::optional<CapturedCheckpoint> cp = s.TakeCapture();
  REQUIRE(cp.has_value());
  return std::move(*cp);
}

// One BSP clock: every listed worker pushes both blocks, in order.
void BspClock(Shard& s, std::initializer_list<uint32_t> ranks, uint64_t clock) {
  for (uint32_t r : ranks)
    for (KeyRange b : {kA, kB}) REQUIRE(PushGrad(s, r, clock, b, 1 + r).ok());
}

TEST_CASE("Shard: BSP worker removed mid-clock is no longer waited for", "[ps]") {
  auto s = MakeShard(SgdJob(), 3);
  const std::vector<float> init_a = InitialValues(kA), init_b = InitialValues(kB);
  for (uint32_t r : {0u, 1u})
    for (KeyRange b : {kA, kB}) REQUIRE(PushGrad(*s, r, 0, b, 2).ok());
  REQUIRE(PushGrad(*s, 2, 0, kA, 3).ok());  // worker 2 dies before pushing block B
  CHECK(s->VersionOf(kA) == 1);
  CHECK(s->VersionOf(kB) == 0);
  const auto a1 = SgdStep(init_a, {Grad(0, 0, kA), Grad(1, 0, kA), Grad(2, 0, kA)}, 7);
  CheckValues(*s, kA, a1);
  // The others run ahead on block B; everything waits for worker 2.
  for (uint64_t c : {1u, 2u})
    for (uint32_t r : {0u, 1u}) REQUIRE(PushGrad(*s, r, c, kB, 2).ok());
  CHECK(s->VersionOf(kB) == 0);

  StatusOr<uint64_t> done = s->RemoveWorker(2);
  REQUIRE(done.ok());
  CHECK(*done == 0);  // it never pushed block B for clock 0
  CHECK(s->active_ranks() == Ranks({0, 1}));
  // Clocks 0, 1 and 2 of block B apply at once, with only workers 0 and 1.
  CHECK(s->VersionOf(kB) == 3);
  std::vector<float> b = init_b;
  for (uint64_t c = 0; c < 3; ++c) b = SgdStep(b, {Grad(0, c, kB), Grad(1, c, kB)}, 4);
  CheckValues(*s, kB, b);
  CheckValues(*s, kA, a1);

  // Clock 1 of block A needs workers 0 and 1 only.
  REQUIRE(PushGrad(*s, 0, 1, kA, 1).ok());
  CHECK(s->VersionOf(kA) == 1);
  REQUIRE(PushGrad(*s, 1, 1, kA, 1).ok());
  CHECK(s->VersionOf(kA) == 2);
  CheckValues(*s, kA, SgdStep(a1, {Grad(0, 1, kA), Grad(1, 1, kA)}, 2));

  // The removed worker is out.
  const State before = Snap(*s);
  CHECK(PushGrad(*s, 2, 2, kA, 1).code() == StatusCode::kFailedPrecondition);
  CHECK(PushEmpty(*s, 2, 2).code() == StatusCode::kFailedPrecondition);
  CHECK(s->RemoveWorker(2).status().code() == StatusCode::kNotFound);
  CHECK(s->RemoveWorker(3).status().code() == StatusCode::kNotFound);
  CHECK(s->RemoveWorker(Shard::kMaxRanks + 5).status().code() == StatusCode::kNotFound);
  CheckUnchanged(*s, before);
}

TEST_CASE("Shard: BSP RemoveWorker counts completed clocks, its pending pushes stay", "[ps]") {
  auto s = MakeShard();
  const std::vector<float> init_a = InitialValues(kA), init_b = InitialValues(kB);
  REQUIRE(PushGrad(*s, 1, 0, kA, 5).ok());
  REQUIRE(PushGrad(*s, 1, 0, kB, 5).ok());
  REQUIRE(PushGrad(*s, 1, 1, kA, 2).ok());
  REQUIRE(PushGrad(*s, 0, 0, kA, 3).ok());
  REQUIRE(s->VersionOf(kA) == 1);

  StatusOr<uint64_t> done = s->RemoveWorker(1);
  REQUIRE(done.ok());
  CHECK(*done == 1);         // block A: clocks 0 and 1; block B: clock 0
  CHECK(s->version() == 0);  // block B clock 0 still waits for worker 0

  // Worker 1's pushes for clock 0 of B and clock 1 of A are averaged in.
  REQUIRE(PushGrad(*s, 0, 0, kB, 3).ok());
  CHECK(s->VersionOf(kB) == 1);
  CheckValues(*s, kB, SgdStep(init_b, {Grad(0, 0, kB), Grad(1, 0, kB)}, 8));
  REQUIRE(PushGrad(*s, 0, 1, kA, 3).ok());
  CHECK(s->VersionOf(kA) == 2);
  const auto a1 = SgdStep(init_a, {Grad(0, 0, kA), Grad(1, 0, kA)}, 8);
  CheckValues(*s, kA, SgdStep(a1, {Grad(0, 1, kA), Grad(1, 1, kA)}, 5));

  // A worker that pushed nothing completed the clocks before its first one.
  REQUIRE(s->AddWorker(4, 2).ok());
  done = s->RemoveWorker(4);
  REQUIRE(done.ok());
  CHECK(*done == 2);
  done = s->RemoveWorker(0);
  REQUIRE(done.ok());
  CHECK(*done == 1);  // block B is at 1
}

TEST_CASE("Shard: BSP with no active worker applies nothing until one is added", "[ps]") {
  auto s = MakeShard();
  const std::vector<float> init_a = InitialValues(kA), init_b = InitialValues(kB);
  BspClock(*s, {0, 1}, 0);
  REQUIRE(s->version() == 1);
  const auto a1 = SgdStep(init_a, {Grad(0, 0, kA), Grad(1, 0, kA)}, 3);
  const auto b1 = SgdStep(init_b, {Grad(0, 0, kB), Grad(1, 0, kB)}, 3);
  REQUIRE(PushGrad(*s, 0, 1, kA, 4).ok());
  REQUIRE(*s->RemoveWorker(0) == 1);
  REQUIRE(*s->RemoveWorker(1) == 1);
  CHECK(s->active_ranks().empty());
  // Block A's clock 1 waits for nobody, but with no worker at all nothing applies.
  CHECK(s->VersionOf(kA) == 1);
  CHECK(PushGrad(*s, 0, 1, kB, 1).code() == StatusCode::kFailedPrecondition);

  SECTION("a worker added at the version is waited for") {
    REQUIRE(s->AddWorker(5, 1).ok());
    CHECK(s->version() == 1);
    REQUIRE(PushGrad(*s, 5, 1, kA, 2).ok());
    CHECK(s->VersionOf(kA) == 2);
    CheckValues(*s, kA, SgdStep(a1, {Grad(0, 1, kA), Grad(5, 1, kA)}, 6));
    CHECK(PushEmpty(*s, 5, 1).code() == StatusCode::kFailedPrecondition);  // A applied clock 1
    REQUIRE(PushGrad(*s, 5, 1, kB, 2).ok());
    CHECK(s->version() == 2);
  }
  SECTION("a worker added later lets the clocks before it apply") {
    REQUIRE(s->AddWorker(5, 3).ok());
    CHECK(s->version() == 3);
    // Block A applied clock 1 with worker 0's leftover push; clock 2 had nothing.
    CHECK(s->optimizer_steps(kA.begin) == 2);
    CHECK(s->optimizer_steps(kB.begin) == 1);
    CheckValues(*s, kA, SgdStep(a1, {Grad(0, 1, kA)}, 4));
    CheckValues(*s, kB, b1);
  }
  SECTION("far ahead, through a capture's clock") {
    REQUIRE(s->BeginCapture(2, 3).ok());
    constexpr uint64_t kFar = uint64_t{1} << 50;  // the clocks are skipped, not stepped
    REQUIRE(s->AddWorker(5, kFar).ok());
    CHECK(s->version() == kFar);
    std::optional<CapturedCheckpoint> cp = s->TakeCapture();
    REQUIRE(cp.has_value());
    CHECK(cp->blocks[0].version == 3);
    CHECK(cp->blocks[0].optimizer_steps == 2);
    CHECK(BitEqual(cp->blocks[0].values, Values(*s, kA)));
  }
}

TEST_CASE("Shard: workers can all join later", "[ps]") {
  auto s = MakeShard(SgdJob(), 0);
  CHECK(s->active_ranks().empty());
  CHECK(PushGrad(*s, 0, 0, kA, 1).code() == StatusCode::kInvalidArgument);
  CHECK(PushEmpty(*s, 0, 0).code() == StatusCode::kInvalidArgument);
  REQUIRE(s->AddWorker(1, 0).ok());
  REQUIRE(s->AddWorker(0, 0).ok());
  CHECK(s->active_ranks() == Ranks({0, 1}));
  auto ref = MakeShard(SgdJob(), 2);
  BspClock(*s, {0, 1}, 0);
  BspClock(*ref, {0, 1}, 0);
  CHECK(s->version() == 1);
  CHECK(BitEqual(Values(*s, kRange), Values(*ref, kRange)));
}

TEST_CASE("Shard: BSP AddWorker is rejected when too late and waited for otherwise", "[ps]") {
  auto s = MakeShard();
  BspClock(*s, {0, 1}, 0);
  REQUIRE(PushGrad(*s, 0, 1, kA, 1).ok());
  const State before = Snap(*s);

  CHECK(s->AddWorker(2, 0).code() == StatusCode::kFailedPrecondition);  // clock 0 applied
  CHECK(s->AddWorker(0, 5).code() == StatusCode::kAlreadyExists);
  CHECK(s->AddWorker(Shard::kMaxRanks, 1).code() == StatusCode::kInvalidArgument);
  CheckUnchanged(*s, before);
  CHECK(s->active_ranks() == Ranks({0, 1}));
  CHECK(PushGrad(*s, 2, 1, kA, 1).code() == StatusCode::kInvalidArgument);

  REQUIRE(s->AddWorker(2, 1).ok());
  CHECK(s->active_ranks() == Ranks({0, 1, 2}));
  REQUIRE(PushGrad(*s, 1, 1, kA, 1).ok());
  CHECK(s->VersionOf(kA) == 1);  // waits for worker 2
  CHECK(PushGrad(*s, 2, 0, kA, 1).code() == StatusCode::kFailedPrecondition);
  REQUIRE(PushGrad(*s, 2, 1, kA, 6).ok());
  CHECK(s->VersionOf(kA) == 2);
  const auto a1 = SgdStep(InitialValues(kA), {Grad(0, 0, kA), Grad(1, 0, kA)}, 3);
  const auto a2 = SgdStep(a1, {Grad(0, 1, kA), Grad(1, 1, kA), Grad(2, 1, kA)}, 8);
  CheckValues(*s, kA, a2);

  // A rank beyond the current ones, joining at clock 3: not needed before.
  REQUIRE(s->AddWorker(9, 3).ok());
  CHECK(s->active_ranks() == Ranks({0, 1, 2, 9}));
  for (uint32_t r : {0u, 1u, 2u}) REQUIRE(PushGrad(*s, r, 1, kB, 1).ok());
  CHECK(s->VersionOf(kB) == 2);
  BspClock(*s, {0, 1, 2}, 2);
  CHECK(s->version() == 3);
  BspClock(*s, {0, 1, 2}, 3);
  CHECK(s->version() == 3);  // clock 3 waits for worker 9
  REQUIRE(PushGrad(*s, 9, 3, kA, 1).ok());
  CHECK(s->VersionOf(kA) == 4);
  CHECK(s->VersionOf(kB) == 3);
  StatusOr<uint64_t> done = s->RemoveWorker(9);
  REQUIRE(done.ok());
  CHECK(*done == 3);  // it pushed block A for clock 3 but not block B
  CHECK(s->version() == 4);
}

TEST_CASE("Shard: a removed rank can be added again", "[ps]") {
  auto s = MakeShard();
  const std::vector<float> init_a = InitialValues(kA);
  REQUIRE(PushGrad(*s, 1, 0, kA, 1).ok());
  REQUIRE(PushGrad(*s, 1, 1, kA, 1).ok());
  REQUIRE(*s->RemoveWorker(1) == 0);
  BspClock(*s, {0}, 0);
  REQUIRE(s->version() == 1);
  // Its old push for clock 1 is still pending: joining at 1 would count twice.
  CHECK(s->AddWorker(1, 1).code() == StatusCode::kFailedPrecondition);
  BspClock(*s, {0}, 1);
  REQUIRE(s->version() == 2);
  CHECK(s->AddWorker(1, 1).code() == StatusCode::kFailedPrecondition);  // too late now
  REQUIRE(s->AddWorker(1, 2).ok());
  CHECK(PushGrad(*s, 1, 1, kB, 1).code() == StatusCode::kFailedPrecondition);
  BspClock(*s, {0}, 2);
  CHECK(s->version() == 2);
  BspClock(*s, {1}, 2);
  CHECK(s->version() == 3);
  std::vector<float> a = init_a;
  a = SgdStep(a, {Grad(0, 0, kA), Grad(1, 0, kA)}, 2);
  a = SgdStep(a, {Grad(0, 1, kA), Grad(1, 1, kA)}, 2);
  a = SgdStep(a, {Grad(0, 2, kA), Grad(1, 2, kA)}, 3);
  CheckValues(*s, kA, a);
}

TEST_CASE("Shard: ASP/SSP roster changes", "[ps]") {
  auto s = MakeShard(AsyncJob(Consistency::kSsp, 0));
  const auto g = Ones(kA, 1.0f);
  REQUIRE(s->AddWorker(2, 3).ok());
  CHECK(s->SlowestClock(kA) == 0);
  CHECK(s->Push(2, 0, kA, 1, g.data(), g.size()).code() == StatusCode::kFailedPrecondition);
  CHECK(s->Push(2, 4, kA, 1, g.data(), g.size()).code() == StatusCode::kFailedPrecondition);
  const std::vector<float> before = Values(*s, kA);
  REQUIRE(s->Push(2, 3, kA, 4, g.data(), g.size()).ok());
  std::vector<float> a = SgdStep(before, {g}, 4);
  CheckValues(*s, kA, a);
  for (uint32_t r : {0u, 1u})
    for (uint64_t c = 0; c < 4; ++c) REQUIRE(s->Push(r, c, kA, 1, g.data(), g.size()).ok());
  CHECK(s->SlowestClock(kA) == 4);
  CHECK(s->SlowestClock(kB) == 0);
  CHECK(s->optimizer_steps(kA.begin) == 9);

  CHECK(s->AddWorker(0, 0).code() == StatusCode::kAlreadyExists);
  StatusOr<uint64_t> done = s->RemoveWorker(2);
  REQUIRE(done.ok());
  CHECK(*done == 3);  // block A: 4, block B: 3
  REQUIRE(s->Retire(1).ok());
  CHECK(s->Retire(1).ok());
  CHECK(s->AddWorker(1, 0).code() == StatusCode::kAlreadyExists);
  done = s->RemoveWorker(1);
  REQUIRE(done.ok());
  CHECK(*done == 0);  // nothing of block B
  CHECK(s->Retire(1).code() == StatusCode::kInvalidArgument);
  CHECK(s->Push(1, 4, kA, 1, g.data(), g.size()).code() == StatusCode::kFailedPrecondition);
  CHECK(s->active_ranks() == Ranks({0}));
  // SSP pulls wait for worker 0 only.
  CHECK(s->CheckPull(kRange, 1).code() == StatusCode::kUnavailable);
  const auto gb = Ones(kB, 1.0f);
  REQUIRE(s->Push(0, 0, kB, 1, gb.data(), gb.size()).ok());
  CHECK(s->SlowestClock(kRange) == 1);
  CHECK(s->CheckPull(kRange, 1).ok());
  REQUIRE(s->RemoveWorker(0).ok());
  CHECK(s->SlowestClock(kRange) == UINT64_MAX);
  // A removed rank may come back at any clock.
  REQUIRE(s->AddWorker(1, 7).ok());
  CHECK(s->SlowestClock(kRange) == 7);
}

TEST_CASE("Shard: BSP capture equals a shard stepped exactly K clocks", "[ps]") {
  const JobSpec job = AdamJob();
  auto s = MakeShard(job);
  auto ref = MakeShard(job);
  REQUIRE(s->BeginCapture(7, 2).ok());
  CHECK(s->capturing());
  CHECK_FALSE(s->capture_ready());
  CHECK_FALSE(s->TakeCapture().has_value());
  CHECK(s->capturing());

  // Worker 0 runs four clocks ahead, then worker 1 catches up block by block.
  for (uint64_t c = 0; c < 4; ++c) BspClock(*s, {0}, c);
  for (uint64_t c = 0; c < 4; ++c) REQUIRE(PushGrad(*s, 1, c, kA, 2).ok());
  CHECK(s->VersionOf(kA) == 4);
  CHECK_FALSE(s->capture_ready());
  for (uint64_t c = 0; c < 4; ++c) REQUIRE(PushGrad(*s, 1, c, kB, 2).ok());
  CHECK(s->version() == 4);
  CHECK(s->capture_ready());

  for (uint64_t c = 0; c < 2; ++c) {
    BspClock(*ref, {0}, c);
    BspClock(*ref, {1}, c);
  }
  const CapturedCheckpoint want = CaptureNow(*ref, 2);
  std::optional<CapturedCheckpoint> got = s->TakeCapture();
  REQUIRE(got.has_value());
  CHECK_FALSE(s->capturing());
  CHECK_FALSE(s->TakeCapture().has_value());
  CHECK(got->id == 7);
  CHECK(got->clock == 2);
  CHECK(got->slot_names == std::vector<std::string>{"m", "v"});
  REQUIRE(got->blocks.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const BlockState& b = got->blocks[i];
    CHECK(b.keys == (i == 0 ? kA : kB));
    CHECK(b.version == 2);
    CHECK(b.optimizer_steps == 2);
    CHECK(BitEqual(b.values, want.blocks[i].values));
    REQUIRE(b.slots.size() == 2);
    CHECK(BitEqual(b.slots[0], want.blocks[i].slots[0]));
    CHECK(BitEqual(b.slots[1], want.blocks[i].slots[1]));
    CHECK_FALSE(BitEqual(b.values, Values(*s, b.keys)));  // training went on
  }
  CHECK(got->blocks == want.blocks);
}

TEST_CASE("Shard: BSP capture completes when a removed worker unblocks the clock", "[ps]") {
  auto s = MakeShard();
  REQUIRE(s->BeginCapture(1, 1).ok());
  BspClock(*s, {0}, 0);
  CHECK_FALSE(s->capture_ready());
  REQUIRE(s->RemoveWorker(1).ok());
  CHECK(s->capture_ready());
  std::optional<CapturedCheckpoint> cp = s->TakeCapture();
  REQUIRE(cp.has_value());
  CHECK(BitEqual(cp->blocks[0].values, Values(*s, kA)));
  CHECK(cp->blocks[1].version == 1);
}

TEST_CASE("Shard: BeginCapture too late is rejected", "[ps]") {
  SECTION("BSP") {
    auto s = MakeShard();
    BspClock(*s, {0, 1}, 0);
    BspClock(*s, {0, 1}, 1);
    REQUIRE(PushGrad(*s, 0, 2, kB, 1).ok());
    REQUIRE(PushGrad(*s, 1, 2, kA, 1).ok());
    REQUIRE(PushGrad(*s, 0, 2, kA, 1).ok());
    REQUIRE(s->VersionOf(kA) == 3);
    REQUIRE(s->VersionOf(kB) == 2);
    const Status missed = s->BeginCapture(1, 2);
    CHECK(missed.code() == StatusCode::kFailedPrecondition);
    CHECK_THAT(missed.message(), Contains("missed"));
    CHECK_FALSE(s->capturing());
    REQUIRE(s->BeginCapture(2, 3).ok());
    CHECK_FALSE(s->capture_ready());  // block A copied now, block B not yet
    CHECK(s->BeginCapture(3, 1).code() == StatusCode::kFailedPrecondition);
    CHECK(s->capturing());  // capture 2 is still in flight
    const std::vector<float> a3 = Values(*s, kA);
    BspClock(*s, {0, 1}, 3);  // block A moves on
    REQUIRE(PushGrad(*s, 1, 2, kB, 1).ok());
    std::optional<CapturedCheckpoint> cp = s->TakeCapture();
    REQUIRE(cp.has_value());
    CHECK(cp->id == 2);
    CHECK(BitEqual(cp->blocks[0].values, a3));
    CHECK(cp->blocks[1].version == 3);
  }
  SECTION("ASP") {
    auto s = MakeShard(AsyncJob(Consistency::kAsp, 0));
    const auto g = Ones(kA, 1.0f);
    for (uint64_t c = 0; c < 3; ++c) REQUIRE(s->Push(0, c, kA, 1, g.data(), g.size()).ok());
    const Status missed = s->BeginCapture(1, 2);
    CHECK(missed.code() == StatusCode::kFailedPrecondition);
    CHECK_THAT(missed.message(), Contains("clock 2"));
    CHECK_FALSE(s->capturing());
    CHECK(s->BeginCapture(1, 3).ok());
  }
  SECTION("ASP empty pushes change nothing, so they do not count") {
    auto s = MakeShard(AsyncJob(Consistency::kAsp, 0));
    for (uint64_t c = 0; c < 5; ++c) REQUIRE(PushEmpty(*s, 0, c).ok());
    REQUIRE(s->BeginCapture(1, 3).ok());
    REQUIRE(PushEmpty(*s, 1, 0).ok());
    REQUIRE(PushEmpty(*s, 1, 1).ok());
    CHECK_FALSE(s->capture_ready());
    REQUIRE(PushEmpty(*s, 1, 2).ok());
    std::optional<CapturedCheckpoint> cp = s->TakeCapture();
    REQUIRE(cp.has_value());
    CHECK(BitEqual(cp->blocks[0].values, InitialValues(kA)));
  }
}

TEST_CASE("Shard: ASP capture holds a fast worker's later clocks", "[ps]") {
  const JobSpec job = AsyncJob(Consistency::kSsp, 0);
  auto s = MakeShard(job);
  auto never = MakeShard(job);  // same pushes, no capture
  constexpr uint64_t kK = 2;
  REQUIRE(s->BeginCapture(5, kK).ok());
  CHECK_FALSE(s->capture_ready());
  auto push_both = [&](uint32_t r, uint64_t c, KeyRange b) {
    REQUIRE(PushGrad(*s, r, c, b, 2).ok());
    REQUIRE(PushGrad(*never, r, c, b, 2).ok());
  };

  for (uint64_t c = 0; c < 4; ++c)
    for (KeyRange b : {kA, kB}) push_both(0, c, b);
  // Clocks 2 and 3 are held: not visible, but they count for the clock order.
  std::vector<float> a = InitialValues(kA, job);
  for (uint64_t c = 0; c < kK; ++c) a = SgdStep(a, {Grad(0, c, kA)}, 2);
  CheckValues(*s, kA, a);
  CHECK(s->VersionOf(kA) == 2);
  CHECK(PushGrad(*s, 0, 3, kA, 2).code() == StatusCode::kFailedPrecondition);
  CHECK(PushGrad(*s, 0, 2, kA, 2).code() == StatusCode::kFailedPrecondition);
  CHECK(s->CheckPull(kA, 0).ok());
  // Worker 0's pulls must wait for its held pushes; worker 1 has none held.
  CHECK(s->HoldsPushOf(kA, 0));
  CHECK(s->HoldsPushOf(kRange, 0));
  CHECK_FALSE(s->HoldsPushOf(kA, 1));
  CHECK(s->CheckPull(kA, 0, 0).code() == StatusCode::kUnavailable);
  CHECK(s->CheckPull(kA, 0, 1).ok());
  CHECK(s->applied_clock() == kK);  // held clocks are not applied yet

  push_both(1, 0, kA);
  CHECK_FALSE(s->capture_ready());
  push_both(1, 1, kA);  // block A complete below K: copied, then the held clocks apply
  CHECK_FALSE(s->HoldsPushOf(kA, 0));
  CHECK(s->HoldsPushOf(kB, 0));  // block B still waits for worker 1
  CHECK(s->applied_clock() == 4);
  for (uint64_t c = 0; c < kK; ++c) a = SgdStep(a, {Grad(1, c, kA)}, 2);
  std::vector<float> a_now = a;
  for (uint64_t c = kK; c < 4; ++c) a_now = SgdStep(a_now, {Grad(0, c, kA)}, 2);
  CheckValues(*s, kA, a_now);
  CHECK(s->VersionOf(kA) == 6);
  CHECK_FALSE(s->capture_ready());
  push_both(1, 0, kB);
  push_both(1, 1, kB);
  REQUIRE(s->capture_ready());
  CHECK_FALSE(s->HoldsPushOf(kRange, 0));

  std::optional<CapturedCheckpoint> cp = s->TakeCapture();
  REQUIRE(cp.has_value());
  CHECK(cp->id == 5);
  CHECK(cp->clock == kK);
  REQUIRE(cp->blocks.size() == 2);
  CHECK(cp->blocks[0].version == 4);
  CHECK(cp->blocks[0].optimizer_steps == 4);
  CHECK(cp->blocks[0].slots.empty());
  CheckNear(cp->blocks[0].values, a);
  std::vector<float> b = InitialValues(kB, job);
  for (uint32_t r : {0u, 1u})
    for (uint64_t c = 0; c < kK; ++c) b = SgdStep(b, {Grad(r, c, kB)}, 2);
  CheckNear(cp->blocks[1].values, b);

  // After everything, the state is that of a shard that never captured (up to
  // the order of the SGD steps).
  for (uint64_t c = kK; c < 4; ++c)
    for (KeyRange blk : {kA, kB}) push_both(1, c, blk);
  CHECK(s->version() == never->version());
  CHECK(s->optimizer_steps(kB.begin) == 8);
  CheckValues(*s, kRange, Values(*never, kRange));
}

TEST_CASE("Shard: ASP capture completes when the slow worker stops", "[ps]") {
  auto s = MakeShard(AsyncJob(Consistency::kAsp, 0));
  REQUIRE(s->BeginCapture(1, 2).ok());
  for (uint64_t c = 0; c < 3; ++c)
    for (KeyRange b : {kA, kB}) REQUIRE(PushGrad(*s, 0, c, b, 1).ok());
  REQUIRE(PushGrad(*s, 1, 0, kA, 1).ok());
  std::vector<float> a = InitialValues(kA);
  a = SgdStep(a, {Grad(0, 0, kA)}, 1);
  a = SgdStep(a, {Grad(0, 1, kA)}, 1);
  a = SgdStep(a, {Grad(1, 0, kA)}, 1);
  CHECK_FALSE(s->capture_ready());

  SECTION("retired") { REQUIRE(s->Retire(1).ok()); }
  SECTION("removed") {
    StatusOr<uint64_t> done = s->RemoveWorker(1);
    REQUIRE(done.ok());
    CHECK(*done == 0);
  }
  SECTION("idle") {
    // Empty pushes need the same clock on every block: finish block B first.
    REQUIRE(PushGrad(*s, 1, 0, kB, 1).ok());
    REQUIRE(PushEmpty(*s, 1, 1).ok());
  }
  REQUIRE(s->capture_ready());
  std::optional<CapturedCheckpoint> cp = s->TakeCapture();
  REQUIRE(cp.has_value());
  CheckNear(cp->blocks[0].values, a);
  // The held clock 2 was applied right after the copy.
  CheckValues(*s, kA, SgdStep(a, {Grad(0, 2, kA)}, 1));
}

TEST_CASE("Shard: a new capture replaces the one in flight, cancel applies held pushes", "[ps]") {
  auto s = MakeShard(AsyncJob(Consistency::kAsp, 0));
  std::vector<float> a = InitialValues(kA);
  REQUIRE(s->BeginCapture(1, 1).ok());
  for (uint64_t c = 0; c < 3; ++c) REQUIRE(PushGrad(*s, 0, c, kA, 1).ok());
  a = SgdStep(a, {Grad(0, 0, kA)}, 1);
  CheckValues(*s, kA, a);  // clocks 1 and 2 held

  REQUIRE(s->BeginCapture(2, 2).ok());  // clock 1 now belongs in the capture
  a = SgdStep(a, {Grad(0, 1, kA)}, 1);
  CheckValues(*s, kA, a);
  CHECK(s->BeginCapture(3, 1).code() == StatusCode::kFailedPrecondition);

  SECTION("cancel") {
    s->CancelCapture();
    CHECK_FALSE(s->capturing());
    CheckValues(*s, kA, SgdStep(a, {Grad(0, 2, kA)}, 1));
    s->CancelCapture();  // nothing in flight: no-op
  }
  SECTION("complete") {
    REQUIRE(PushGrad(*s, 1, 0, kA, 1).ok());
    REQUIRE(PushGrad(*s, 1, 1, kA, 1).ok());
    // A worker joining below K would be missing from block A's copy.
    CHECK(s->AddWorker(2, 1).code() == StatusCode::kFailedPrecondition);
    REQUIRE(s->AddWorker(2, 2).ok());
    for (uint32_t r : {0u, 1u})
      for (uint64_t c = 0; c < 2; ++c) REQUIRE(PushGrad(*s, r, c, kB, 1).ok());
    std::optional<CapturedCheckpoint> cp = s->TakeCapture();
    REQUIRE(cp.has_value());
    CHECK(cp->id == 2);
    CHECK(cp->blocks[0].version == 4);
  }
}

TEST_CASE("Shard: a shard without keys captures at once", "[ps]") {
  auto s = MakeShard(AdamJob(), 2, {50, 50});
  CHECK(s->slot_names() == std::vector<std::string>{"m", "v"});
  REQUIRE(s->BeginCapture(4, 9).ok());
  REQUIRE(s->capture_ready());
  std::optional<CapturedCheckpoint> cp = s->TakeCapture();
  REQUIRE(cp.has_value());
  CHECK(cp->blocks.empty());
  CHECK(cp->clock == 9);
  CHECK(cp->slot_names == std::vector<std::string>{"m", "v"});
  REQUIRE(s->AddWorker(4, 7).ok());
  CHECK(*s->RemoveWorker(4) == 7);  // it cannot tell more
  CHECK(s->Restore(3, {}, {"m", "v"}, {0}).ok());
  CHECK(s->active_ranks() == Ranks({0}));
}

TEST_CASE("Shard: slot_names are the optimizer's", "[ps]") {
  CHECK(MakeShard()->slot_names().empty());
  CHECK(MakeShard(AdamJob())->slot_names() == std::vector<std::string>{"m", "v"});
  JobSpec job = SgdJob();
  job.optimizer.kind = OptimizerKind::kMomentum;
  CHECK(MakeShard(job)->slot_names() == std::vector<std::string>{"velocity"});
}

TEST_CASE("Shard: BSP restore continues exactly like the original", "[ps]") {
  const JobSpec job = AdamJob();
  auto orig = MakeShard(job);
  REQUIRE(orig->BeginCapture(1, 2).ok());
  for (uint64_t c = 0; c < 4; ++c) BspClock(*orig, {0, 1}, c);
  std::optional<CapturedCheckpoint> cp = orig->TakeCapture();
  REQUIRE(cp.has_value());

  auto fresh = MakeShard(job, 3);
  BspClock(*fresh, {0, 1, 2}, 0);  // state to be replaced
  REQUIRE(PushGrad(*fresh, 0, 1, kA, 1).ok());
  REQUIRE(fresh->BeginCapture(9, 3).ok());
  REQUIRE(fresh->Restore(cp->clock, cp->blocks, cp->slot_names, {0, 1}).ok());
  CHECK_FALSE(fresh->capturing());
  CHECK(fresh->active_ranks() == Ranks({0, 1}));
  CHECK(fresh->version() == 2);
  CHECK(fresh->optimizer_steps(kA.begin) == 2);
  CHECK(BitEqual(Values(*fresh, kA), cp->blocks[0].values));
  CHECK(PushGrad(*fresh, 0, 1, kA, 1).code() == StatusCode::kFailedPrecondition);
  CHECK(PushGrad(*fresh, 2, 2, kA, 1).code() == StatusCode::kInvalidArgument);

  for (uint64_t c = 2; c < 4; ++c) BspClock(*fresh, {0, 1}, c);
  CHECK(fresh->version() == 4);
  CHECK(BitEqual(Values(*fresh, kRange), Values(*orig, kRange)));
  // Optimizer slots were restored too.
  CHECK(CaptureNow(*fresh, 4).blocks == CaptureNow(*orig, 4).blocks);
}

TEST_CASE("Shard: ASP restore continues exactly like the original", "[ps]") {
  JobSpec job = AsyncJob(Consistency::kAsp, 0);
  job.optimizer.kind = OptimizerKind::kMomentum;
  job.optimizer.momentum = 0.9f;
  auto orig = MakeShard(job);
  REQUIRE(orig->BeginCapture(1, 2).ok());
  for (uint32_t r : {0u, 1u})
    for (uint64_t c = 0; c < 4; ++c)
      for (KeyRange b : {kA, kB}) REQUIRE(PushGrad(*orig, r, c, b, 1 + r).ok());
  // Order of application after the copies: worker 0's held clocks 2 and 3,
  // then worker 1's clocks 2 and 3.
  std::optional<CapturedCheckpoint> cp = orig->TakeCapture();
  REQUIRE(cp.has_value());
  CHECK(cp->blocks[0].version == 4);

  auto fresh = MakeShard(job);
  REQUIRE(fresh->Restore(cp->clock, cp->blocks, cp->slot_names, {0, 1}).ok());
  CHECK(fresh->VersionOf(kA) == 4);
  CHECK(fresh->SlowestClock(kRange) == 2);
  CHECK(PushGrad(*fresh, 0, 1, kA, 1).code() == StatusCode::kFailedPrecondition);
  for (uint32_t r : {0u, 1u})
    for (uint64_t c = 2; c < 4; ++c)
      for (KeyRange b : {kA, kB}) REQUIRE(PushGrad(*fresh, r, c, b, 1 + r).ok());
  CHECK(fresh->VersionOf(kA) == 8);
  CHECK(BitEqual(Values(*fresh, kRange), Values(*orig, kRange)));
}

TEST_CASE("Shard: Restore rejects a checkpoint that does not fit and changes nothing", "[ps]") {
  auto s = MakeShard();
  BspClock(*s, {0, 1}, 0);
  REQUIRE(PushGrad(*s, 0, 1, kA, 1).ok());
  REQUIRE(s->BeginCapture(3, 2).ok());
  const State before = Snap(*s);
  const CapturedCheckpoint good = CaptureNow(*MakeShard(), 0);
  REQUIRE(good.blocks.size() == 2);

  auto check = [&](StatusCode code, const std::string& text, const std::vector<BlockState>& blocks,
                   const std::vector<std::string>& slots, const std::vector<uint32_t>& ranks) {
    const Status st = s->Restore(5, blocks, slots, ranks);
    CHECK(st.code() == code);
    CHECK_THAT(st.message(), Contains(text));
    CheckUnchanged(*s, before);
    CHECK(s->capturing());
    CHECK(s->active_ranks() == Ranks({0, 1}));
  };
  JobSpec big_blocks = SgdJob();
  big_blocks.train.block_keys = 512;
  check(StatusCode::kFailedPrecondition, "checkpoint blocks differ",
        CaptureNow(*MakeShard(big_blocks), 0).blocks, {}, {0, 1});
  check(StatusCode::kFailedPrecondition, "block_keys changed?",
        CaptureNow(*MakeShard(SgdJob(), 2, {100, 612}), 0).blocks, {}, {0, 1});
  check(StatusCode::kFailedPrecondition, "checkpoint blocks differ", {good.blocks[0]}, {}, {0, 1});
  check(StatusCode::kFailedPrecondition, "optimizer", good.blocks, {"m", "v"}, {0, 1});
  std::vector<BlockState> bad = good.blocks;
  bad[1].values.pop_back();
  check(StatusCode::kInvalidArgument, "values", bad, {}, {0, 1});
  bad = good.blocks;
  bad[0].slots.push_back(bad[0].values);
  check(StatusCode::kInvalidArgument, "slots", bad, {}, {0, 1});
  check(StatusCode::kInvalidArgument, "twice", good.blocks, {}, {1, 0, 1});
  check(StatusCode::kInvalidArgument, "rank", good.blocks, {}, {0, Shard::kMaxRanks});

  // Nothing was dropped: the pending push and the capture are still there.
  CHECK(PushGrad(*s, 0, 1, kA, 1).code() == StatusCode::kAlreadyExists);
  BspClock(*s, {1}, 1);
  REQUIRE(PushGrad(*s, 0, 1, kB, 1).ok());
  REQUIRE(s->capture_ready());
  CHECK(s->TakeCapture()->id == 3);
}

TEST_CASE("Shard: Restore drops pending pushes and sets the roster", "[ps]") {
  auto s = MakeShard();
  auto ref = MakeShard();
  BspClock(*ref, {0, 1}, 0);
  const CapturedCheckpoint cp = CaptureNow(*ref, 1);
  BspClock(*s, {0, 1}, 0);
  REQUIRE(PushGrad(*s, 0, 1, kA, 7).ok());
  REQUIRE(s->Restore(1, cp.blocks, cp.slot_names, {1, 5}).ok());
  CHECK(s->active_ranks() == Ranks({1, 5}));
  CHECK(PushGrad(*s, 0, 1, kA, 1).code() == StatusCode::kInvalidArgument);
  BspClock(*s, {1}, 1);
  CHECK(s->version() == 1);  // waits for worker 5
  BspClock(*s, {5}, 1);
  CHECK(s->version() == 2);
  // Worker 0's clock-1 push before the restore is gone.
  CheckValues(*s, kA, SgdStep(cp.blocks[0].values, {Grad(1, 1, kA), Grad(5, 1, kA)}, 8));
  // A restore with nobody on the roster: workers join later.
  REQUIRE(s->Restore(1, cp.blocks, cp.slot_names, {}).ok());
  CHECK(s->active_ranks().empty());
  REQUIRE(s->AddWorker(0, 1).ok());
  BspClock(*s, {0}, 1);
  CHECK(s->version() == 2);
}

}  // namespace
}  // namespace pst
