#include "ps/rocksdb_param_store.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/status.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numeric>
#include <iterator>
#include <string_view>
#include <thread>
#include <utility>

#include "common/rocksdb_open.h"
#include "common/rocksdb_records.h"
#include "ps/live_rows.h"

namespace pst {
namespace {

constexpr std::string_view kFormatKey = "meta/format";
constexpr std::string_view kFormatValue = "pstrain-param-store/1";
constexpr std::string_view kManifestPrefix = "manifest/";
constexpr std::string_view kBlockPrefix = "block/";
constexpr std::string_view kCommittedPrefix = "committed/";
constexpr std::string_view kSparsePrefix = "sparse/";
constexpr uint32_t kFormatVersion = 1;
constexpr RecordFormat kManifestFormat = {{'P', 'S', 'T', 'M'}, 2};
constexpr RecordFormat kManifestFormatV1 = {{'P', 'S', 'T', 'M'}, 1};
constexpr RecordFormat kSparseFormat = {{'P', 'S', 'T', 'S'}, kFormatVersion};
enum class PieceKind : uint32_t { kTombstones = 0, kRows = 1, kSketch = 2 };
constexpr uint32_t kMaxSparseTables = 4096;
constexpr RecordFormat kBlockFormat = {{'P', 'S', 'T', 'B'}, kFormatVersion};
constexpr RecordFormat kCommitFormat = {{'P', 'S', 'T', 'C'}, kFormatVersion};
// Bounds checked while decoding, so corrupt lengths cannot trigger huge allocations.
constexpr uint32_t kMaxSlots = 1024;

// What FromRocks says when another process holds the database's LOCK file.
std::string LockHeld(const std::string& path, const std::string& rocks_text) {
  return "database at " + path + " is in use by another process (lock held): " + rocks_text;
}

// "block/<id>/" and the first key after every key with that prefix.
std::string BlockPrefix(uint64_t id) { return std::string(kBlockPrefix) + Hex16(id) + "/"; }
std::string SparsePrefix(uint64_t id) { return std::string(kSparsePrefix) + Hex16(id) + "/"; }
std::string PrefixEnd(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);  // every prefix here ends in '/'
  return prefix;
}

std::string EncodeManifest(const CheckpointManifest& m) {
  RecordEncoder e(kManifestFormat);
  e.U64(m.checkpoint_id);
  e.U64(m.clock);
  e.U64(m.range.begin);
  e.U64(m.range.end);
  e.U64(m.num_blocks);
  e.Str(m.job_fingerprint);
  e.U32(static_cast<uint32_t>(m.slot_names.size()));
  for (const std::string& name : m.slot_names) e.Str(name);
  e.U64(m.sparse_parent);
  e.U32(m.sparse_chain);
  e.U32(static_cast<uint32_t>(m.sparse_tables.size()));
  for (const SparseTableManifest& t : m.sparse_tables) {
    e.Str(t.name);
    e.U32(t.dim);
    e.U32(t.state_floats);
    for (uint64_t v : {t.version, t.rows, t.changed, t.removed, t.admitted, t.evicted,
                       t.unadmitted_updates})
      e.U64(v);
  }
  return std::move(e).Finish();
}

// The format version a framed value says it has (0 if too short to say).
uint32_t FramedVersion(std::string_view value) {
  uint32_t v = 0;
  if (value.size() >= 8) std::memcpy(&v, value.data() + 4, 4);
  return v;
}

StatusOr<CheckpointManifest> DecodeManifest(std::string_view value) {
  const bool v1 = FramedVersion(value) == kManifestFormatV1.version;
  PST_ASSIGN_OR_RETURN(std::string_view body,
                       OpenFramed(value, v1 ? kManifestFormatV1 : kManifestFormat));
  RecordDecoder d(body);
  CheckpointManifest m;
  uint32_t num_slots;
  if (!d.U64(&m.checkpoint_id) || !d.U64(&m.clock) || !d.U64(&m.range.begin) ||
      !d.U64(&m.range.end) || !d.U64(&m.num_blocks) || !d.Str(&m.job_fingerprint) ||
      !d.U32(&num_slots) || num_slots > kMaxSlots) {
    return Status::DataLoss("malformed manifest");
  }
  m.slot_names.resize(num_slots);
  for (std::string& name : m.slot_names) {
    if (!d.Str(&name)) return Status::DataLoss("malformed manifest slot names");
  }
  uint32_t num_tables = 0;
  if (!v1 && (!d.U64(&m.sparse_parent) || !d.U32(&m.sparse_chain) || !d.U32(&num_tables) ||
              num_tables > kMaxSparseTables)) {
    return Status::DataLoss("malformed manifest sparse header");
  }
  m.sparse_tables.resize(num_tables);
  for (SparseTableManifest& t : m.sparse_tables) {
    if (!d.Str(&t.name) || !d.U32(&t.dim) || !d.U32(&t.state_floats) || !d.U64(&t.version) ||
        !d.U64(&t.rows) || !d.U64(&t.changed) || !d.U64(&t.removed) || !d.U64(&t.admitted) ||
        !d.U64(&t.evicted) || !d.U64(&t.unadmitted_updates)) {
      return Status::DataLoss("malformed manifest sparse table");
    }
  }
  if (d.left() != 0) return Status::DataLoss("trailing bytes in manifest");
  return m;
}

std::string EncodeBlock(uint64_t checkpoint_id, const BlockView& b) {
  RecordEncoder e(kBlockFormat,
                  4 + 4 + 5 * 8 + 8 + (b.values.size() * (1 + b.slots.size())) * sizeof(float) + 4);
  e.U64(checkpoint_id);
  e.U64(b.keys.begin);
  e.U64(b.keys.end);
  e.U64(b.version);
  e.U64(b.optimizer_steps);
  e.U32(static_cast<uint32_t>(b.slots.size()));
  e.U32(0);  // reserved
  e.Floats(b.values);
  for (std::span<const float> slot : b.slots) e.Floats(slot);
  return std::move(e).Finish();
}

// Decodes a block value; *checkpoint_id is the id recorded inside it.
StatusOr<BlockState> DecodeBlock(std::string_view value, uint64_t* checkpoint_id) {
  PST_ASSIGN_OR_RETURN(std::string_view body, OpenFramed(value, kBlockFormat));
  RecordDecoder d(body);
  BlockState b;
  uint32_t num_slots, reserved;
  if (!d.U64(checkpoint_id) || !d.U64(&b.keys.begin) || !d.U64(&b.keys.end) || !d.U64(&b.version) ||
      !d.U64(&b.optimizer_steps) || !d.U32(&num_slots) || !d.U32(&reserved) ||
      num_slots > kMaxSlots || b.keys.end < b.keys.begin) {
    return Status::DataLoss("malformed block header");
  }
  const uint64_t n = b.keys.size();
  // Exactly (1 + num_slots) * n floats must remain; check without overflow.
  const size_t left = d.left();
  if (left % sizeof(float) != 0 ||
      (n == 0 ? left != 0
              : (left / sizeof(float)) % n != 0 || left / sizeof(float) / n != 1 + num_slots)) {
    return Status::DataLoss("block [" + std::to_string(b.keys.begin) + ", " +
                            std::to_string(b.keys.end) + ") with " + std::to_string(num_slots) +
                            " slots has " + std::to_string(left) + " bytes of floats");
  }
  b.values.resize(n);
  (void)d.Floats(b.values);  // size checked above
  b.slots.resize(num_slots);
  for (std::vector<float>& slot : b.slots) {
    slot.resize(n);
    (void)d.Floats(slot);
  }
  return b;
}

// Bytes of values and optimizer state in a checkpoint's blocks and sparse rows.
// (The blocks' size as the manifest's slot names give it: known before any
// block is read.)
uint64_t StateBytes(const CheckpointManifest& m, const BlockSource& blocks,
                    const std::vector<SparseRowsDelta>& sparse) {
  uint64_t bytes = 0;
  for (size_t i = 0; i < blocks.size(); ++i)
    bytes += blocks.keys(i).size() * (1 + m.slot_names.size()) * sizeof(float);
  for (size_t t = 0; t < sparse.size() && t < m.sparse_tables.size(); ++t) {
    const SparseRowsDelta& d = sparse[t];
    bytes += d.row_count() * (12 + m.sparse_tables[t].stride() * sizeof(float)) +
             d.removed.size() * 8 + d.sketch.size();
  }
  return bytes;
}

// Hands the rows of `live` to put_rows(buffer, i, n) in pieces of `piece`
// rows (the same pieces as for rows copied at the capture), one table chunk
// at a time: a chunk's rows are copied into the buffer while the reader
// holds it, and encoded after. Stops at the first error put_rows leaves in
// *s (returned as is).
rocksdb::Status PutLiveRows(
    LiveRows& live, uint64_t piece,
    const std::function<void(const SparseRowsDelta&, uint64_t, uint64_t)>& put_rows,
    const rocksdb::Status* s) {
  SparseRowsDelta buf;
  const size_t stride = live.stride();
  auto flush = [&](bool all) {
    uint64_t i = 0;
    for (; s->ok() && i < buf.ids.size() && buf.ids.size() - i >= (all ? 1 : piece); i += piece)
      put_rows(buf, i, std::min<uint64_t>(piece, buf.ids.size() - i));
    i = std::min<uint64_t>(i, buf.ids.size());
    buf.ids.erase(buf.ids.begin(), buf.ids.begin() + i);
    buf.last_steps.erase(buf.last_steps.begin(), buf.last_steps.begin() + i);
    buf.data.erase(buf.data.begin(), buf.data.begin() + i * stride);
  };
  Status read = live.ForEachRow(
      [&](uint64_t id, uint32_t last, const float* row) {
        buf.ids.push_back(id);
        buf.last_steps.push_back(last);
        buf.data.insert(buf.data.end(), row, row + stride);
        return Status::OK();
      },
      [&] {
        flush(false);
        return s->ok() ? Status::OK() : Status::Aborted("put failed");
      });
  if (!s->ok()) return *s;
  if (!read.ok()) return rocksdb::Status::Aborted("sparse rows: " + read.ToString());
  flush(true);
  return *s;
}

// Calls put(key, value) for every sparse piece of checkpoint `id`, in key
// order: per table its tombstones, its rows, its sketch. Encodes one piece at
// a time, so the rows are never copied whole. Stops at put's first error.
rocksdb::Status PutSparsePieces(
    uint64_t id, const std::vector<SparseTableManifest>& tables,
    const std::vector<SparseRowsDelta>& sparse,
    const std::function<rocksdb::Status(const std::string&, const std::string&)>& put) {
  uint64_t seq = 0;
  rocksdb::Status s;
  auto header = [&](RecordEncoder& e, size_t t, PieceKind kind, uint64_t n) {
    e.U64(id);
    e.U32(static_cast<uint32_t>(t));
    e.U32(static_cast<uint32_t>(kind));
    e.U64(n);
  };
  constexpr uint64_t kPiece = RocksDbParamStore::kSparsePieceRows;
  for (size_t t = 0; s.ok() && t < sparse.size(); ++t) {
    const SparseRowsDelta& d = sparse[t];
    const uint64_t stride = tables[t].stride();
    for (uint64_t i = 0; s.ok() && i < d.removed.size(); i += kPiece) {
      const uint64_t n = std::min<uint64_t>(kPiece, d.removed.size() - i);
      RecordEncoder e(kSparseFormat, 32 + n * 8);
      header(e, t, PieceKind::kTombstones, n);
      e.Raw(d.removed.data() + i, n * 8);
      s = put(RocksDbParamStore::SparseKey(id, seq++), std::move(e).Finish());
    }
    // Rows i.. of `rows` (n of them) as one piece.
    auto put_rows = [&](const SparseRowsDelta& rows, uint64_t i, uint64_t n) {
      RecordEncoder e(kSparseFormat, 32 + n * (12 + stride * 4));
      header(e, t, PieceKind::kRows, n);
      e.Raw(rows.ids.data() + i, n * 8);
      e.Raw(rows.last_steps.data() + i, n * 4);
      e.Raw(rows.data.data() + i * stride, n * stride * sizeof(float));
      s = put(RocksDbParamStore::SparseKey(id, seq++), std::move(e).Finish());
    };
    for (uint64_t i = 0; s.ok() && i < d.ids.size(); i += kPiece)
      put_rows(d, i, std::min<uint64_t>(kPiece, d.ids.size() - i));
    if (s.ok() && d.live != nullptr) s = PutLiveRows(*d.live, kPiece, put_rows, &s);
    if (s.ok() && !d.sketch.empty()) {
      RecordEncoder e(kSparseFormat, 32 + d.sketch.size());
      header(e, t, PieceKind::kSketch, d.sketch.size());
      e.Raw(d.sketch.data(), d.sketch.size());
      s = put(RocksDbParamStore::SparseKey(id, seq++), std::move(e).Finish());
    }
  }
  return s;
}

// Calls put(key, value) for every block of checkpoint m.checkpoint_id, in
// the order `order` gives, reading each block from `blocks` once; with
// `validate`, checks each block and the tiling as ValidateCheckpoint does
// (REQUIRES then: order is 0, 1, 2...). A block is encoded inside the read
// and put after it, so a live source is released before the put.
Status PutBlocks(const CheckpointManifest& m, BlockSource& blocks, const std::vector<size_t>& order,
                 bool validate,
                 const std::function<rocksdb::Status(const std::string&, const std::string&)>& put,
                 rocksdb::Status* put_status) {
  uint64_t next = m.range.begin;
  for (size_t i : order) {
    std::string value;
    KeyRange keys;
    PST_RETURN_IF_ERROR(blocks.Read(i, [&](const BlockView& b) {
      if (validate) PST_RETURN_IF_ERROR(ValidateBlock(m, i, b, &next));
      keys = b.keys;
      value = EncodeBlock(m.checkpoint_id, b);
      return Status::OK();
    }));
    *put_status = put(RocksDbParamStore::BlockKey(m.checkpoint_id, keys.begin), value);
    if (!put_status->ok()) return Status::OK();
  }
  return validate ? ValidateCheckpointEnd(m, next) : Status::OK();
}

// Decodes one sparse piece of checkpoint `id` (whose tables `tables`
// describe) into *piece and its kind. kDataLoss for anything malformed.
Status DecodePiece(std::string_view value, uint64_t id,
                   const std::vector<SparseTableManifest>& tables, SparseChainPiece* piece,
                   PieceKind* kind) {
  PST_ASSIGN_OR_RETURN(std::string_view body, OpenFramed(value, kSparseFormat));
  RecordDecoder d(body);
  uint64_t ckpt = 0, n = 0;
  uint32_t table = 0, k = 0;
  if (!d.U64(&ckpt) || !d.U32(&table) || !d.U32(&k) || !d.U64(&n) || ckpt != id ||
      table >= tables.size() || k > 2) {
    return Status::DataLoss("malformed sparse piece header");
  }
  *kind = static_cast<PieceKind>(k);
  piece->checkpoint_id = id;
  piece->table = table;
  piece->rows = {};
  const uint64_t stride = tables[table].stride();
  const uint64_t per = *kind == PieceKind::kTombstones ? 8
                       : *kind == PieceKind::kRows     ? 12 + stride * 4
                                                       : 1;
  if (n > d.left() / per || n * per != d.left())
    return Status::DataLoss("sparse piece of " + std::to_string(n) + " entries has " +
                            std::to_string(d.left()) + " bytes");
  switch (*kind) {
    case PieceKind::kTombstones:
      piece->rows.removed.resize(n);
      (void)d.Raw(piece->rows.removed.data(), n * 8);
      break;
    case PieceKind::kRows:
      piece->rows.ids.resize(n);
      piece->rows.last_steps.resize(n);
      piece->rows.data.resize(n * stride);
      (void)d.Raw(piece->rows.ids.data(), n * 8);
      (void)d.Raw(piece->rows.last_steps.data(), n * 4);
      (void)d.Raw(piece->rows.data.data(), n * stride * sizeof(float));
      break;
    case PieceKind::kSketch:
      piece->rows.sketch.resize(n);
      (void)d.Raw(piece->rows.sketch.data(), n);
      break;
  }
  return Status::OK();
}

std::string EncodeCommit(uint64_t checkpoint_id) {
  RecordEncoder e(kCommitFormat);
  e.U64(checkpoint_id);
  return std::move(e).Finish();
}

StatusOr<uint64_t> DecodeCommit(std::string_view value) {
  PST_ASSIGN_OR_RETURN(std::string_view body, OpenFramed(value, kCommitFormat));
  RecordDecoder d(body);
  uint64_t id;
  if (!d.U64(&id) || d.left() != 0) return Status::DataLoss("malformed commit marker");
  return id;
}

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// Adds the deletion of every key of checkpoint `id` to `batch`.
void AddDeletes(rocksdb::WriteBatch* batch, uint64_t id, std::string* error) {
  rocksdb::Status s = batch->Delete(RocksDbParamStore::CommittedKey(id));
  if (s.ok()) s = batch->Delete(RocksDbParamStore::ManifestKey(id));
  if (s.ok()) s = batch->DeleteRange(BlockPrefix(id), PrefixEnd(BlockPrefix(id)));
  if (s.ok()) s = batch->DeleteRange(SparsePrefix(id), PrefixEnd(SparsePrefix(id)));
  if (!s.ok()) *error = s.ToString();
}

}  // namespace

std::string RocksDbParamStore::ManifestKey(uint64_t checkpoint_id) {
  return std::string(kManifestPrefix) + Hex16(checkpoint_id);
}
std::string RocksDbParamStore::BlockKey(uint64_t checkpoint_id, uint64_t first_key) {
  return BlockPrefix(checkpoint_id) + Hex16(first_key);
}
std::string RocksDbParamStore::CommittedKey(uint64_t checkpoint_id) {
  return std::string(kCommittedPrefix) + Hex16(checkpoint_id);
}
std::string RocksDbParamStore::SparseKey(uint64_t checkpoint_id, uint64_t seq) {
  return SparsePrefix(checkpoint_id) + Hex16(seq);
}

RocksDbParamStore::RocksDbParamStore(RocksDbParamStoreOptions options,
                                     std::unique_ptr<rocksdb::DB> db)
    : options_(std::move(options)), db_(std::move(db)) {}

RocksDbParamStore::~RocksDbParamStore() {
  if (db_) {
    // Every write was already synced (or sync_writes is off on purpose); a
    // failing close loses nothing that a caller was told is durable.
    rocksdb::Status s = db_->Close();
    (void)s;
  }
}

StatusOr<std::unique_ptr<RocksDbParamStore>> RocksDbParamStore::Open(
    const RocksDbParamStoreOptions& options) {
  // An empty database opened read-only reads as an empty store.
  PST_ASSIGN_OR_RETURN(StoreDb opened,
                       OpenStoreDb({options.path, options.read_only, options.create_if_missing,
                                    options.sync_writes, "param store", kFormatKey, kFormatValue,
                                    LockHeld}));
  return std::unique_ptr<RocksDbParamStore>(new RocksDbParamStore(options, std::move(opened.db)));
}

Status RocksDbParamStore::Exists(const std::string& key) {
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), key, &value);
  if (s.IsNotFound()) return Status::NotFound(key);
  return FromRocks(s, path(), "param store: read " + key, LockHeld);
}

Status RocksDbParamStore::CheckWritable(const char* what) const {
  if (!options_.read_only) return Status::OK();
  return Status::FailedPrecondition(std::string("param store: ") + what + ": " + path() +
                                    " was opened read-only");
}

Status RocksDbParamStore::WriteCheckpoint(const CheckpointManifest& m, BlockSource& blocks,
                                          const std::vector<SparseRowsDelta>& sparse) {
  PST_RETURN_IF_ERROR(CheckWritable("write checkpoint"));
  PST_RETURN_IF_ERROR(ValidateCheckpointStart(m, blocks.size()));
  PST_RETURN_IF_ERROR(ValidateSparseRows(m.sparse_tables, sparse, m.sparse_parent == 0)
                          .WithContext("checkpoint " + std::to_string(m.checkpoint_id)));
  return Write(m, blocks, sparse, /*validate=*/true);
}

Status RocksDbParamStore::TEST_WriteCheckpointUnchecked(const CheckpointManifest& m,
                                                        const std::vector<BlockState>& blocks,
                                                        const std::vector<SparseRowsDelta>& sparse) {
  PST_RETURN_IF_ERROR(CheckWritable("write checkpoint"));
  VectorBlockSource source(&blocks);
  return Write(m, source, sparse, /*validate=*/false);
}

Status RocksDbParamStore::Write(const CheckpointManifest& m, BlockSource& blocks,
                                const std::vector<SparseRowsDelta>& sparse, bool validate) {
  const uint64_t id = m.checkpoint_id;
  const std::string what = "param store: write checkpoint " + std::to_string(id);
  Status exists = Exists(ManifestKey(id));
  if (exists.ok()) {
    return Status::AlreadyExists("checkpoint " + std::to_string(id) + " already exists in " +
                                 path());
  }
  if (exists.code() != StatusCode::kNotFound) return exists;
  if (m.sparse_parent != 0) {
    Status parent = Exists(ManifestKey(m.sparse_parent));
    if (parent.code() == StatusCode::kNotFound) {
      return Status::FailedPrecondition("checkpoint " + std::to_string(id) + ": sparse parent " +
                                        std::to_string(m.sparse_parent) + " is not in " + path() +
                                        " (never written, or deleted)");
    }
    PST_RETURN_IF_ERROR(parent);
  }

  // Validated blocks tile the range in order; unchecked ones are put in key order.
  std::vector<size_t> order(blocks.size());
  std::iota(order.begin(), order.end(), size_t{0});
  if (!validate)
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return blocks.keys(a).begin < blocks.keys(b).begin;
    });
  rocksdb::WriteBatch batch;
  // Clear any stray keys of this id first (ops in a batch apply in order).
  std::string error;
  AddDeletes(&batch, id, &error);
  if (error.empty() && StateBytes(m, blocks, sparse) >= options_.ingest_min_bytes) {
    // Stray keys are deleted first, through the log, so the ingested file
    // (a later sequence number) supersedes them. Only when there are any: a
    // tombstone over the file's range would place it in level 0, where
    // compaction rewrites the whole checkpoint in the background.
    PST_ASSIGN_OR_RETURN(bool stray, HasBlocksOf(id));
    if (stray) {
      rocksdb::WriteOptions wo;
      wo.sync = options_.sync_writes;
      PST_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), path(), what, LockHeld));
    }
    return IngestCheckpoint(m, blocks, order, validate, sparse);
  }
  rocksdb::Status s = error.empty() ? batch.Put(ManifestKey(id), EncodeManifest(m))
                                    : rocksdb::Status::InvalidArgument(error);
  if (s.ok()) {
    PST_RETURN_IF_ERROR(PutBlocks(
        m, blocks, order, validate,
        [&batch](const std::string& k, const std::string& v) { return batch.Put(k, v); }, &s));
  }
  if (s.ok()) {
    s = PutSparsePieces(id, m.sparse_tables, sparse,
                        [&batch](const std::string& k, const std::string& v) {
                          return batch.Put(k, v);
                        });
  }
  if (!s.ok()) return FromRocks(s, path(), what, LockHeld);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return FromRocks(db_->Write(wo, &batch), path(), what, LockHeld);
}

StatusOr<bool> RocksDbParamStore::HasBlocksOf(uint64_t checkpoint_id) {
  for (const std::string& prefix : {BlockPrefix(checkpoint_id), SparsePrefix(checkpoint_id)}) {
    const std::string end = PrefixEnd(prefix);
    rocksdb::Slice upper(end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    it->Seek(prefix);
    const bool found = it->Valid();
    PST_RETURN_IF_ERROR(
        FromRocks(it->status(), path(), "param store: look for " + prefix, LockHeld));
    if (found) return true;
  }
  return false;
}

Status RocksDbParamStore::IngestCheckpoint(const CheckpointManifest& m, BlockSource& blocks,
                                           const std::vector<size_t>& order, bool validate,
                                           const std::vector<SparseRowsDelta>& sparse) {
  const uint64_t id = m.checkpoint_id;
  const std::string what = "param store: ingest checkpoint " + std::to_string(id);
  // An SST file takes keys in ascending order: the blocks by first key
  // (fixed-width hex sorts numerically), then the manifest, then the sparse
  // pieces by sequence number ("block/" < "manifest/" < "sparse/").
  const std::string file = path() + "/ingest-" + Hex16(id) + ".sst";
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), db_->GetOptions());
  rocksdb::Status s = writer.Open(file);
  // One block at a time: the shard's state is never copied whole.
  Status blocks_ok;
  if (s.ok()) {
    blocks_ok = PutBlocks(
        m, blocks, order, validate,
        [&writer](const std::string& k, const std::string& v) { return writer.Put(k, v); }, &s);
  }
  if (!blocks_ok.ok()) {
    std::error_code ec;
    std::filesystem::remove(file, ec);
    return blocks_ok;
  }
  if (s.ok()) s = writer.Put(ManifestKey(id), EncodeManifest(m));
  if (s.ok()) {
    s = PutSparsePieces(id, m.sparse_tables, sparse,
                        [&writer](const std::string& k, const std::string& v) {
                          return writer.Put(k, v);
                        });
  }
  if (s.ok()) s = writer.Finish();  // syncs the file
  if (s.ok()) {
    rocksdb::IngestExternalFileOptions io;
    io.move_files = true;  // a hard link: the bytes are written once
    s = db_->IngestExternalFile({file}, io);
  }
  std::error_code ec;
  std::filesystem::remove(file, ec);  // gone after a move; left only by a failure
  return FromRocks(s, path(), what, LockHeld);
}

Status RocksDbParamStore::CommitCheckpoint(uint64_t checkpoint_id) {
  PST_RETURN_IF_ERROR(CheckWritable("commit checkpoint"));
  Status exists = Exists(ManifestKey(checkpoint_id));
  if (exists.code() == StatusCode::kNotFound) {
    return Status::NotFound("cannot commit checkpoint " + std::to_string(checkpoint_id) + " in " +
                            path() + ": it was never written (or was deleted)");
  }
  PST_RETURN_IF_ERROR(exists);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return FromRocks(db_->Put(wo, CommittedKey(checkpoint_id), EncodeCommit(checkpoint_id)), path(),
                   "param store: commit checkpoint " + std::to_string(checkpoint_id), LockHeld);
}

Status RocksDbParamStore::DeleteCheckpoint(uint64_t checkpoint_id) {
  PST_RETURN_IF_ERROR(CheckWritable("delete checkpoint"));
  const std::string what = "param store: delete checkpoint " + std::to_string(checkpoint_id);
  rocksdb::WriteBatch batch;
  std::string error;
  AddDeletes(&batch, checkpoint_id, &error);
  if (!error.empty()) return Status::Internal(what + ": " + error);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return FromRocks(db_->Write(wo, &batch), path(), what, LockHeld);
}

StatusOr<std::vector<uint64_t>> RocksDbParamStore::ListIds(const std::string& prefix) {
  const std::string end = PrefixEnd(prefix);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  std::vector<uint64_t> ids;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    std::string_view key = View(it->key());
    uint64_t id;
    if (!key.starts_with(prefix) || !ParseHex16(key.substr(prefix.size()), &id)) {
      return Status::DataLoss("param store: malformed key '" + std::string(key) + "' in " + path());
    }
    ids.push_back(id);
  }
  PST_RETURN_IF_ERROR(FromRocks(it->status(), path(), "param store: list " + prefix, LockHeld));
  return ids;  // ascending: fixed-width hex sorts numerically
}

StatusOr<std::vector<uint64_t>> RocksDbParamStore::ListCommitted() {
  return ListIds(std::string(kCommittedPrefix));
}

StatusOr<std::vector<uint64_t>> RocksDbParamStore::ListUncommitted() {
  PST_ASSIGN_OR_RETURN(std::vector<uint64_t> written, ListIds(std::string(kManifestPrefix)));
  PST_ASSIGN_OR_RETURN(std::vector<uint64_t> committed, ListCommitted());
  std::vector<uint64_t> out;
  std::set_difference(written.begin(), written.end(), committed.begin(), committed.end(),
                      std::back_inserter(out));
  return out;
}

StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> RocksDbParamStore::ReadCheckpoint(
    uint64_t checkpoint_id) {
  return Read(checkpoint_id, /*require_commit=*/true);
}

StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>>
RocksDbParamStore::ReadWrittenCheckpoint(uint64_t checkpoint_id) {
  return Read(checkpoint_id, /*require_commit=*/false);
}

StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> RocksDbParamStore::Read(
    uint64_t checkpoint_id, bool require_commit) {
  const std::string ctx = "param store " + path() + ": checkpoint " + std::to_string(checkpoint_id);
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;  // a restore reads everything once

  std::string value;
  rocksdb::Status s = db_->Get(ro, CommittedKey(checkpoint_id), &value);
  const bool committed = !s.IsNotFound();
  if (!committed && require_commit) {
    return Status::NotFound(ctx + " is not committed (or does not exist)");
  }
  if (committed) {
    PST_RETURN_IF_ERROR(FromRocks(s, path(), "param store: read commit marker", LockHeld));
    StatusOr<uint64_t> marked = DecodeCommit(value);
    if (!marked.ok()) return marked.status().WithContext(ctx + ": commit marker");
    if (*marked != checkpoint_id) {
      return Status::DataLoss(ctx + ": commit marker names checkpoint " + std::to_string(*marked));
    }
  }

  s = db_->Get(ro, ManifestKey(checkpoint_id), &value);
  if (s.IsNotFound() && !committed) {
    return Status::NotFound(ctx + " was never written here (or was deleted)");
  }
  if (s.IsNotFound()) return Status::DataLoss(ctx + " is committed but its manifest is missing");
  PST_RETURN_IF_ERROR(FromRocks(s, path(), "param store: read manifest", LockHeld));
  StatusOr<CheckpointManifest> manifest = DecodeManifest(value);
  if (!manifest.ok()) return manifest.status().WithContext(ctx + ": manifest");
  if (manifest->checkpoint_id != checkpoint_id) {
    return Status::DataLoss(ctx + ": manifest names checkpoint " +
                            std::to_string(manifest->checkpoint_id));
  }

  // The blocks in `threads` parts of the shard's key range, each read and
  // decoded (CRC, copy) by a thread of its own: a large checkpoint's restore
  // is bound by those, not by the disk.
  const std::string prefix = BlockPrefix(checkpoint_id);
  const KeyRange range = manifest->range;
  const size_t threads = manifest->num_blocks >= 16 && range.size() >= options_.read_threads
                             ? std::max<size_t>(1, options_.read_threads)
                             : 1;
  std::vector<std::string> bounds{prefix};
  for (size_t i = 1; i < threads; ++i)
    bounds.push_back(BlockKey(checkpoint_id, range.begin + range.size() / threads * i));
  bounds.push_back(PrefixEnd(prefix));
  std::vector<std::vector<BlockState>> parts(threads);
  std::vector<Status> status(threads);
  auto read_part = [&](size_t i) {
    status[i] = ReadBlocks(checkpoint_id, manifest->num_blocks, bounds[i], bounds[i + 1], ctx,
                           &parts[i]);
  };
  std::vector<std::thread> helpers;
  for (size_t i = 1; i < threads; ++i) helpers.emplace_back(read_part, i);
  read_part(0);
  for (std::thread& t : helpers) t.join();
  std::vector<BlockState> blocks;
  for (size_t i = 0; i < threads; ++i) {
    PST_RETURN_IF_ERROR(status[i]);
    if (blocks.size() + parts[i].size() > manifest->num_blocks)
      return Status::DataLoss(ctx + ": more blocks stored than the manifest's " +
                              std::to_string(manifest->num_blocks));
    if (blocks.empty()) {
      blocks = std::move(parts[i]);
    } else {
      std::move(parts[i].begin(), parts[i].end(), std::back_inserter(blocks));
    }
  }
  Status valid = ValidateCheckpoint(*manifest, blocks);
  if (!valid.ok())
    return Status::DataLoss("param store " + path() + ": inconsistent " + valid.message());
  return std::make_pair(std::move(manifest).value(), std::move(blocks));
}

Status RocksDbParamStore::ReadBlocks(uint64_t checkpoint_id, uint64_t max_blocks,
                                     const std::string& from, const std::string& to,
                                     const std::string& ctx, std::vector<BlockState>* out) {
  const std::string prefix = BlockPrefix(checkpoint_id);
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;  // a restore reads everything once
  rocksdb::Slice upper(to);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(from); it->Valid(); it->Next()) {
    std::string_view key = View(it->key());
    uint64_t first_key;
    if (!key.starts_with(prefix) || !ParseHex16(key.substr(prefix.size()), &first_key)) {
      return Status::DataLoss(ctx + ": malformed block key '" + std::string(key) + "'");
    }
    if (out->size() == max_blocks) {
      return Status::DataLoss(ctx + ": more blocks stored than the manifest's " +
                              std::to_string(max_blocks));
    }
    uint64_t block_ckpt = 0;
    StatusOr<BlockState> block = DecodeBlock(View(it->value()), &block_ckpt);
    if (!block.ok()) return block.status().WithContext(ctx + ": block " + std::string(key));
    if (block_ckpt != checkpoint_id || block->keys.begin != first_key) {
      return Status::DataLoss(ctx + ": block " + std::string(key) +
                              " holds data of another checkpoint or key");
    }
    out->push_back(std::move(block).value());
  }
  return FromRocks(it->status(), path(), "param store: read blocks", LockHeld);
}

Status RocksDbParamStore::Prune(size_t keep) {
  PST_RETURN_IF_ERROR(CheckWritable("prune"));
  if (keep == 0) return Status::InvalidArgument("Prune: keep must be at least 1");
  PST_ASSIGN_OR_RETURN(std::vector<uint64_t> committed, ListCommitted());
  if (committed.empty()) return Status::OK();
  PST_ASSIGN_OR_RETURN(std::vector<uint64_t> uncommitted, ListUncommitted());
  std::vector<uint64_t> candidates, kept;
  for (size_t i = 0; i < committed.size(); ++i)
    (i + keep < committed.size() ? candidates : kept).push_back(committed[i]);
  for (uint64_t id : uncommitted) (id < committed.back() ? candidates : kept).push_back(id);
  // A manifest that cannot be read names no parent; its own read reports it.
  auto parent_of = [this](uint64_t id) -> uint64_t {
    StatusOr<CheckpointManifest> m = ReadManifest(id);
    return m.ok() ? m->sparse_parent : 0;
  };
  const std::vector<uint64_t> drop = DroppableCheckpoints(candidates, kept, parent_of);
  if (drop.empty()) return Status::OK();

  rocksdb::WriteBatch batch;
  std::string error;
  for (uint64_t id : drop) AddDeletes(&batch, id, &error);
  if (!error.empty()) return Status::Internal("param store: prune: " + error);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return FromRocks(db_->Write(wo, &batch), path(), "param store: prune", LockHeld);
}

StatusOr<CheckpointManifest> RocksDbParamStore::ReadManifest(uint64_t checkpoint_id) {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::string value;
  rocksdb::Status s = db_->Get(ro, ManifestKey(checkpoint_id), &value);
  if (s.IsNotFound())
    return Status::NotFound("checkpoint " + std::to_string(checkpoint_id) + " is not in " + path());
  PST_RETURN_IF_ERROR(FromRocks(s, path(), "param store: read manifest", LockHeld));
  StatusOr<CheckpointManifest> m = DecodeManifest(value);
  if (!m.ok())
    return m.status().WithContext("param store " + path() + ": manifest of checkpoint " +
                                  std::to_string(checkpoint_id));
  if (m->checkpoint_id != checkpoint_id)
    return Status::DataLoss("param store " + path() + ": manifest of checkpoint " +
                            std::to_string(checkpoint_id) + " names checkpoint " +
                            std::to_string(m->checkpoint_id));
  return m;
}

Status RocksDbParamStore::ReadSparseChain(uint64_t checkpoint_id, bool require_commit,
                                          const SparseChainFn& fn) {
  const std::string ctx = "param store " + path() + ": checkpoint " + std::to_string(checkpoint_id);
  if (require_commit) {
    Status committed = Exists(CommittedKey(checkpoint_id));
    if (committed.code() == StatusCode::kNotFound)
      return Status::NotFound(ctx + " is not committed (or does not exist)");
    PST_RETURN_IF_ERROR(committed);
  }
  StatusOr<CheckpointManifest> target = ReadManifest(checkpoint_id);
  if (target.status().code() == StatusCode::kNotFound && require_commit)
    return Status::DataLoss(ctx + " is committed but its manifest is missing");
  PST_RETURN_IF_ERROR(target.status());
  PST_ASSIGN_OR_RETURN(std::vector<CheckpointManifest> chain,
                       ResolveSparseChain(*target, [this](uint64_t id) { return ReadManifest(id); }));
  std::vector<SparseChainPiece> sketches;  // the target's, handed over last
  for (const CheckpointManifest& link : chain) {
    const uint64_t id = link.checkpoint_id;
    const std::string where = ctx + ": sparse rows of checkpoint " + std::to_string(id);
    const std::string prefix = SparsePrefix(id);
    const std::string end = PrefixEnd(prefix);
    rocksdb::Slice upper(end);
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    ro.fill_cache = false;  // a restore reads everything once
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    std::vector<uint64_t> rows(link.sparse_tables.size()), removed(link.sparse_tables.size());
    uint64_t seq = 0;
    for (it->Seek(prefix); it->Valid(); it->Next(), ++seq) {
      if (View(it->key()) != SparseKey(id, seq))
        return Status::DataLoss(where + ": piece " + std::to_string(seq) + " is missing");
      SparseChainPiece piece;
      PieceKind kind = PieceKind::kRows;
      Status s = DecodePiece(View(it->value()), id, link.sparse_tables, &piece, &kind);
      if (!s.ok()) return s.WithContext(where + ": piece " + std::to_string(seq));
      rows[piece.table] += piece.rows.ids.size();
      removed[piece.table] += piece.rows.removed.size();
      if (kind == PieceKind::kSketch) {
        if (id == checkpoint_id) sketches.push_back(std::move(piece));
        continue;
      }
      PST_RETURN_IF_ERROR(fn(piece));
    }
    PST_RETURN_IF_ERROR(FromRocks(it->status(), path(), "param store: read sparse rows", LockHeld));
    for (size_t t = 0; t < link.sparse_tables.size(); ++t) {
      const SparseTableManifest& tm = link.sparse_tables[t];
      if (rows[t] != tm.changed || removed[t] != tm.removed)
        return Status::DataLoss(where + ": table \"" + tm.name + "\" has " +
                                std::to_string(rows[t]) + " rows and " +
                                std::to_string(removed[t]) + " tombstones stored, the manifest says " +
                                std::to_string(tm.changed) + " and " + std::to_string(tm.removed));
    }
  }
  for (const SparseChainPiece& piece : sketches) PST_RETURN_IF_ERROR(fn(piece));
  return Status::OK();
}

}  // namespace pst
