#include "scheduler/shard_pool.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <utility>

namespace pst {

namespace {

constexpr const char* kFormat = "pst.shard_pool/1";

uint64_t AddSat(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

uint64_t LeaseEnd(const ShardLease& l) { return AddSat(l.start_clock, l.batches); }

}  // namespace

ShardPool::ShardPool(uint64_t num_samples, uint32_t batch_size, uint32_t batches_per_shard,
                     uint32_t epochs, bool lockstep)
    : num_samples_(num_samples),
      batch_size_(batch_size),
      batches_per_shard_(batches_per_shard),
      shard_samples_(uint64_t{batch_size} * batches_per_shard),
      epochs_(epochs),
      shards_per_epoch_(static_cast<uint32_t>(num_samples / shard_samples_ +
                                              (num_samples % shard_samples_ != 0))),
      lockstep_(lockstep),
      clocks_(epochs) {}

uint64_t ShardPool::Batches(uint64_t begin, uint64_t end) const {
  const uint64_t n = end - begin;
  return n / batch_size_ + (n % batch_size_ != 0);
}

uint64_t ShardPool::ShardEnd(uint32_t shard) const {
  return std::min(num_samples_, ShardBegin(shard) + shard_samples_);
}

void ShardPool::SetFrontier(uint64_t index) {
  // The last epoch's end is (last, shards_per_epoch_): there is no epoch after it.
  if (index >= uint64_t{epochs_} * shards_per_epoch_) {
    epoch_ = epochs_ - 1;
    next_shard_ = shards_per_epoch_;
  } else {
    epoch_ = static_cast<uint32_t>(index / shards_per_epoch_);
    next_shard_ = static_cast<uint32_t>(index % shards_per_epoch_);
  }
}

bool ShardPool::HasPieces(uint32_t epoch) const {
  return std::any_of(pieces_.begin(), pieces_.end(),
                     [epoch](const Piece& p) { return p.epoch == epoch; });
}

bool ShardPool::HasOutstanding(uint32_t epoch) const {
  return std::any_of(outstanding_.begin(), outstanding_.end(),
                     [epoch](const ShardLease& l) { return l.epoch == epoch; });
}

void ShardPool::AddPiece(const Piece& p) {
  auto key = [](const Piece& x) { return std::tie(x.epoch, x.shard, x.sample_begin); };
  auto it = std::upper_bound(pieces_.begin(), pieces_.end(), p,
                             [&](const Piece& a, const Piece& b) { return key(a) < key(b); });
  pieces_.insert(it, p);
}

void ShardPool::RecomputeEndClocks() {
  for (EpochClocks& c : clocks_) c.end = c.start;
  for (const auto* list : {&outstanding_, &done_})
    for (const ShardLease& l : *list)
      clocks_[l.epoch].end = std::max(clocks_[l.epoch].end, LeaseEnd(l));
}

void ShardPool::Reopen(uint32_t epoch) {
  closed_ = std::min(closed_, epoch);
  eval_handed_out_ = std::min(eval_handed_out_, closed_);
}

ShardGrant ShardPool::Grant(uint32_t worker, uint64_t clock, uint32_t epoch, uint32_t shard,
                            uint64_t begin, uint64_t end, bool piece) {
  ShardLease l{worker, epoch, shard, begin, end, clock, Batches(begin, end)};
  outstanding_.push_back(l);
  clocks_[epoch].end = std::max(clocks_[epoch].end, LeaseEnd(l));
  ShardGrant g;
  g.kind = ShardGrant::Kind::kLease;
  g.epoch = epoch;
  g.shard = shard;
  g.sample_begin = begin;
  g.sample_end = end;
  g.piece = piece;
  return g;
}

ShardGrant ShardPool::GrantPiece(uint32_t worker, uint64_t clock, size_t i) {
  const Piece p = pieces_[i];
  pieces_.erase(pieces_.begin() + static_cast<std::ptrdiff_t>(i));
  return Grant(worker, clock, p.epoch, p.shard, p.sample_begin, p.sample_end, /*piece=*/true);
}

void ShardPool::AttachEvaluation(ShardGrant& g, uint64_t clock) {
  if (eval_handed_out_ >= closed_) return;
  const uint32_t e = eval_handed_out_++;
  g.evaluate = true;
  g.eval_epoch = e;
  // Without lockstep there is no exact version: the evaluator takes the current model.
  g.eval_version = lockstep_ ? clocks_[e].close_version : 0;
  clocks_[e].eval_clock = clock;
}

void ShardPool::CloseLockstep(uint64_t clock) {
  while (closed_ < epochs_) {
    const uint32_t e = closed_;
    if (!FullyLeased(e) || HasPieces(e) || clocks_[e].end > clock) break;
    clocks_[e].close_version = clocks_[e].end;
    clocks_[e].close_clock = clock;
    ++closed_;
    // A reopened epoch (e < epoch_) closes without moving the frontier.
    if (epoch_ == e && e + 1 < epochs_) {
      ++epoch_;
      next_shard_ = 0;
      clocks_[epoch_].start = clocks_[e].close_version;
      clocks_[epoch_].end = clocks_[epoch_].start;
    }
  }
}

void ShardPool::CloseFree() {
  while (closed_ < epochs_ && FullyLeased(closed_) && !HasPieces(closed_) &&
         !HasOutstanding(closed_)) {
    clocks_[closed_].close_version = 0;
    clocks_[closed_].close_clock = 0;
    ++closed_;
  }
}

ShardGrant ShardPool::NextLockstep(uint32_t worker, uint64_t clock) {
  CloseLockstep(clock);
  ShardGrant g;
  if (closed_ == epochs_) {
    // A worker still behind the last clock (its last lease ended early) must
    // keep pushing empty clocks until then, or the others' final clocks never
    // complete.
    const uint64_t last = clocks_[epochs_ - 1].close_version;
    if (clock < last) {
      g.kind = ShardGrant::Kind::kIdle;
      g.idle_until = last;
    } else {
      g.kind = ShardGrant::Kind::kDone;
    }
    AttachEvaluation(g, clock);
    return g;
  }
  // Pieces are sorted by epoch; one of an epoch that has not started at
  // `clock` (for a worker that is behind) is not leased.
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (clock >= clocks_[pieces_[i].epoch].start) {
      g = GrantPiece(worker, clock, i);
      AttachEvaluation(g, clock);
      return g;
    }
  }
  if (next_shard_ < shards_per_epoch_ && clock >= clocks_[epoch_].start) {
    const uint32_t s = next_shard_++;
    g = Grant(worker, clock, epoch_, s, ShardBegin(s), ShardEnd(s), /*piece=*/false);
    AttachEvaluation(g, clock);
    return g;
  }
  // Idle until something can change: an epoch starts, or the oldest open
  // epoch's last lease ends (then it closes, or its returned pieces are leased).
  uint64_t until = std::numeric_limits<uint64_t>::max();
  auto consider = [&](uint64_t c) {
    if (c > clock) until = std::min(until, c);
  };
  for (const Piece& p : pieces_) consider(clocks_[p.epoch].start);
  if (next_shard_ < shards_per_epoch_) consider(clocks_[epoch_].start);
  consider(clocks_[closed_].end);
  // Unreachable (the oldest open epoch would have closed); never stall a worker.
  if (until == std::numeric_limits<uint64_t>::max()) until = AddSat(clock, 1);
  g.kind = ShardGrant::Kind::kIdle;
  g.idle_until = until;
  AttachEvaluation(g, clock);
  return g;
}

ShardGrant ShardPool::NextFree(uint32_t worker, uint64_t clock) {
  ShardGrant g;
  if (!pieces_.empty()) {
    g = GrantPiece(worker, clock, 0);
  } else {
    if (next_shard_ >= shards_per_epoch_ && epoch_ + 1 < epochs_) {
      ++epoch_;
      next_shard_ = 0;
    }
    if (next_shard_ < shards_per_epoch_) {
      const uint32_t s = next_shard_++;
      g = Grant(worker, clock, epoch_, s, ShardBegin(s), ShardEnd(s), /*piece=*/false);
    } else {
      g = WaitForOthers(worker, clock);
    }
  }
  AttachEvaluation(g, clock);
  return g;
}

ShardGrant ShardPool::WaitForOthers(uint32_t worker, uint64_t clock) const {
  // Another worker's lease comes back as a piece if that worker dies (its
  // death may not be noticed yet): the asker must still be there to train it.
  // Its empty clocks up to the latest such lease's end keep SSP pulls and
  // checkpoint captures, which wait for every live worker's clock, moving.
  ShardGrant g;
  g.kind = ShardGrant::Kind::kDone;
  for (const ShardLease& l : outstanding_) {
    if (l.worker == worker) continue;
    g.kind = ShardGrant::Kind::kIdle;
    g.idle_until = std::max(g.idle_until, LeaseEnd(l));
  }
  if (g.kind == ShardGrant::Kind::kIdle) g.idle_until = std::max(g.idle_until, AddSat(clock, 1));
  return g;
}

ShardGrant ShardPool::Next(uint32_t worker, uint64_t clock) {
  return lockstep_ ? NextLockstep(worker, clock) : NextFree(worker, clock);
}

ShardGrant ShardPool::Next(uint64_t clock) {
  std::vector<ShardLease> kept;
  for (const ShardLease& l : outstanding_) {
    if (l.worker == kAnonymousWorker && LeaseEnd(l) <= clock) {
      done_.push_back(l);
    } else {
      kept.push_back(l);
    }
  }
  outstanding_ = std::move(kept);
  if (!lockstep_) CloseFree();
  return Next(kAnonymousWorker, clock);
}

ShardGrant ShardPool::EvaluationOnly(uint64_t clock) {
  ShardGrant g;
  g.kind = ShardGrant::Kind::kNone;
  AttachEvaluation(g, clock);
  return g;
}

bool ShardPool::Complete(uint32_t worker, uint32_t epoch, uint32_t shard) {
  auto it = std::find_if(outstanding_.begin(), outstanding_.end(), [&](const ShardLease& l) {
    return l.worker == worker && l.epoch == epoch && l.shard == shard;
  });
  if (it == outstanding_.end()) return false;
  done_.push_back(*it);
  outstanding_.erase(it);
  if (!lockstep_) CloseFree();
  return true;
}

uint64_t ShardPool::ReturnWorker(uint32_t worker, uint64_t completed_clocks) {
  uint64_t credited = 0;
  std::vector<ShardLease> kept;
  for (const ShardLease& l : outstanding_) {
    if (l.worker != worker) {
      kept.push_back(l);
      continue;
    }
    const uint64_t d = completed_clocks > l.start_clock
                           ? std::min(completed_clocks - l.start_clock, l.batches)
                           : 0;
    const uint64_t cut = std::min(l.sample_end, l.sample_begin + d * batch_size_);
    credited += cut - l.sample_begin;
    if (d > 0) {
      ShardLease part = l;
      part.sample_end = cut;
      part.batches = d;
      done_.push_back(part);
    }
    if (cut < l.sample_end) {
      AddPiece(Piece{l.epoch, l.shard, cut, l.sample_end});
      if (l.epoch < closed_) Reopen(l.epoch);  // only with lockstep: see the header
    }
  }
  outstanding_ = std::move(kept);
  RecomputeEndClocks();
  if (!lockstep_) CloseFree();
  return credited;
}

void ShardPool::Rollback(uint64_t clock_k) {
  // Cut every lease at K; what is left of each is done.
  std::vector<ShardLease> done;
  for (const auto* list : {&done_, &outstanding_}) {
    for (const ShardLease& l : *list) {
      if (l.start_clock >= clock_k) continue;
      ShardLease part = l;
      part.batches = std::min(l.batches, clock_k - l.start_clock);
      part.sample_end = std::min(l.sample_end, l.sample_begin + part.batches * batch_size_);
      done.push_back(part);
    }
  }
  done_ = std::move(done);
  outstanding_.clear();
  pieces_.clear();

  // Shards with nothing done at the end of the lease order go back behind
  // the frontier, so that they are leased again as themselves.
  std::set<uint64_t> touched;  // shard indices with something done
  for (const ShardLease& l : done_) touched.insert(uint64_t{l.epoch} * shards_per_epoch_ + l.shard);
  uint64_t frontier = FrontierIndex();
  while (frontier > 0 && !touched.count(frontier - 1)) --frontier;
  SetFrontier(frontier);

  // Every other undone range waits as a piece.
  std::vector<const ShardLease*> sorted;
  for (const ShardLease& l : done_) sorted.push_back(&l);
  std::sort(sorted.begin(), sorted.end(), [](const ShardLease* a, const ShardLease* b) {
    return std::tie(a->epoch, a->shard, a->sample_begin) <
           std::tie(b->epoch, b->shard, b->sample_begin);
  });
  size_t i = 0;
  for (uint64_t index : touched) {
    const auto e = static_cast<uint32_t>(index / shards_per_epoch_);
    const auto s = static_cast<uint32_t>(index % shards_per_epoch_);
    uint64_t at = ShardBegin(s);
    for (; i < sorted.size() && sorted[i]->epoch == e && sorted[i]->shard == s; ++i) {
      if (sorted[i]->sample_begin > at) pieces_.push_back(Piece{e, s, at, sorted[i]->sample_begin});
      at = sorted[i]->sample_end;
    }
    if (at < ShardEnd(s)) pieces_.push_back(Piece{e, s, at, ShardEnd(s)});
  }
  // Shards before the frontier that nothing of is done (a later shard is).
  for (uint64_t index = 0; index < frontier; ++index) {
    if (touched.count(index)) continue;
    const auto s = static_cast<uint32_t>(index % shards_per_epoch_);
    pieces_.push_back(
        Piece{static_cast<uint32_t>(index / shards_per_epoch_), s, ShardBegin(s), ShardEnd(s)});
  }
  std::sort(pieces_.begin(), pieces_.end(), [](const Piece& a, const Piece& b) {
    return std::tie(a.epoch, a.shard, a.sample_begin) < std::tie(b.epoch, b.shard, b.sample_begin);
  });

  uint32_t closed = 0;
  while (closed < closed_ && !(lockstep_ && clocks_[closed].close_clock >= clock_k) &&
         FullyLeased(closed) && !HasPieces(closed))
    ++closed;
  closed_ = closed;
  uint32_t evaluated = 0;
  while (evaluated < std::min(eval_handed_out_, closed_) && clocks_[evaluated].eval_clock < clock_k)
    ++evaluated;
  eval_handed_out_ = evaluated;
  if (lockstep_) {
    // With lockstep the frontier enters an epoch when the previous one
    // closes, which now happens again.
    while (next_shard_ == 0 && epoch_ > closed_) {
      --epoch_;
      next_shard_ = shards_per_epoch_;
    }
  }
  RecomputeEndClocks();
  if (!lockstep_) CloseFree();
}

std::vector<ShardLease> ShardPool::OutstandingLeases() const {
  std::vector<ShardLease> v = outstanding_;
  std::stable_sort(v.begin(), v.end(),
                   [](const ShardLease& a, const ShardLease& b) { return a.worker < b.worker; });
  return v;
}

// Format "pst.shard_pool/1". Leases are [worker, epoch, shard, sample_begin,
// sample_end, start_clock] (batches follow from the range), pieces [epoch,
// shard, sample_begin, sample_end], epoch clocks [start, close_version,
// close_clock, eval_clock]; arrays keep the done history small.
nlohmann::json ShardPool::ToJson() const {
  using nlohmann::json;
  auto leases = [](const std::vector<ShardLease>& v) {
    json a = json::array();
    for (const ShardLease& l : v)
      a.push_back({l.worker, l.epoch, l.shard, l.sample_begin, l.sample_end, l.start_clock});
    return a;
  };
  json j;
  j["format"] = kFormat;
  j["num_samples"] = num_samples_;
  j["batch_size"] = batch_size_;
  j["batches_per_shard"] = batches_per_shard_;
  j["epochs"] = epochs_;
  j["lockstep"] = lockstep_;
  j["epoch"] = epoch_;
  j["next_shard"] = next_shard_;
  j["closed"] = closed_;
  j["eval_handed_out"] = eval_handed_out_;
  json clocks = json::array();
  for (const EpochClocks& c : clocks_)
    clocks.push_back({c.start, c.close_version, c.close_clock, c.eval_clock});
  j["epoch_clocks"] = std::move(clocks);
  j["outstanding"] = leases(outstanding_);
  j["done"] = leases(done_);
  json pieces = json::array();
  for (const Piece& p : pieces_) pieces.push_back({p.epoch, p.shard, p.sample_begin, p.sample_end});
  j["pieces"] = std::move(pieces);
  return j;
}

namespace {

Status Bad(const std::string& what) { return Status::InvalidArgument("shard pool state: " + what); }
Status Lost(const std::string& what) { return Status::DataLoss("shard pool state: " + what); }

// Parsed text holds non-negative integers as unsigned, but a json built in
// code holds them as signed.
bool ToUint(const nlohmann::json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

// An unsigned integer field <= max.
Status GetUint(const nlohmann::json& j, const char* name, uint64_t max, uint64_t* out) {
  auto it = j.find(name);
  if (it == j.end()) return Bad(std::string("missing \"") + name + "\"");
  if (!ToUint(*it, out) || *out > max)
    return Bad(std::string("\"") + name + "\" is not an integer in [0, " + std::to_string(max) +
               "]");
  return Status::OK();
}

// An array of arrays of `width` unsigned integers.
Status GetRows(const nlohmann::json& j, const char* name, size_t width,
               std::vector<std::vector<uint64_t>>* out) {
  auto it = j.find(name);
  if (it == j.end()) return Bad(std::string("missing \"") + name + "\"");
  if (!it->is_array()) return Bad(std::string("\"") + name + "\" is not an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& row = (*it)[i];
    const std::string where = std::string("\"") + name + "\"[" + std::to_string(i) + "]";
    if (!row.is_array() || row.size() != width)
      return Bad(where + " is not an array of " + std::to_string(width) + " integers");
    std::vector<uint64_t> v(width);
    for (size_t k = 0; k < width; ++k) {
      if (!ToUint(row[k], &v[k])) return Bad(where + " holds a non-integer or a negative number");
    }
    out->push_back(std::move(v));
  }
  return Status::OK();
}

}  // namespace

StatusOr<ShardPool> ShardPool::FromJson(const nlohmann::json& j) {
  // Only the non-throwing accessors are used; this catches std::bad_alloc.
  try {
    if (!j.is_object()) return Bad("not a JSON object");
    auto format = j.find("format");
    if (format == j.end() || !format->is_string() ||
        format->get_ref<const std::string&>() != kFormat)
      return Bad(std::string("\"format\" is not \"") + kFormat + "\"");
    constexpr uint64_t kMax32 = std::numeric_limits<uint32_t>::max();
    constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();
    uint64_t num_samples, batch_size, per_shard, epochs, epoch, next_shard, closed, evaluated;
    PST_RETURN_IF_ERROR(GetUint(j, "num_samples", kMax64, &num_samples));
    PST_RETURN_IF_ERROR(GetUint(j, "batch_size", kMax32, &batch_size));
    PST_RETURN_IF_ERROR(GetUint(j, "batches_per_shard", kMax32, &per_shard));
    PST_RETURN_IF_ERROR(GetUint(j, "epochs", kMax32, &epochs));
    auto lockstep = j.find("lockstep");
    if (lockstep == j.end() || !lockstep->is_boolean()) return Bad("\"lockstep\" is not a boolean");
    if (num_samples == 0 || batch_size == 0 || per_shard == 0 || epochs == 0)
      return Bad("num_samples, batch_size, batches_per_shard and epochs must be >= 1");
    const uint64_t shard_samples = batch_size * per_shard;
    if (num_samples / shard_samples + (num_samples % shard_samples != 0) > kMax32)
      return Bad("more than 2^32 - 1 shards per epoch");
    ShardPool pool(num_samples, static_cast<uint32_t>(batch_size), static_cast<uint32_t>(per_shard),
                   static_cast<uint32_t>(epochs), lockstep->get<bool>());
    const uint64_t spe = pool.shards_per_epoch_;
    PST_RETURN_IF_ERROR(GetUint(j, "epoch", epochs - 1, &epoch));
    PST_RETURN_IF_ERROR(GetUint(j, "next_shard", spe, &next_shard));
    PST_RETURN_IF_ERROR(GetUint(j, "closed", epochs, &closed));
    PST_RETURN_IF_ERROR(GetUint(j, "eval_handed_out", closed, &evaluated));
    pool.epoch_ = static_cast<uint32_t>(epoch);
    pool.next_shard_ = static_cast<uint32_t>(next_shard);
    pool.closed_ = static_cast<uint32_t>(closed);
    pool.eval_handed_out_ = static_cast<uint32_t>(evaluated);

    std::vector<std::vector<uint64_t>> rows;
    PST_RETURN_IF_ERROR(GetRows(j, "epoch_clocks", 4, &rows));
    if (rows.size() != epochs) return Bad("\"epoch_clocks\" does not have one row per epoch");
    for (size_t e = 0; e < epochs; ++e)
      pool.clocks_[e] = EpochClocks{rows[e][0], 0, rows[e][1], rows[e][2], rows[e][3]};

    // Ranges must lie in a shard that the frontier has passed.
    const uint64_t frontier = pool.FrontierIndex();
    auto check_range = [&](const std::string& where, uint64_t e, uint64_t s, uint64_t begin,
                           uint64_t end) -> Status {
      if (e >= epochs || s >= spe) return Bad(where + ": epoch or shard out of range");
      const auto shard = static_cast<uint32_t>(s);
      if (begin >= end || begin < pool.ShardBegin(shard) || end > pool.ShardEnd(shard))
        return Bad(where + ": sample range outside its shard");
      if (e * spe + s >= frontier) return Lost(where + ": shard not leased yet");
      return Status::OK();
    };
    for (const char* name : {"outstanding", "done"}) {
      rows.clear();
      PST_RETURN_IF_ERROR(GetRows(j, name, 6, &rows));
      for (size_t i = 0; i < rows.size(); ++i) {
        const std::vector<uint64_t>& r = rows[i];
        const std::string where = std::string("\"") + name + "\"[" + std::to_string(i) + "]";
        if (r[0] > kMax32) return Bad(where + ": worker out of range");
        PST_RETURN_IF_ERROR(check_range(where, r[1], r[2], r[3], r[4]));
        ShardLease l{static_cast<uint32_t>(r[0]),
                     static_cast<uint32_t>(r[1]),
                     static_cast<uint32_t>(r[2]),
                     r[3],
                     r[4],
                     r[5],
                     pool.Batches(r[3], r[4])};
        (std::string(name) == "done" ? pool.done_ : pool.outstanding_).push_back(l);
      }
    }
    rows.clear();
    PST_RETURN_IF_ERROR(GetRows(j, "pieces", 4, &rows));
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::vector<uint64_t>& r = rows[i];
      PST_RETURN_IF_ERROR(
          check_range("\"pieces\"[" + std::to_string(i) + "]", r[0], r[1], r[2], r[3]));
      pool.pieces_.push_back(
          Piece{static_cast<uint32_t>(r[0]), static_cast<uint32_t>(r[1]), r[2], r[3]});
    }
    auto piece_key = [](const Piece& x) { return std::tie(x.epoch, x.shard, x.sample_begin); };
    if (!std::is_sorted(
            pool.pieces_.begin(), pool.pieces_.end(),
            [&](const Piece& a, const Piece& b) { return piece_key(a) < piece_key(b); }))
      return Lost("\"pieces\" out of order");

    // Every leased shard is covered exactly once by done, outstanding and
    // waiting ranges, so no sample is trained twice or skipped.
    std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> ranges;  // shard index, begin, end
    for (const auto* list : {&pool.done_, &pool.outstanding_})
      for (const ShardLease& l : *list)
        ranges.emplace_back(l.epoch * spe + l.shard, l.sample_begin, l.sample_end);
    for (const Piece& p : pool.pieces_)
      ranges.emplace_back(p.epoch * spe + p.shard, p.sample_begin, p.sample_end);
    if (frontier > ranges.size()) return Lost("a leased shard has no lease, done part or piece");
    std::sort(ranges.begin(), ranges.end());
    size_t i = 0;
    for (uint64_t index = 0; index < frontier; ++index) {
      const auto s = static_cast<uint32_t>(index % spe);
      const std::string where =
          "epoch " + std::to_string(index / spe) + " shard " + std::to_string(s);
      uint64_t at = pool.ShardBegin(s);
      for (; i < ranges.size() && std::get<0>(ranges[i]) == index; ++i) {
        if (std::get<1>(ranges[i]) < at) return Lost(where + ": samples leased twice");
        if (std::get<1>(ranges[i]) > at) return Lost(where + ": samples missing");
        at = std::get<2>(ranges[i]);
      }
      if (at != pool.ShardEnd(s)) return Lost(where + ": samples missing");
    }

    // With lockstep only closing the frontier's epoch opens the next one.
    if (pool.lockstep_ && pool.closed_ > pool.epoch_ && pool.closed_ < pool.epochs_)
      return Lost("epoch " + std::to_string(pool.epoch_) +
                  " is closed but the next one never opened");
    for (uint32_t e = 0; e < pool.closed_; ++e) {
      if (!pool.FullyLeased(e) || pool.HasPieces(e) || (!pool.lockstep_ && pool.HasOutstanding(e)))
        return Lost("epoch " + std::to_string(e) + " is closed but has work left");
    }
    pool.RecomputeEndClocks();
    return pool;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("shard pool state: ") + e.what());
  }
}

uint64_t ShardPool::DoneSamples(uint32_t epoch) const {
  uint64_t n = 0;
  for (const ShardLease& l : done_)
    if (l.epoch == epoch) n += l.sample_end - l.sample_begin;
  return n;
}

}  // namespace pst
