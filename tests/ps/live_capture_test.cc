#include "ps/live_capture.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>
#include <algorithm>
#include <vector>

#include "tests/testing/require_ok.h"

namespace pst {
namespace {

using testing::RequireOk;
using namespace std::chrono_literals;

// Two blocks of 4 keys with one slot each, living in `mem` (values then slot
// per block), marked at version 7 / 3 optimizer steps.
struct Fixture {
  std::vector<float> mem = {1, 2, 3, 4, 10, 20, 30, 40, 5, 6, 7, 8, 50, 60, 70, 80};
  LiveCapture capture{2};
  Fixture() {
    for (size_t i = 0; i < 2; ++i) {
      const float* base = mem.data() + 8 * i;
      capture.Mark(i, LiveCapture::LiveBlock{{4 * i, 4 * i + 4}, 7, 3, base, {base + 4}});
    }
  }
  // The block as the reader sees it.
  BlockState ReadBlock(size_t i) {
    BlockState out;
    RequireOk(capture.Read(i, [&](const BlockView& v) {
      out = v.ToState();
      return Status::OK();
    }));
    return out;
  }
};

TEST_CASE("LiveCapture: a block changed before it is read is copied first", "[ps]") {
  Fixture f;
  CHECK(f.capture.size() == 2);
  CHECK(f.capture.keys(1) == KeyRange{4, 8});
  f.capture.BeforeChange(0);
  for (size_t k = 0; k < 8; ++k) f.mem[k] = -1;  // training updates block 0
  const BlockState b0 = f.ReadBlock(0);
  CHECK(b0.values == std::vector<float>{1, 2, 3, 4});
  CHECK(b0.slots == std::vector<std::vector<float>>{{10, 20, 30, 40}});
  CHECK(b0.version == 7);
  CHECK(b0.optimizer_steps == 3);
  // Block 1 was never changed: read from the live memory, not copied.
  CHECK(f.ReadBlock(1).values == std::vector<float>{5, 6, 7, 8});
  const LiveCapture::Stats st = f.capture.stats();
  CHECK(st.units_copied == 1);
  CHECK(st.bytes_copied == 8 * sizeof(float));
  // Read blocks are handed out once and never copied again.
  f.capture.BeforeChange(1);
  CHECK(f.capture.stats().units_copied == 1);
  CHECK(f.capture.Read(0, [](const BlockView&) { return Status::OK(); }).code() ==
        StatusCode::kFailedPrecondition);
}

TEST_CASE("LiveCapture: a change waits while the reader reads that block", "[ps]") {
  Fixture f;
  std::promise<void> entered, gate;
  std::shared_future<void> open = gate.get_future().share();
  std::vector<float> seen;
  Status read;  // Catch2 assertions stay on the test's thread
  std::thread reader([&] {
    read = f.capture.Read(0, [&](const BlockView& v) {
      entered.set_value();
      open.wait();
      seen.assign(v.values.begin(), v.values.end());
      return Status::OK();
    });
  });
  entered.get_future().wait();
  auto change = std::async(std::launch::async, [&] {
    f.capture.BeforeChange(0);
    f.mem[0] = -1;  // only once the reader is done with block 0
  });
  // Still blocked while the reader holds block 0 (a wrong early return would
  // be seen here or in `seen`).
  CHECK(change.wait_for(100ms) == std::future_status::timeout);
  gate.set_value();
  change.get();
  reader.join();
  RequireOk(read);
  CHECK(seen == std::vector<float>{1, 2, 3, 4});
  CHECK(f.capture.stats().units_copied == 0);  // waited, copied nothing
}

TEST_CASE("LiveCapture: Detach keeps what is unread, Close stops copying", "[ps]") {
  Fixture f;
  CHECK(f.ReadBlock(0).values == std::vector<float>{1, 2, 3, 4});
  f.capture.Detach();  // the shard's memory goes away
  CHECK(f.capture.stats().units_copied == 1);  // only the unread block
  std::fill(f.mem.begin(), f.mem.end(), 0.0f);
  CHECK(f.ReadBlock(1).slots[0] == std::vector<float>{50, 60, 70, 80});

  Fixture g;
  g.capture.Close();
  g.capture.BeforeChange(0);
  CHECK(g.capture.stats().units_copied == 0);

  LiveCapture unmarked(1);
  unmarked.BeforeChange(0);  // nothing marked: nothing to keep
  CHECK(unmarked.stats().units_copied == 0);
  CHECK(unmarked.Read(0, [](const BlockView&) { return Status::OK(); }).code() ==
        StatusCode::kFailedPrecondition);
}

TEST_CASE("LiveCapture: a reader racing many changes sees only the marked state", "[ps]") {
  // 64 blocks of 1024 floats; the shard's thread rewrites every block while a
  // reader thread reads them all. Whoever gets to a block first, the reader
  // sees its marked values.
  constexpr size_t kBlocks = 64, kKeys = 1024;
  std::vector<float> mem(kBlocks * kKeys * 2);
  for (size_t i = 0; i < mem.size(); ++i) mem[i] = float(i);
  const std::vector<float> marked = mem;
  LiveCapture capture(kBlocks);
  for (size_t i = 0; i < kBlocks; ++i) {
    const float* base = mem.data() + i * 2 * kKeys;
    capture.Mark(i, {{i * kKeys, (i + 1) * kKeys}, 1, 1, base, {base + kKeys}});
  }
  std::vector<BlockState> read(kBlocks);
  Status status;  // Catch2 assertions stay on the test's thread
  std::thread reader([&] {
    for (size_t i = 0; i < kBlocks && status.ok(); ++i)
      status = capture.Read(i, [&](const BlockView& v) {
        read[i] = v.ToState();
        return Status::OK();
      });
  });
  for (size_t i = kBlocks; i-- > 0;) {  // the other way round: they cross
    capture.BeforeChange(i);
    float* base = mem.data() + i * 2 * kKeys;
    std::fill(base, base + 2 * kKeys, -1.0f);
  }
  reader.join();
  RequireOk(status);
  for (size_t i = 0; i < kBlocks; ++i) {
    const float* want = marked.data() + i * 2 * kKeys;
    CHECK(read[i].values == std::vector<float>(want, want + kKeys));
    CHECK(read[i].slots[0] == std::vector<float>(want + kKeys, want + 2 * kKeys));
  }
}

}  // namespace
}  // namespace pst
