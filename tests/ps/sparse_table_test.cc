#include "ps/sparse_table.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "common/hash.h"

namespace pst {
namespace {

SparseTableOptions SgdTable(uint32_t dim = 4) {
  SparseTableOptions o;
  o.name = "emb";
  o.dim = dim;
  o.optimizer.name = "sgd";
  o.optimizer.params = {{"lr", 0.5}};
  return o;
}

std::unique_ptr<SparseTable> Make(const SparseTableOptions& o) {
  auto t = SparseTable::Create(o);
  REQUIRE(t.ok());
  return std::move(t).value();
}

std::vector<float> PullOne(SparseTable& t, uint64_t id) {
  std::vector<float> out(t.dim());
  t.Pull({&id, 1}, out.data());
  return out;
}

TEST_CASE("InitRow: a function of (seed, id, dim) only, kinds and scale", "[ps]") {
  RowInit init;
  init.seed = 11;
  init.scale = 0.5f;
  std::vector<float> a(16), b(16), c(8), d(16);
  InitRow(init, 1234, 16, a.data());
  InitRow(init, 99, 16, d.data());  // another id in between
  InitRow(init, 1234, 16, b.data());
  InitRow(init, 1234, 8, c.data());
  CHECK(a == b);
  CHECK(std::equal(c.begin(), c.end(), a.begin()));  // a prefix: dim does not reseed
  CHECK(a != d);
  for (float v : a) CHECK(std::abs(v) <= 0.5f);
  RowInit other = init;
  other.seed = 12;
  InitRow(other, 1234, 16, b.data());
  CHECK(a != b);

  // Normal: mean ~0, standard deviation ~scale over many values.
  RowInit normal{RowInitKind::kNormal, 3, 2.0f};
  double sum = 0, sq = 0;
  std::vector<float> row(64);
  for (uint64_t id = 0; id < 2000; ++id) {
    InitRow(normal, id, 64, row.data());
    for (float v : row) {
      REQUIRE(std::isfinite(v));
      sum += v;
      sq += double(v) * v;
    }
  }
  const double n = 2000.0 * 64;
  CHECK(sum / n == Approx(0).margin(0.05));
  CHECK(std::sqrt(sq / n) == Approx(2.0).epsilon(0.02));
  RowInit zeros{RowInitKind::kZeros, 3, 2.0f};
  InitRow(zeros, 5, 16, a.data());
  for (float v : a) CHECK(v == 0.0f);
}

TEST_CASE("SparseTable: a pull creates nothing and reads the initial row", "[ps]") {
  auto t = Make(SgdTable());
  std::vector<float> expect(4);
  InitRow(t->options().init, 77, 4, expect.data());
  CHECK(PullOne(*t, 77) == expect);
  CHECK(t->stats().rows == 0);
  CHECK(t->FindRow(77) == nullptr);
}

TEST_CASE("SparseTable: rows are the same in every table with the same seed", "[ps]") {
  auto a = Make(SgdTable(16));
  auto b = Make(SgdTable(16));
  std::vector<uint64_t> ids = {3, 1ull << 40, 17, 0xfffffffffffffffeull};
  std::vector<float> grad(ids.size() * 16, 0.25f);
  // Table a creates its rows in another order and with other rows around.
  std::vector<uint64_t> rev(ids.rbegin(), ids.rend());
  std::vector<uint64_t> noise = {5, 6, 7};
  std::vector<float> noise_grad(3 * 16, 1.0f);
  REQUIRE(a->Push(noise, noise_grad.data(), 1.0f, 1).ok());
  REQUIRE(a->Push(rev, grad.data(), 1.0f, 1).ok());
  REQUIRE(b->Push(ids, grad.data(), 1.0f, 1).ok());
  for (uint64_t id : ids) CHECK(PullOne(*a, id) == PullOne(*b, id));
}

TEST_CASE("SparseTable: a push creates the row from its initial values and updates it",
          "[ps]") {
  auto t = Make(SgdTable());
  const uint64_t id = 42;
  const std::vector<float> init = PullOne(*t, id);
  const std::vector<float> g = {1, -2, 3, -4};
  REQUIRE(t->Push({&id, 1}, g.data(), 0.5f, 7).ok());
  const std::vector<float> after = PullOne(*t, id);
  for (int i = 0; i < 4; ++i) CHECK(after[i] == init[i] - 0.5f * (g[i] * 0.5f));
  CHECK(t->stats().rows == 1);
  CHECK(t->stats().admitted == 1);
}

TEST_CASE("SparseTable: admission creates a row at the Nth sighting only", "[ps]") {
  SparseTableOptions o = SgdTable();
  o.admit_after = 3;
  o.admission_sketch_width = 1 << 10;
  auto t = Make(o);
  const uint64_t id = 9;
  const std::vector<float> g = {1, 1, 1, 1};
  const std::vector<float> zeros(4, 0.0f);
  for (int push = 1; push <= 2; ++push) {
    REQUIRE(t->Push({&id, 1}, g.data(), 1.0f, push).ok());
    CHECK(PullOne(*t, id) == zeros);  // reads as zeros, takes no update
    CHECK(t->stats().rows == 0);
  }
  CHECK(t->stats().unadmitted_updates == 2);
  REQUIRE(t->Push({&id, 1}, g.data(), 1.0f, 3).ok());
  CHECK(t->stats().rows == 1);
  std::vector<float> init(4);
  InitRow(o.init, id, 4, init.data());
  const std::vector<float> after = PullOne(*t, id);
  for (int i = 0; i < 4; ++i) CHECK(after[i] == init[i] - 0.5f * 1.0f);
  CHECK(t->stats().admitted == 1);
}

TEST_CASE("SparseTable: admission memory does not grow with unseen ids", "[ps]") {
  SparseTableOptions o = SgdTable();
  o.admit_after = 200;
  o.admission_sketch_width = 1 << 12;
  auto t = Make(o);
  std::vector<uint64_t> ids(1000);
  std::vector<float> g(ids.size() * 4, 0.1f);
  // A batch this size is the scratch high-water mark; bytes stay there.
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = Mix64(i);
  REQUIRE(t->Push(ids, g.data(), 1.0f, 1).ok());
  const uint64_t bytes = t->stats().bytes;
  for (uint64_t batch = 1; batch < 200; ++batch) {
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = Mix64(batch * 1000 + i);
    REQUIRE(t->Push(ids, g.data(), 1.0f, batch).ok());
  }
  CHECK(t->stats().rows == 0);
  CHECK(t->stats().bytes == bytes);
  CHECK(t->stats().unadmitted_updates == 200 * 1000);
}

TEST_CASE("SparseTable: eviction drops rows untouched for T steps, keeps the rest", "[ps]") {
  SparseTableOptions o = SgdTable();
  o.evict_after_steps = 10;
  auto t = Make(o);
  std::vector<float> g(4, 1.0f);
  // Id i last updated at step i.
  for (uint64_t id = 0; id < 100; ++id) REQUIRE(t->Push({&id, 1}, g.data(), 1.0f, id).ok());
  std::vector<std::vector<float>> kept(100);
  for (uint64_t id = 0; id < 100; ++id) kept[id] = PullOne(*t, id);
  CHECK(t->Evict(9) == 0);
  CHECK(t->Evict(59) == 50);  // steps 0..49 are 10 or more steps old
  CHECK(t->stats().rows == 50);
  CHECK(t->stats().evicted == 50);
  for (uint64_t id = 0; id < 100; ++id) {
    INFO("id " << id);
    if (id < 50) {
      CHECK(t->FindRow(id) == nullptr);
      std::vector<float> init(4);
      InitRow(o.init, id, 4, init.data());
      CHECK(PullOne(*t, id) == init);  // comes back as a new row
    } else {
      REQUIRE(t->FindRow(id) != nullptr);
      CHECK(PullOne(*t, id) == kept[id]);
    }
  }
  // Freed records are reused before the arena grows.
  const uint64_t bytes = t->stats().bytes;
  for (uint64_t id = 1000; id < 1050; ++id) REQUIRE(t->Push({&id, 1}, g.data(), 1.0f, 60).ok());
  CHECK(t->stats().rows == 100);
  CHECK(t->stats().bytes == bytes);
  SparseTableOptions never = SgdTable();
  auto keep = Make(never);
  uint64_t id = 1;
  REQUIRE(keep->Push({&id, 1}, g.data(), 1.0f, 0).ok());
  CHECK(keep->Evict(1'000'000) == 0);
}

TEST_CASE("SparseTable: random inserts and evictions agree with a std::unordered_map", "[ps]") {
  SparseTableOptions o = SgdTable(2);
  o.evict_after_steps = 3;
  auto t = Make(o);
  std::unordered_map<uint64_t, uint64_t> last;  // id -> step of last update
  std::mt19937_64 rng(1);
  std::vector<float> g(2 * 64, 0.0f);  // zero gradients keep rows at their initial values
  for (uint64_t step = 0; step < 300; ++step) {
    std::vector<uint64_t> ids;
    for (int i = 0; i < 64; ++i) {
      const uint64_t id = rng() % 5000;
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    REQUIRE(t->Push(ids, g.data(), 1.0f, step).ok());
    for (uint64_t id : ids) last[id] = step;
    if (step % 5 == 4) {
      const uint64_t dropped = t->Evict(step);
      uint64_t expect = 0;
      for (auto it = last.begin(); it != last.end();) {
        if (it->second + 3 <= step) {
          it = last.erase(it);
          ++expect;
        } else {
          ++it;
        }
      }
      REQUIRE(dropped == expect);
    }
  }
  REQUIRE(t->stats().rows == last.size());
  for (uint64_t id = 0; id < 5000; ++id) CHECK((t->FindRow(id) != nullptr) == last.count(id));
  uint64_t visited = 0;
  t->ForEachRow([&](uint64_t id, const float*, uint64_t step) {
    ++visited;
    CHECK(last.at(id) == step);
  });
  CHECK(visited == last.size());
}

TEST_CASE("SparseTable: max_rows refuses a push whole", "[ps]") {
  SparseTableOptions o = SgdTable();
  o.max_rows = 3;
  auto t = Make(o);
  std::vector<uint64_t> ids = {1, 2};
  std::vector<float> g(4 * 4, 1.0f);
  REQUIRE(t->Push(ids, g.data(), 1.0f, 1).ok());
  const std::vector<float> row1 = PullOne(*t, 1);
  std::vector<uint64_t> more = {1, 3, 4};  // two new rows: one too many
  const Status s = t->Push(more, g.data(), 1.0f, 2);
  CHECK(s.code() == StatusCode::kResourceExhausted);
  CHECK(t->stats().rows == 2);
  CHECK(PullOne(*t, 1) == row1);  // nothing applied
  std::vector<uint64_t> fits = {1, 3};
  CHECK(t->Push(fits, g.data(), 1.0f, 2).ok());
  CHECK(t->stats().rows == 3);
}

TEST_CASE("SparseTable: ForEachRow and PutRow round-trip rows and optimizer state", "[ps]") {
  SparseTableOptions o;
  o.name = "t";
  o.dim = 8;
  o.optimizer.name = "adagrad";
  auto a = Make(o);
  std::vector<uint64_t> ids;
  for (uint64_t i = 0; i < 3000; ++i) ids.push_back(Mix64(i));
  std::vector<float> g(ids.size() * 8);
  for (size_t i = 0; i < g.size(); ++i) g[i] = float(i % 7) - 3.0f;
  REQUIRE(a->Push(ids, g.data(), 0.1f, 4).ok());
  auto b = Make(o);
  a->ForEachRow([&](uint64_t id, const float* data, uint64_t step) {
    REQUIRE(b->PutRow(id, data, step).ok());
  });
  REQUIRE(b->stats().rows == 3000);
  for (uint64_t id : ids) {
    const float* x = a->FindRow(id);
    const float* y = b->FindRow(id);
    REQUIRE(y != nullptr);
    CHECK(std::equal(x, x + 8 + a->state_floats(), y));
  }
}

TEST_CASE("SparseTable: Reserve sizes the index once and keeps every row", "[ps]") {
  SparseTableOptions o;
  o.name = "t";
  o.dim = 4;
  auto a = Make(o);
  std::vector<uint64_t> ids;
  for (uint64_t i = 0; i < 5000; ++i) ids.push_back(Mix64(i));
  std::vector<float> g(ids.size() * 4, 0.5f);
  REQUIRE(a->Push(std::span<const uint64_t>(ids).first(1000), g.data(), 1.0f, 1).ok());
  const uint64_t before = a->stats().bytes;
  a->Reserve(100'000);
  const uint64_t reserved = a->stats().bytes;
  CHECK(reserved >= before + (100'000 * 4 / 3 - 2048) * 8);  // 8-byte buckets, <= 3/4 full
  for (uint64_t id : std::span<const uint64_t>(ids).first(1000)) CHECK(a->FindRow(id) != nullptr);
  // Filling up to the reserved rows grows the chunks, never the index.
  REQUIRE(a->Push(std::span<const uint64_t>(ids).subspan(1000), g.data(), 1.0f, 2).ok());
  const uint64_t chunk_bytes = uint64_t{SparseTable::kChunkRows} *
                               (8 + 4 + 4 * (o.dim + a->state_floats()));
  CHECK(a->stats().bytes - reserved <= chunk_bytes);
  CHECK(a->stats().rows == 5000);
  // A corrupt manifest's count cannot make the index larger than max_rows needs.
  o.max_rows = 10'000;
  auto b = Make(o);
  b->Reserve(uint64_t{1} << 40);
  CHECK(b->stats().bytes < 16384 * 8 + 4096);
}

TEST_CASE("SparseTable: memory per row stays within 1.5x of raw key + row + state", "[ps]") {
  SparseTableOptions o;
  o.name = "t";
  o.dim = 16;
  o.optimizer.name = "adagrad";
  auto t = Make(o);
  // 200k rows: the index just grew to 2^19 buckets (38% full, its emptiest),
  // the arena has 13 chunks (the last one 20% used).
  constexpr uint64_t kRows = 200000;
  std::vector<uint64_t> ids(10000);
  std::vector<float> g(ids.size() * 16, 0.5f);
  for (uint64_t base = 0; base < kRows; base += ids.size()) {
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = Mix64(base + i);
    REQUIRE(t->Push(ids, g.data(), 1.0f, 1).ok());
  }
  const SparseTableStats s = t->stats();
  CHECK(s.rows == kRows);
  CHECK(s.raw_bytes_per_row == 8 + 4 * (16 + 16));
  const double per_row = double(s.bytes) / double(s.rows);
  INFO("bytes per row " << per_row);
  CHECK(per_row >= double(s.raw_bytes_per_row));
  CHECK(per_row <= 1.5 * double(s.raw_bytes_per_row));
}

TEST_CASE("SparseTable: invalid options name the field", "[ps]") {
  SparseTableOptions o = SgdTable();
  o.name = "";
  CHECK(SparseTable::Create(o).status().code() == StatusCode::kInvalidArgument);
  o = SgdTable();
  o.dim = 0;
  CHECK_FALSE(SparseTable::Create(o).ok());
  o.dim = kMaxSparseDim + 1;
  CHECK_FALSE(SparseTable::Create(o).ok());
  o = SgdTable();
  o.optimizer.name = "nope";
  auto bad = SparseTable::Create(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("nope") != std::string::npos);
  o = SgdTable();
  o.admit_after = 256;
  CHECK_FALSE(SparseTable::Create(o).ok());
  o = SgdTable();
  o.admit_after = 2;
  o.admission_sketch_width = 1000;
  CHECK_FALSE(SparseTable::Create(o).ok());
  o = SgdTable();
  o.init.scale = -1;
  CHECK_FALSE(SparseTable::Create(o).ok());
}

}  // namespace
}  // namespace pst
