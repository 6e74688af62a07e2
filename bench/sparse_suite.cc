#include "bench/sparse_suite.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "common/hash.h"
#include "common/zipf_sampler.h"
#include "ps/sparse_table.h"

namespace pst::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes the heap has handed out (small blocks plus mmapped ones).
uint64_t HeapInUse() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

// The id of rank r (1-based): a bijection, so hot ranks are scattered over
// the id space (and over slots) as hashed feature ids are.
uint64_t IdOfRank(uint64_t rank) { return Mix64(rank - 1); }

struct Memory {
  uint64_t rows = 0;
  double raw = 0;        // bytes per row: key + row + state
  double accounted = 0;  // SparseTableStats::bytes per row
  double heap = 0;       // heap growth per row
  double rss = 0;        // resident-set growth per row
  double fill_seconds = 0;
};

StatusOr<Memory> FillTable(SparseTable& table, uint64_t rows, uint64_t heap0, uint64_t rss0) {
  Memory m;
  const auto t0 = Clock::now();
  std::vector<uint64_t> ids(65536);
  std::vector<float> grads(ids.size() * table.dim(), 0.01f);
  for (uint64_t base = 0; base < rows; base += ids.size()) {
    const size_t n = std::min<uint64_t>(ids.size(), rows - base);
    for (size_t i = 0; i < n; ++i) ids[i] = IdOfRank(base + i + 1);
    PST_RETURN_IF_ERROR(table.Push({ids.data(), n}, grads.data(), 1.0f, 0));
  }
  m.fill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const SparseTableStats s = table.stats();
  m.rows = s.rows;
  m.raw = double(s.raw_bytes_per_row);
  m.accounted = double(s.bytes) / double(s.rows);
  m.heap = double(HeapInUse() - heap0) / double(s.rows);
  m.rss = double(ResidentBytes() - rss0) / double(s.rows);
  return m;
}

// The baseline: a std::unordered_map of id -> vector (row followed by state).
Memory MeasureUnorderedMap(uint64_t rows, size_t floats_per_row, size_t raw) {
  Memory m;
  const uint64_t heap0 = HeapInUse();
  {
    std::unordered_map<uint64_t, std::vector<float>> map;
    for (uint64_t r = 1; r <= rows; ++r) map.emplace(IdOfRank(r), std::vector<float>(floats_per_row));
    m.rows = map.size();
    m.heap = double(HeapInUse() - heap0) / double(rows);
  }
  m.raw = double(raw);
  return m;
}

struct Throughput {
  std::string dist;
  double unique_per_batch = 0;
  double ids_per_second = 0;
  double ns_per_id = 0;
};

// Batches of unique ids drawn from `draw`, built before the clock starts.
template <typename Draw>
std::vector<std::vector<uint64_t>> MakeBatches(uint32_t batches, uint32_t draws, Draw draw) {
  std::vector<std::vector<uint64_t>> out(batches);
  for (auto& b : out) {
    b.resize(draws);
    for (uint64_t& id : b) id = IdOfRank(draw());
    std::sort(b.begin(), b.end());
    b.erase(std::unique(b.begin(), b.end()), b.end());
    // Back to a hash order, as a worker's dedup would leave them.
    std::sort(b.begin(), b.end(), [](uint64_t x, uint64_t y) { return Mix64(x) < Mix64(y); });
  }
  return out;
}

StatusOr<Throughput> PullPush(SparseTable& table, const std::string& dist,
                              const std::vector<std::vector<uint64_t>>& batches,
                              uint32_t draws_per_batch) {
  size_t max_unique = 0;
  for (const auto& b : batches) max_unique = std::max(max_unique, b.size());
  std::vector<float> rows(max_unique * table.dim());
  std::vector<float> grads(max_unique * table.dim(), 0.001f);
  uint64_t ids = 0;
  const auto t0 = Clock::now();
  uint64_t step = 1;
  for (const auto& b : batches) {
    table.Pull(b, rows.data());
    PST_RETURN_IF_ERROR(table.Push(b, grads.data(), 1.0f / float(draws_per_batch), step++));
    ids += b.size();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  Throughput t;
  t.dist = dist;
  t.unique_per_batch = double(ids) / double(batches.size());
  t.ids_per_second = double(ids) / seconds;
  t.ns_per_id = seconds * 1e9 / double(ids);
  return t;
}

}  // namespace

Status RunSparseSuite(const SparseConfig& config, Report& report) {
  SparseTableOptions options;
  options.name = "bench";
  options.dim = config.dim;
  options.optimizer.name = "adagrad";
  auto created = SparseTable::Create(options);
  if (!created.ok()) return created.status();
  std::unique_ptr<SparseTable> table = std::move(created).value();

  Progress(fmt::format("sparse: filling a table of {} rows x dim {} (adagrad)",
                       FormatCount(config.rows), config.dim));
  const uint64_t heap0 = HeapInUse(), rss0 = ResidentBytes();
  PST_ASSIGN_OR_RETURN(Memory mem, FillTable(*table, config.rows, heap0, rss0));
  const uint64_t baseline_rows = std::min<uint64_t>(config.rows, 1'000'000);

  Progress("sparse: pull + push of each batch's unique ids, in process");
  std::vector<Throughput> rates;
  {
    uint64_t state = 17;
    auto uniform = [&] { return 1 + ReduceToRange(Mix64(state++), uint32_t(config.rows)); };
    PST_ASSIGN_OR_RETURN(Throughput t,
                         PullPush(*table, "uniform",
                                  MakeBatches(config.batches, config.draws_per_batch, uniform),
                                  config.draws_per_batch));
    rates.push_back(t);
    PST_ASSIGN_OR_RETURN(ZipfSampler zipf, ZipfSampler::Create(config.rows, 1.1, 17));
    PST_ASSIGN_OR_RETURN(t, PullPush(*table, "zipf(1.1)",
                                     MakeBatches(config.batches, config.draws_per_batch,
                                                 [&] { return zipf.Next(); }),
                                     config.draws_per_batch));
    rates.push_back(t);
  }
  const size_t floats_per_row = config.dim + table->state_floats();
  table.reset();

  Progress(fmt::format("sparse: baseline std::unordered_map of {} rows", FormatCount(baseline_rows)));
  const Memory base = MeasureUnorderedMap(baseline_rows, floats_per_row, size_t(mem.raw));

  Table mt({"table", "rows", "raw B/row", "B/row", "vs raw"});
  mt.AddRow({"pstrain SparseTable (accounted)", FormatCount(mem.rows), Fixed(mem.raw, 0),
             Fixed(mem.accounted, 1), Fixed(mem.accounted / mem.raw, 2)});
  mt.AddRow({"pstrain SparseTable (heap growth)", FormatCount(mem.rows), Fixed(mem.raw, 0),
             Fixed(mem.heap, 1), Fixed(mem.heap / mem.raw, 2)});
  mt.AddRow({"pstrain SparseTable (RSS growth)", FormatCount(mem.rows), Fixed(mem.raw, 0),
             Fixed(mem.rss, 1), Fixed(mem.rss / mem.raw, 2)});
  mt.AddRow({"std::unordered_map<id, vector> (heap growth)", FormatCount(base.rows),
             Fixed(base.raw, 0), Fixed(base.heap, 1), Fixed(base.heap / base.raw, 2)});
  std::cout << fmt::format("\nSparse table memory (dim {}, adagrad; filled in {:.1f} s):\n",
                           config.dim, mem.fill_seconds);
  mt.Print();

  Table tt({"ids", "draws/batch", "unique/batch", "ids/s (pull+push)", "ns/id"});
  for (const Throughput& t : rates) {
    tt.AddRow({t.dist, FormatCount(config.draws_per_batch), FormatCount(uint64_t(t.unique_per_batch)),
               FormatCount(uint64_t(t.ids_per_second)), Fixed(t.ns_per_id, 0)});
  }
  std::cout << fmt::format("\nSparse pull + push in process, one thread, {} rows:\n",
                           FormatCount(mem.rows));
  tt.Print();

  nlohmann::json j;
  j["memory"] = {{"rows", mem.rows},
                 {"dim", config.dim},
                 {"raw_bytes_per_row", mem.raw},
                 {"accounted_bytes_per_row", mem.accounted},
                 {"heap_bytes_per_row", mem.heap},
                 {"rss_bytes_per_row", mem.rss},
                 {"fill_seconds", mem.fill_seconds},
                 {"unordered_map_rows", base.rows},
                 {"unordered_map_heap_bytes_per_row", base.heap}};
  for (const Throughput& t : rates) {
    j["in_process"].push_back({{"ids", t.dist},
                               {"draws_per_batch", config.draws_per_batch},
                               {"unique_per_batch", t.unique_per_batch},
                               {"ids_per_second", t.ids_per_second}});
  }
  report.json["sparse"] = j;
  report.summary.push_back(fmt::format(
      "sparse memory: {:.1f} B/row heap ({:.2f}x raw {:.0f} B; unordered_map {:.2f}x), {} rows",
      mem.heap, mem.heap / mem.raw, mem.raw, base.heap / base.raw, FormatCount(mem.rows)));
  for (const Throughput& t : rates) {
    report.summary.push_back(fmt::format("sparse pull+push in process, {}: {} ids/s", t.dist,
                                         FormatCount(uint64_t(t.ids_per_second))));
  }
  return Status::OK();
}

}  // namespace pst::bench
