// pst::BackgroundEvaluator: results equal Mlp::Evaluate on the submitted
// values, the values are copied at Submit, and one evaluation runs at a time.
#include "worker/background_evaluator.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace pst {
namespace {

struct Fixture {
  Fixture() {
    spec.layer_sizes = {16, 8, 4};
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    test.num_samples = 2500;  // three internal batches
    test.num_features = 16;
    test.num_classes = 4;
    for (size_t i = 0; i < test.num_samples * test.num_features; ++i) test.features.push_back(u(rng));
    for (size_t i = 0; i < test.num_samples; ++i) test.labels.push_back(static_cast<int32_t>(rng() % 4));
    auto mlp = Mlp::Create(spec);
    REQUIRE(mlp.ok());
    for (size_t i = 0; i < mlp->layout().total(); ++i) params.push_back(u(rng));
    expected = mlp->Evaluate(params.data(), test.features.data(), test.labels.data(), test.num_samples);
  }
  ModelSpec spec;
  Dataset test;
  std::vector<float> params;
  Mlp::Evaluation expected;
};

TEST_CASE("BackgroundEvaluator: evaluates a copy of the values submitted", "[worker]") {
  Fixture f;
  auto ev = BackgroundEvaluator::Create(f.spec, f.test);
  REQUIRE(ev.ok());
  BackgroundEvaluator& e = **ev;
  CHECK_FALSE(e.busy());
  CHECK_FALSE(e.TakeResult().has_value());
  CHECK_FALSE(e.Wait().has_value());  // nothing submitted: does not block

  const std::vector<float> submitted = f.params;
  REQUIRE(e.Submit(/*epoch=*/2, /*version=*/77, f.params.data()).ok());
  std::fill(f.params.begin(), f.params.end(), 0.0f);  // the caller's buffer is free at once
  CHECK(e.busy());
  CHECK(e.Submit(3, 78, f.params.data()).code() == StatusCode::kFailedPrecondition);
  auto r = e.Wait();
  REQUIRE(r.has_value());
  CHECK(r->epoch == 2);
  CHECK(r->version == 77);
  CHECK(r->eval.correct == f.expected.correct);
  CHECK(r->eval.loss_sum == f.expected.loss_sum);  // same code, same bits
  REQUIRE(e.params() != nullptr);
  CHECK(std::vector<float>(e.params(), e.params() + submitted.size()) == submitted);
  CHECK_FALSE(e.busy());
  CHECK_FALSE(e.TakeResult().has_value());  // taken once

  // Polling finds the next result without blocking the caller.
  REQUIRE(e.Submit(4, 90, submitted.data()).ok());
  std::optional<BackgroundEvaluator::Result> polled;
  for (int i = 0; i < 5000 && !polled; ++i) {
    polled = e.TakeResult();
    if (!polled) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(polled.has_value());
  CHECK(polled->epoch == 4);
  CHECK(polled->eval.correct == f.expected.correct);
}

TEST_CASE("BackgroundEvaluator: a borrowed snapshot is evaluated in place", "[worker]") {
  Fixture f;
  auto ev = BackgroundEvaluator::Create(f.spec, f.test);
  REQUIRE(ev.ok());
  BackgroundEvaluator& e = **ev;
  REQUIRE(e.Submit(1, 5, f.params.data(), BackgroundEvaluator::Snapshot::kBorrow).ok());
  auto r = e.Wait();
  REQUIRE(r.has_value());
  CHECK(r->eval.correct == f.expected.correct);
  CHECK(r->eval.loss_sum == f.expected.loss_sum);
  CHECK(e.params() == f.params.data());  // no copy was made

  // A copying Submit after it evaluates its own copy again.
  const std::vector<float> submitted = f.params;
  REQUIRE(e.Submit(2, 6, f.params.data()).ok());
  std::fill(f.params.begin(), f.params.end(), 0.0f);
  r = e.Wait();
  REQUIRE(r.has_value());
  CHECK(r->eval.loss_sum == f.expected.loss_sum);
  CHECK(e.params() != f.params.data());
  CHECK(std::vector<float>(e.params(), e.params() + submitted.size()) == submitted);
}

// Threads of this process, as the kernel lists them.
size_t ThreadsInProcess() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

// Polls (up to 5 s) until the process has `n` threads; returns the last count.
// A joined thread can stay listed for a moment after join returns.
size_t WaitForThreadCount(size_t n) {
  size_t have = ThreadsInProcess();
  for (int i = 0; i < 500 && have != n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    have = ThreadsInProcess();
  }
  return have;
}

TEST_CASE("BackgroundEvaluator: destroying it with an evaluation under way waits for it",
          "[worker]") {
  Fixture f;
  // The test set is freed right after the evaluator: a thread of the evaluator
  // still reading it would be a use after free, which the sanitizer builds in
  // CI report (ASan: heap-use-after-free; TSan: a race with the free).
  auto test = std::make_unique<Dataset>(f.test);
  const size_t threads_before = ThreadsInProcess();
  auto ev = BackgroundEvaluator::Create(f.spec, *test);
  REQUIRE(ev.ok());
  REQUIRE(ThreadsInProcess() == threads_before + 1);  // the evaluator's thread
  REQUIRE((*ev)->Submit(0, 1, f.params.data()).ok());
  REQUIRE((*ev)->busy());
  ev->reset();  // must neither hang (ctest times out) nor crash
  test.reset();
  // The thread is gone, not left behind (detached or still waiting for work).
  CHECK(WaitForThreadCount(threads_before) == threads_before);
}

TEST_CASE("BackgroundEvaluator: a bad model spec is an error", "[worker]") {
  Fixture f;
  ModelSpec bad;
  bad.layer_sizes = {16};
  CHECK(BackgroundEvaluator::Create(bad, f.test).status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
