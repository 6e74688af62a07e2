#include "bench/sparse_suite.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
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
#include "common/bind.h"
#include "common/slot_map.h"
#include "ps/sparse_handler.h"
#include "ps/sparse_table.h"
#include "worker/sparse_client.h"

namespace pst::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes the heap has handed out (small blocks plus mmapped ones).
uint64_t HeapInUse() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
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
  m.fill_seconds = Since(t0);
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
  double in_process = 0;  // ids/s
  double loopback = 0;    // ids/s
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

// One pull + push of a batch's unique ids (rows and grads hold ids * dim).
using BatchOp = std::function<Status(const std::vector<uint64_t>& ids, float* rows,
                                     const float* grads, uint64_t step)>;

StatusOr<double> IdsPerSecond(const std::vector<std::vector<uint64_t>>& batches, uint32_t dim,
                              const BatchOp& op) {
  size_t max_unique = 0;
  for (const auto& b : batches) max_unique = std::max(max_unique, b.size());
  std::vector<float> rows(max_unique * dim);
  std::vector<float> grads(max_unique * dim, 0.001f);
  uint64_t ids = 0;
  uint64_t step = 1;
  const auto t0 = Clock::now();
  for (const auto& b : batches) {
    PST_RETURN_IF_ERROR(op(b, rows.data(), grads.data(), step++));
    ids += b.size();
  }
  return double(ids) / Since(t0);
}

// The handler's shard served on 127.0.0.1 by a thread of its own, and a
// SparseClient talking to it over loopback TCP.
class LoopbackPs {
 public:
  static StatusOr<std::unique_ptr<LoopbackPs>> Start(SparseHandler& handler) {
    std::unique_ptr<LoopbackPs> ps(new LoopbackPs());
    PST_ASSIGN_OR_RETURN(BoundRouter bound, BindRouter(ps->server_ctx_, "127.0.0.1", 0, "", {}));
    ps->socket_ = std::move(bound.socket);
    SparseClientOptions co;
    co.endpoints = {bound.endpoint};
    PST_ASSIGN_OR_RETURN(co.slot_map, SlotMap::Even(kDefaultSparseSlots, 1));
    PST_ASSIGN_OR_RETURN(ps->client_, SparseClient::Create(ps->client_ctx_, co));
    LoopbackPs* raw = ps.get();
    ps->thread_.Start([raw, &handler] {
      return ServeSparseRequests(raw->socket_, handler, 0, raw->stop_);
    });
    return ps;
  }
  SparseClient& client() { return *client_; }
  Status Stop() {
    stop_ = true;
    return thread_.Join(std::chrono::seconds(30));
  }

 private:
  LoopbackPs() = default;
  zmq::context_t server_ctx_{1};
  zmq::context_t client_ctx_{1};
  zmq::socket_t socket_;
  std::unique_ptr<SparseClient> client_;
  std::atomic<bool> stop_{false};
  RoleThread thread_;
};

}  // namespace

Status RunSparseSuite(const SparseConfig& config, Report& report) {
  SparseTableOptions options;
  options.name = "bench";
  options.dim = config.dim;
  options.optimizer.name = "adagrad";
  SparseShardOptions shard_options;
  shard_options.tables = {options};
  PST_ASSIGN_OR_RETURN(auto handler, SparseHandler::Create(shard_options, {}));
  SparseTable& table = *handler->shard().FindTable("bench");

  Progress(fmt::format("sparse: filling a table of {} rows x dim {} (adagrad)",
                       FormatCount(config.rows), config.dim));
  const uint64_t heap0 = HeapInUse(), rss0 = ResidentBytes();
  PST_ASSIGN_OR_RETURN(Memory mem, FillTable(table, config.rows, heap0, rss0));
  const uint64_t baseline_rows = std::min<uint64_t>(config.rows, 1'000'000);

  std::vector<Throughput> rates;
  uint64_t state = 17;
  auto uniform = [&] { return 1 + ReduceToRange(Mix64(state++), uint32_t(config.rows)); };
  PST_ASSIGN_OR_RETURN(ZipfSampler zipf, ZipfSampler::Create(config.rows, 1.1, 17));
  const std::vector<std::vector<uint64_t>> batch_sets[2] = {
      MakeBatches(config.batches, config.draws_per_batch, uniform),
      MakeBatches(config.batches, config.draws_per_batch, [&] { return zipf.Next(); })};
  const float scale = 1.0f / float(config.draws_per_batch);
  Progress("sparse: pull + push of each batch's unique ids, in process");
  for (int d = 0; d < 2; ++d) {
    Throughput t;
    t.dist = d == 0 ? "uniform" : "zipf(1.1)";
    for (const auto& b : batch_sets[d]) t.unique_per_batch += double(b.size());
    t.unique_per_batch /= double(batch_sets[d].size());
    PST_ASSIGN_OR_RETURN(
        t.in_process,
        IdsPerSecond(batch_sets[d], config.dim,
                     [&](const std::vector<uint64_t>& ids, float* rows, const float* grads,
                         uint64_t step) {
                       table.Pull(ids, rows);
                       return table.Push(ids, grads, scale, step);
                     }));
    rates.push_back(t);
  }
  Progress("sparse: the same over loopback TCP (SparseClient -> PS sparse handler)");
  {
    PST_ASSIGN_OR_RETURN(auto ps, LoopbackPs::Start(*handler));
    uint64_t clock = 1000;
    for (int d = 0; d < 2; ++d) {
      auto loop = IdsPerSecond(
          batch_sets[d], config.dim,
          [&](const std::vector<uint64_t>& ids, float* rows, const float* grads, uint64_t) {
            const SparseCaller caller{0, clock++, 0};
            PST_RETURN_IF_ERROR(ps->client().Pull("bench", ids, config.dim, 0, caller, rows));
            return ps->client().Push("bench", ids, config.dim, grads, config.draws_per_batch,
                                     caller);
          });
      if (!loop.ok()) {
        ps->Stop().IgnoreError();  // reporting the first error
        return loop.status();
      }
      rates[d].loopback = *loop;
    }
    PST_RETURN_IF_ERROR(ps->Stop());
  }
  const size_t floats_per_row = config.dim + table.state_floats();
  handler.reset();

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

  Table tt({"ids", "draws/batch", "unique/batch", "in process ids/s", "loopback ids/s",
            "loopback vs in process"});
  for (const Throughput& t : rates) {
    tt.AddRow({t.dist, FormatCount(config.draws_per_batch),
               FormatCount(uint64_t(t.unique_per_batch)), FormatCount(uint64_t(t.in_process)),
               FormatCount(uint64_t(t.loopback)), Fixed(t.loopback / t.in_process, 2)});
  }
  std::cout << fmt::format(
      "\nSparse pull + push of each batch's unique ids, {} rows (in process: the table's own "
      "calls on one thread; loopback: SparseClient -> TCP -> the PS's sparse handler on one "
      "thread):\n",
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
    j["pull_push"].push_back({{"ids", t.dist},
                              {"draws_per_batch", config.draws_per_batch},
                              {"unique_per_batch", t.unique_per_batch},
                              {"in_process_ids_per_second", t.in_process},
                              {"loopback_ids_per_second", t.loopback}});
  }
  report.json["sparse"] = j;
  report.summary.push_back(fmt::format(
      "sparse memory: {:.1f} B/row heap ({:.2f}x raw {:.0f} B; unordered_map {:.2f}x), {} rows",
      mem.heap, mem.heap / mem.raw, mem.raw, base.heap / base.raw, FormatCount(mem.rows)));
  for (const Throughput& t : rates) {
    report.summary.push_back(fmt::format(
        "sparse pull+push, {}: {} ids/s in process, {} ids/s over loopback ({:.2f})", t.dist,
        FormatCount(uint64_t(t.in_process)), FormatCount(uint64_t(t.loopback)),
        t.loopback / t.in_process));
  }
  return Status::OK();
}

}  // namespace pst::bench
