#include "ps/rocksdb_param_store.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/status.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <iterator>
#include <string_view>
#include <utility>

#include "common/rocksdb_open.h"
#include "common/rocksdb_records.h"

namespace pst {
namespace {

constexpr std::string_view kFormatKey = "meta/format";
constexpr std::string_view kFormatValue = "pstrain-param-store/1";
constexpr std::string_view kManifestPrefix = "manifest/";
constexpr std::string_view kBlockPrefix = "block/";
constexpr std::string_view kCommittedPrefix = "committed/";
constexpr uint32_t kFormatVersion = 1;
constexpr RecordFormat kManifestFormat = {{'P', 'S', 'T', 'M'}, kFormatVersion};
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
  return std::move(e).Finish();
}

StatusOr<CheckpointManifest> DecodeManifest(std::string_view value) {
  PST_ASSIGN_OR_RETURN(std::string_view body, OpenFramed(value, kManifestFormat));
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
  if (d.left() != 0) return Status::DataLoss("trailing bytes in manifest");
  return m;
}

std::string EncodeBlock(uint64_t checkpoint_id, const BlockState& b) {
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
  for (const std::vector<float>& slot : b.slots) e.Floats(slot);
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

// Bytes of values and optimizer state in a checkpoint's blocks.
uint64_t StateBytes(const std::vector<BlockState>& blocks) {
  uint64_t floats = 0;
  for (const BlockState& b : blocks) {
    floats += b.values.size();
    for (const std::vector<float>& slot : b.slots) floats += slot.size();
  }
  return floats * sizeof(float);
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

Status RocksDbParamStore::WriteCheckpoint(const CheckpointManifest& m,
                                          const std::vector<BlockState>& blocks) {
  PST_RETURN_IF_ERROR(CheckWritable("write checkpoint"));
  PST_RETURN_IF_ERROR(ValidateCheckpoint(m, blocks));
  return TEST_WriteCheckpointUnchecked(m, blocks);
}

Status RocksDbParamStore::TEST_WriteCheckpointUnchecked(const CheckpointManifest& m,
                                                        const std::vector<BlockState>& blocks) {
  PST_RETURN_IF_ERROR(CheckWritable("write checkpoint"));
  const uint64_t id = m.checkpoint_id;
  const std::string what = "param store: write checkpoint " + std::to_string(id);
  Status exists = Exists(ManifestKey(id));
  if (exists.ok()) {
    return Status::AlreadyExists("checkpoint " + std::to_string(id) + " already exists in " +
                                 path());
  }
  if (exists.code() != StatusCode::kNotFound) return exists;

  rocksdb::WriteBatch batch;
  // Clear any stray keys of this id first (ops in a batch apply in order).
  std::string error;
  AddDeletes(&batch, id, &error);
  if (error.empty() && StateBytes(blocks) >= options_.ingest_min_bytes) {
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
    return IngestCheckpoint(m, blocks);
  }
  rocksdb::Status s = error.empty() ? batch.Put(ManifestKey(id), EncodeManifest(m))
                                    : rocksdb::Status::InvalidArgument(error);
  for (size_t i = 0; s.ok() && i < blocks.size(); ++i) {
    s = batch.Put(BlockKey(id, blocks[i].keys.begin), EncodeBlock(id, blocks[i]));
  }
  if (!s.ok()) return FromRocks(s, path(), what, LockHeld);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return FromRocks(db_->Write(wo, &batch), path(), what, LockHeld);
}

StatusOr<bool> RocksDbParamStore::HasBlocksOf(uint64_t checkpoint_id) {
  const std::string prefix = BlockPrefix(checkpoint_id);
  const std::string end = PrefixEnd(prefix);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  it->Seek(prefix);
  const bool found = it->Valid();
  PST_RETURN_IF_ERROR(FromRocks(it->status(), path(), "param store: look for " + prefix, LockHeld));
  return found;
}

Status RocksDbParamStore::IngestCheckpoint(const CheckpointManifest& m,
                                           const std::vector<BlockState>& blocks) {
  const uint64_t id = m.checkpoint_id;
  const std::string what = "param store: ingest checkpoint " + std::to_string(id);
  // An SST file takes keys in ascending order: the blocks by first key
  // (fixed-width hex sorts numerically), then the manifest ("block/" < "manifest/").
  std::vector<size_t> order(blocks.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return blocks[a].keys.begin < blocks[b].keys.begin; });
  const std::string file = path() + "/ingest-" + Hex16(id) + ".sst";
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), db_->GetOptions());
  rocksdb::Status s = writer.Open(file);
  // Encode one block at a time: the shard's state is never copied whole.
  for (size_t i = 0; s.ok() && i < order.size(); ++i) {
    const BlockState& b = blocks[order[i]];
    s = writer.Put(BlockKey(id, b.keys.begin), EncodeBlock(id, b));
  }
  if (s.ok()) s = writer.Put(ManifestKey(id), EncodeManifest(m));
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

  const std::string prefix = BlockPrefix(checkpoint_id);
  const std::string end = PrefixEnd(prefix);
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  std::vector<BlockState> blocks;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    std::string_view key = View(it->key());
    uint64_t first_key;
    if (!key.starts_with(prefix) || !ParseHex16(key.substr(prefix.size()), &first_key)) {
      return Status::DataLoss(ctx + ": malformed block key '" + std::string(key) + "'");
    }
    if (blocks.size() == manifest->num_blocks) {
      return Status::DataLoss(ctx + ": more blocks stored than the manifest's " +
                              std::to_string(manifest->num_blocks));
    }
    uint64_t block_ckpt = 0;
    StatusOr<BlockState> block = DecodeBlock(View(it->value()), &block_ckpt);
    if (!block.ok()) return block.status().WithContext(ctx + ": block " + std::string(key));
    if (block_ckpt != checkpoint_id || block->keys.begin != first_key) {
      return Status::DataLoss(ctx + ": block " + std::string(key) +
                              " holds data of another checkpoint or key");
    }
    blocks.push_back(std::move(block).value());
  }
  PST_RETURN_IF_ERROR(FromRocks(it->status(), path(), "param store: read blocks", LockHeld));
  Status valid = ValidateCheckpoint(*manifest, blocks);
  if (!valid.ok())
    return Status::DataLoss("param store " + path() + ": inconsistent " + valid.message());
  return std::make_pair(std::move(manifest).value(), std::move(blocks));
}

Status RocksDbParamStore::Prune(size_t keep) {
  PST_RETURN_IF_ERROR(CheckWritable("prune"));
  if (keep == 0) return Status::InvalidArgument("Prune: keep must be at least 1");
  PST_ASSIGN_OR_RETURN(std::vector<uint64_t> committed, ListCommitted());
  if (committed.empty()) return Status::OK();
  PST_ASSIGN_OR_RETURN(std::vector<uint64_t> uncommitted, ListUncommitted());
  std::vector<uint64_t> drop;
  if (committed.size() > keep) drop.assign(committed.begin(), committed.end() - keep);
  for (uint64_t id : uncommitted)
    if (id < committed.back()) drop.push_back(id);
  if (drop.empty()) return Status::OK();

  rocksdb::WriteBatch batch;
  std::string error;
  for (uint64_t id : drop) AddDeletes(&batch, id, &error);
  if (!error.empty()) return Status::Internal("param store: prune: " + error);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  return FromRocks(db_->Write(wo, &batch), path(), "param store: prune", LockHeld);
}

}  // namespace pst
