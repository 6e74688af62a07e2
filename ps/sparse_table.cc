#include "ps/sparse_table.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "common/hash.h"

namespace pst {
namespace {

constexpr uint64_t kInitialCapacity = 1024;
// How far ahead LookUp and the update loops prefetch: enough to cover a DRAM
// miss at a few ns of work per id.
constexpr size_t kPrefetchAhead = 16;
// Reserve sizes the index for at most this many rows (a 2^25-bucket index, 256 MiB).
constexpr uint64_t kMaxReservedRows = uint64_t{3} << 23;

uint32_t ClampStep(uint64_t step) {
  return step >= UINT32_MAX ? UINT32_MAX - 1 : static_cast<uint32_t>(step);
}

}  // namespace

Status ValidateSparseTableOptions(const SparseTableOptions& o) {
  const std::string where = "sparse table \"" + o.name + "\": ";
  if (o.name.empty()) return Status::InvalidArgument("sparse table: name is empty");
  if (o.dim == 0 || o.dim > kMaxSparseDim) {
    return Status::InvalidArgument(where + "dim must be in [1, " + std::to_string(kMaxSparseDim) +
                                   "], got " + std::to_string(o.dim));
  }
  PST_RETURN_IF_ERROR(ValidateRowInit(o.init).WithContext(where + "init"));
  if (o.admit_after > AdmissionSketch::kMaxCount) {
    return Status::InvalidArgument(where + "admit_after must be at most " +
                                   std::to_string(AdmissionSketch::kMaxCount) + ", got " +
                                   std::to_string(o.admit_after));
  }
  if (o.max_rows > kMaxSparseRows) {
    return Status::InvalidArgument(where + "max_rows must be at most " +
                                   std::to_string(kMaxSparseRows));
  }
  auto optimizer = SparseOptimizerRegistry::Builtin().Create(o.optimizer, o.dim);
  if (!optimizer.ok()) return optimizer.status().WithContext(where.substr(0, where.size() - 2));
  if (o.admit_after >= 2) {
    auto sketch = AdmissionSketch::Create(o.admission_sketch_width);
    if (!sketch.ok()) return sketch.status().WithContext(where.substr(0, where.size() - 2));
  }
  return Status::OK();
}

StatusOr<std::unique_ptr<SparseTable>> SparseTable::Create(const SparseTableOptions& options) {
  PST_RETURN_IF_ERROR(ValidateSparseTableOptions(options));
  PST_ASSIGN_OR_RETURN(auto optimizer,
                       SparseOptimizerRegistry::Builtin().Create(options.optimizer, options.dim));
  std::unique_ptr<AdmissionSketch> sketch;
  if (options.admit_after >= 2) {
    PST_ASSIGN_OR_RETURN(sketch, AdmissionSketch::Create(options.admission_sketch_width));
  }
  return std::unique_ptr<SparseTable>(
      new SparseTable(options, std::move(optimizer), std::move(sketch)));
}

SparseTable::SparseTable(SparseTableOptions options, std::unique_ptr<SparseRowOptimizer> optimizer,
                         std::unique_ptr<AdmissionSketch> sketch)
    : options_(std::move(options)),
      optimizer_(std::move(optimizer)),
      sketch_(std::move(sketch)),
      state_floats_(optimizer_->state_floats()),
      stride_(options_.dim + state_floats_),
      max_rows_(options_.max_rows == 0 ? kMaxSparseRows : options_.max_rows),
      buckets_(new Bucket[kInitialCapacity]),
      capacity_(kInitialCapacity) {
  std::fill(buckets_.get(), buckets_.get() + capacity_, Bucket{0, kNoRecord});
}

SparseTable::~SparseTable() {
  ForEachOpenCapture(reading_, [](LiveRows& l) { l.Detach(); });
}

void SparseTable::BeforeChangeSlow(uint32_t r) {
  ForEachOpenCapture(reading_, [r](LiveRows& l) { l.BeforeChange(r); });
}

std::shared_ptr<LiveRows> SparseTable::CaptureLive(bool full) {
  std::vector<LiveRows::Chunk> chunks;
  for (uint32_t first = 0; first < used_records_; first += kChunkRows) {
    const Chunk& c = chunks_[first >> kChunkShift];
    chunks.push_back({c.ids.get(), c.last_step.get(), c.data.get(),
                      std::min(kChunkRows, used_records_ - first)});
  }
  std::vector<uint64_t> selected;
  if (!full) selected = changed_;  // 1 bit per record
  auto live = std::make_shared<LiveRows>(std::move(chunks), kChunkRows, stride_, kFreeRecord,
                                         std::move(selected), full ? rows_ : changed_rows_);
  reading_.push_back(live);
  return live;
}

uint32_t SparseTable::IndexHash(uint64_t id) {
  // The top 32 bits of a salted Mix64: independent of SlotOfId, so the ids of
  // one shard (a few slots) still spread over every bucket.
  return static_cast<uint32_t>(Mix64(id ^ 0x7ab1'e000'0000'0001ull) >> 32);
}

size_t SparseTable::FindBucket(uint64_t id, uint32_t hash) const {
  const uint64_t mask = capacity_ - 1;
  for (uint64_t pos = hash & mask;; pos = (pos + 1) & mask) {
    const Bucket& b = buckets_[pos];
    if (b.record == kNoRecord) return SIZE_MAX;
    if (b.hash == hash && IdOf(b.record) == id) return pos;
  }
}

void SparseTable::LookUp(std::span<const uint64_t> ids) {
  // A three-stage pipeline over the ids, so that the misses of one id overlap
  // the work on others: at i + 2D hash and prefetch the home bucket; at i + D
  // read that bucket and prefetch the id it points to and the record's data;
  // at i compare (usually all in cache by then).
  constexpr size_t D = kPrefetchAhead / 2;
  const size_t n = ids.size();
  hashes_.resize(n);
  records_.resize(n);
  const uint64_t mask = capacity_ - 1;
  auto stage1 = [&](size_t j) {
    hashes_[j] = IndexHash(ids[j]);
    __builtin_prefetch(&buckets_[hashes_[j] & mask]);
  };
  auto stage2 = [&](size_t j) {
    const Bucket& b = buckets_[hashes_[j] & mask];
    if (b.record != kNoRecord) {
      __builtin_prefetch(&IdOf(b.record));
      __builtin_prefetch(DataOf(b.record));
    }
  };
  for (size_t j = 0; j < std::min(n, 2 * D); ++j) stage1(j);
  for (size_t j = 0; j < std::min(n, D); ++j) stage2(j);
  for (size_t i = 0; i < n; ++i) {
    if (i + 2 * D < n) stage1(i + 2 * D);
    if (i + D < n) stage2(i + D);
    const size_t pos = FindBucket(ids[i], hashes_[i]);
    records_[i] = pos == SIZE_MAX ? kNoRecord : buckets_[pos].record;
  }
}

void SparseTable::Pull(std::span<const uint64_t> ids, float* out) {
  LookUp(ids);
  const uint32_t dim = options_.dim;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i + kPrefetchAhead < ids.size() && records_[i + kPrefetchAhead] != kNoRecord) {
      __builtin_prefetch(DataOf(records_[i + kPrefetchAhead]));
    }
    float* dst = out + i * dim;
    if (records_[i] != kNoRecord) {
      std::memcpy(dst, DataOf(records_[i]), dim * sizeof(float));
    } else if (sketch_ != nullptr) {
      std::fill(dst, dst + dim, 0.0f);
    } else {
      InitRow(options_.init, ids[i], dim, dst);
    }
  }
}

Status SparseTable::Push(std::span<const uint64_t> ids, const float* grads, float grad_scale,
                         uint64_t step) {
  LookUp(ids);
  // All checks first: count the rows this push would create.
  uint64_t creating = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (records_[i] != kNoRecord) continue;
    if (sketch_ == nullptr || sketch_->Estimate(ids[i]) + 1 >= options_.admit_after) ++creating;
  }
  if (rows_ + creating > max_rows_) {
    return Status::ResourceExhausted(
        "sparse table \"" + options_.name + "\": " + std::to_string(creating) +
        " new rows would exceed max_rows " + std::to_string(max_rows_) + " (" +
        std::to_string(rows_) + " rows)");
  }
  // Only now is state modified.
  const uint32_t dim = options_.dim;
  const uint32_t last = ClampStep(step);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i + kPrefetchAhead < ids.size() && records_[i + kPrefetchAhead] != kNoRecord) {
      __builtin_prefetch(DataOf(records_[i + kPrefetchAhead]));
    }
    uint32_t r = records_[i];
    if (r == kNoRecord) {
      // Looked up again: an id listed twice was created by its first occurrence.
      const size_t pos = FindBucket(ids[i], hashes_[i]);
      if (pos != SIZE_MAX) {
        r = buckets_[pos].record;
      } else {
        // The sketch may count higher than its estimate above (ids of this
        // push sharing counters), so max_rows is checked again per row.
        if (sketch_ != nullptr && sketch_->Add(ids[i]) < options_.admit_after) {
          ++unadmitted_updates_;
          continue;
        }
        if (rows_ >= max_rows_) {
          ++unadmitted_updates_;
          continue;
        }
        if (sketch_ != nullptr) sketch_->Forget(ids[i]);
        r = CreateRow(ids[i], hashes_[i]);
      }
    }
    BeforeChange(r);
    float* row = DataOf(r);
    optimizer_->Apply(row, row + dim, grads + i * dim, grad_scale);
    LastOf(r) = last;
    MarkChanged(r);
  }
  return Status::OK();
}

uint32_t SparseTable::AllocateRecord() {
  if (!free_records_.empty()) {
    const uint32_t r = free_records_.back();
    free_records_.pop_back();
    return r;
  }
  if ((used_records_ >> kChunkShift) == chunks_.size()) {
    Chunk c;
    c.ids = std::make_unique_for_overwrite<uint64_t[]>(kChunkRows);
    c.last_step = std::make_unique_for_overwrite<uint32_t[]>(kChunkRows);
    c.data = std::make_unique_for_overwrite<float[]>(size_t{kChunkRows} * stride_);
    chunks_.push_back(std::move(c));
    changed_.resize(chunks_.size() * (kChunkRows / 64), 0);
  }
  return used_records_++;
}

uint32_t SparseTable::CreateRow(uint64_t id, uint32_t hash) {
  const uint32_t r = AddRecord(id, hash);
  float* row = DataOf(r);
  InitRow(options_.init, id, options_.dim, row);
  optimizer_->InitState(row + options_.dim);
  return r;
}

uint32_t SparseTable::AddRecord(uint64_t id, uint32_t hash) {
  if ((rows_ + 1) * 4 > capacity_ * 3) GrowIndex();
  const uint32_t r = AllocateRecord();
  BeforeChange(r);  // a free record of a captured chunk may be reused
  IdOf(r) = id;
  LastOf(r) = 0;
  InsertBucket(hash, r);
  MarkChanged(r);
  ++rows_;
  ++admitted_;
  return r;
}

void SparseTable::Reserve(uint64_t rows) {
  // A hint from a checkpoint manifest: bounded, so a corrupt count cannot make
  // the index huge (past the bound the index grows as usual).
  rows = std::min({rows, max_rows_, kMaxReservedRows});
  uint64_t capacity = capacity_;
  while (rows * 4 > capacity * 3) capacity *= 2;
  if (capacity != capacity_) RebuildIndex(capacity);
}

void SparseTable::InsertBucket(uint32_t hash, uint32_t record) {
  const uint64_t mask = capacity_ - 1;
  uint64_t pos = hash & mask;
  while (buckets_[pos].record != kNoRecord) pos = (pos + 1) & mask;
  buckets_[pos] = Bucket{hash, record};
}

void SparseTable::GrowIndex() { RebuildIndex(capacity_ * 2); }

void SparseTable::RebuildIndex(uint64_t capacity) {
  std::unique_ptr<Bucket[]> old = std::move(buckets_);
  const uint64_t old_capacity = capacity_;
  capacity_ = capacity;
  buckets_.reset(new Bucket[capacity_]);
  std::fill(buckets_.get(), buckets_.get() + capacity_, Bucket{0, kNoRecord});
  for (uint64_t i = 0; i < old_capacity; ++i) {
    if (old[i].record != kNoRecord) InsertBucket(old[i].hash, old[i].record);
  }
}

void SparseTable::EraseBucket(size_t pos) {
  // Backward-shift deletion: move later members of the probe run into the
  // hole unless their home bucket lies cyclically in (hole, them].
  const uint64_t mask = capacity_ - 1;
  uint64_t hole = pos;
  for (uint64_t j = (hole + 1) & mask; buckets_[j].record != kNoRecord; j = (j + 1) & mask) {
    const uint64_t home = buckets_[j].hash & mask;
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    buckets_[hole] = buckets_[j];
    hole = j;
  }
  buckets_[hole] = Bucket{0, kNoRecord};
}

uint64_t SparseTable::Evict(uint64_t now) {
  if (options_.evict_after_steps == 0 || now < options_.evict_after_steps) return 0;
  const uint64_t cutoff = now - options_.evict_after_steps;  // evict last <= cutoff
  uint64_t dropped = 0;
  for (uint32_t r = 0; r < used_records_; ++r) {
    const uint32_t last = LastOf(r);
    if (last == kFreeRecord || last > cutoff) continue;
    removed_.push_back(IdOf(r));
    FreeRecord(r);
    ++dropped;
  }
  evicted_ += dropped;
  return dropped;
}

void SparseTable::FreeRecord(uint32_t r) {
  const uint64_t id = IdOf(r);
  EraseBucket(FindBucket(id, IndexHash(id)));
  BeforeChange(r);
  LastOf(r) = kFreeRecord;
  ClearChanged(r);
  free_records_.push_back(r);
  --rows_;
}

bool SparseTable::DropRow(uint64_t id) {
  const size_t pos = FindBucket(id, IndexHash(id));
  if (pos == SIZE_MAX) return false;
  FreeRecord(buckets_[pos].record);
  return true;
}

SparseRowsDelta SparseTable::TakeChanges(bool full, SparseTableManifest* manifest, bool live) {
  SparseRowsDelta d;
  const uint64_t n = live ? 0 : full ? rows_ : changed_rows_;
  d.ids.reserve(n);
  d.last_steps.reserve(n);
  d.data.resize(n * stride_);
  float* out = d.data.data();
  auto copy = [&](uint32_t r) {
    d.ids.push_back(IdOf(r));
    d.last_steps.push_back(LastOf(r));
    std::memcpy(out, DataOf(r), stride_ * sizeof(float));
    out += stride_;
  };
  if (live) {
    d.live = CaptureLive(full);
    if (!full) d.removed = std::move(removed_);
  } else if (full) {
    for (uint32_t r = 0; r < used_records_; ++r)
      if (LastOf(r) != kFreeRecord) copy(r);
  } else {
    // Whole zero words of the bitmap are skipped: an increment costs about
    // one word test per 64 records plus its rows.
    for (size_t w = 0; w < changed_.size(); ++w) {
      for (uint64_t bits = changed_[w]; bits != 0; bits &= bits - 1)
        copy(uint32_t(w * 64 + size_t(__builtin_ctzll(bits))));
    }
    d.removed = std::move(removed_);
  }
  if (sketch_) d.sketch = sketch_->Serialize();
  ForgetChanges();
  manifest->name = options_.name;
  manifest->dim = options_.dim;
  manifest->state_floats = uint32_t(state_floats_);
  manifest->rows = rows_;
  manifest->changed = d.row_count();
  manifest->removed = d.removed.size();
  manifest->admitted = admitted_;
  manifest->evicted = evicted_;
  manifest->unadmitted_updates = unadmitted_updates_;
  return d;
}

void SparseTable::ForgetChanges() {
  std::fill(changed_.begin(), changed_.end(), 0);
  changed_rows_ = 0;
  removed_.clear();
  removed_.shrink_to_fit();
}

Status SparseTable::LoadSketch(std::string_view bytes) {
  if (sketch_ == nullptr) {
    if (bytes.empty()) return Status::OK();
    return Status::DataLoss("sparse table \"" + options_.name +
                            "\" has no admission sketch, but the checkpoint holds one");
  }
  return sketch_->Load(bytes).WithContext("sparse table \"" + options_.name + "\"");
}

void SparseTable::SetCounters(uint64_t admitted, uint64_t evicted, uint64_t unadmitted_updates) {
  admitted_ = admitted;
  evicted_ = evicted;
  unadmitted_updates_ = unadmitted_updates;
}

void SparseTable::ForEachRow(
    const std::function<void(uint64_t, const float*, uint64_t)>& fn) const {
  for (uint32_t r = 0; r < used_records_; ++r) {
    if (LastOf(r) != kFreeRecord) fn(IdOf(r), DataOf(r), LastOf(r));
  }
}

const float* SparseTable::FindRow(uint64_t id) const {
  const size_t pos = FindBucket(id, IndexHash(id));
  return pos == SIZE_MAX ? nullptr : DataOf(buckets_[pos].record);
}

Status SparseTable::PutRow(uint64_t id, const float* row_and_state, uint64_t last_step) {
  const uint32_t hash = IndexHash(id);
  const size_t pos = FindBucket(id, hash);
  uint32_t r;
  if (pos != SIZE_MAX) {
    r = buckets_[pos].record;
  } else {
    if (rows_ >= max_rows_) {
      return Status::ResourceExhausted("sparse table \"" + options_.name + "\": max_rows " +
                                       std::to_string(max_rows_) + " reached");
    }
    r = AddRecord(id, hash);  // no initial values: overwritten at once
  }
  BeforeChange(r);
  std::memcpy(DataOf(r), row_and_state, stride_ * sizeof(float));
  LastOf(r) = ClampStep(last_step);
  MarkChanged(r);
  return Status::OK();
}

SparseTableStats SparseTable::stats() const {
  SparseTableStats s;
  s.rows = rows_;
  s.raw_bytes_per_row = sizeof(uint64_t) + stride_ * sizeof(float);
  const uint64_t chunk_bytes =
      uint64_t{kChunkRows} * (sizeof(uint64_t) + sizeof(uint32_t) + stride_ * sizeof(float));
  s.bytes = sizeof(*this) + capacity_ * sizeof(Bucket) + chunks_.capacity() * sizeof(Chunk) +
            chunks_.size() * chunk_bytes + free_records_.capacity() * sizeof(uint32_t) +
            (records_.capacity() + hashes_.capacity()) * sizeof(uint32_t) +
            (changed_.capacity() + removed_.capacity()) * sizeof(uint64_t) +
            (sketch_ ? sketch_->bytes() : 0);
  s.admitted = admitted_;
  s.evicted = evicted_;
  s.unadmitted_updates = unadmitted_updates_;
  s.changed_rows = changed_rows_;
  s.removed_rows = removed_.size();
  return s;
}

}  // namespace pst
