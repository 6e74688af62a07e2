// pst::RocksDbParamStore: a ParamStore kept in one RocksDB database (one
// directory per PS shard). Not thread-safe (see ps/param_store.h); RocksDB's
// own file lock keeps a second process (or a second store in this process)
// from opening the same directory.
//
// Key layout (ids and keys as 16 lower-case hex digits, so that byte order is
// numeric order):
//   "meta/format"                  "pstrain-param-store/1" (refuses other formats)
//   "manifest/<id>"                encoded CheckpointManifest
//   "block/<id>/<first key>"       encoded BlockState
//   "committed/<id>"               commit marker (its presence is the commit)
//   "sparse/<id>/<seq>"            a piece of the sparse rows (tombstones, rows
//                                  or a sketch of one table), seq from 0
// A checkpoint's manifest, blocks and sparse pieces are written in one atomic
// WriteBatch (or one ingested file), so a manifest implies all its data; the
// commit marker is a separate write.
//
// Value encoding, little-endian (the code static_asserts a little-endian host),
// every value ending in the CRC-32 (zlib) of all bytes before it:
//   manifest: "PSTM" u32 format=2 | u64 id, clock, range.begin, range.end,
//             num_blocks | u32 len + fingerprint bytes | u32 slot count, then
//             per slot u32 len + name bytes | u64 sparse parent | u32 chain
//             length | u32 table count, then per table u32 len + name bytes,
//             u32 dim, u32 state floats, u64 version, rows, changed, removed,
//             admitted, evicted, unadmitted updates | u32 crc
//             (format 1, written before sparse tables, ends after the slots)
//   sparse:   "PSTS" u32 format=1 | u64 checkpoint id | u32 table index |
//             u32 kind (0 tombstones, 1 rows, 2 sketch) | u64 n | tombstones:
//             n u64 ids; rows: n u64 ids, n u32 last steps, n * (dim + state
//             floats) f32; sketch: n bytes | u32 crc. Rows and tombstones
//             are split into pieces of at most kSparsePieceRows.
//   block:    "PSTB" u32 format=1 | u64 checkpoint id, keys.begin, keys.end,
//             version, optimizer_steps | u32 slot count | u32 reserved=0 |
//             values then each slot (keys.size() f32 each) | u32 crc
//   commit:   "PSTC" u32 format=1 | u64 id | u32 crc
// A value that fails its CRC, its framing or the ids in its key reads as
// kDataLoss.
//
// Memory: below ingest_min_bytes, WriteCheckpoint builds one WriteBatch
// holding the whole encoded checkpoint (one extra copy of its state); above
// it, one encoded block at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "ps/param_store.h"

namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace pst {

struct RocksDbParamStoreOptions {
  // Directory of the database (one per shard). Required.
  std::string path;
  // Create the directory (with parents) and the database if missing; otherwise
  // Open returns kNotFound for a missing database. Default: true.
  bool create_if_missing = true;
  // fsync the write-ahead log on every checkpoint write, commit and delete, so
  // a returned OK survives a machine crash. false only for tests and
  // benchmarks (then OK survives a process crash only). Default: true.
  bool sync_writes = true;
  // Open with RocksDB's DB::OpenForReadOnly: takes no lock, so tools (e.g.
  // `pstrain export`) can read the checkpoints of a PS that is running, and
  // sees the database as of the open (open again to see later writes).
  // WriteCheckpoint, CommitCheckpoint, DeleteCheckpoint and Prune return
  // kFailedPrecondition. The database must exist (create_if_missing is
  // ignored). Default: false.
  bool read_only = false;
  // A checkpoint whose values and optimizer state exceed this many bytes is
  // written into one SST file in the database directory and ingested (moved
  // in), instead of going through the write-ahead log, the memtable and a
  // flush: one sequential write instead of three, no memtable copy of the
  // whole shard, and nothing to replay when the store is opened again. The
  // file is synced before it is ingested, so durability does not depend on
  // sync_writes. 0 = always. Default: 64 MiB.
  uint64_t ingest_min_bytes = 64ull << 20;
  // A checkpoint of 16 blocks or more is read by this many threads, each
  // reading and decoding (CRC, copy) a contiguous part of the shard's keys:
  // a large restore is bound by that work, not by the disk. Default: 2.
  size_t read_threads = 2;
};

class RocksDbParamStore final : public ParamStore {
 public:
  // Opens (or creates) the store at options.path. Errors: kInvalidArgument
  // (empty path), kNotFound (missing and !create_if_missing), kUnavailable
  // ("database at PATH is in use by another process (lock held)", or an I/O
  // error), kPermissionDenied (cannot create the directory), kFailedPrecondition
  // (the directory holds a RocksDB database that is not a param store, or one
  // of another format version), kDataLoss (RocksDB reports corruption).
  // Read-only (options.read_only): kNotFound if there is no database; a
  // database that holds no keys at all opens as an empty store.
  static StatusOr<std::unique_ptr<RocksDbParamStore>> Open(const RocksDbParamStoreOptions& options);

  // Closes the database (no further sync needed: every write was synced).
  ~RocksDbParamStore() override;
  RocksDbParamStore(const RocksDbParamStore&) = delete;
  RocksDbParamStore& operator=(const RocksDbParamStore&) = delete;

  // Sparse rows travel in pieces of at most this many rows.
  static constexpr uint64_t kSparsePieceRows = 8192;

  using ParamStore::WriteCheckpoint;
  Status WriteCheckpoint(const CheckpointManifest& m, BlockSource& blocks,
                         const std::vector<SparseRowsDelta>& sparse) override;
  Status ReadSparseChain(uint64_t checkpoint_id, bool require_commit,
                         const SparseChainFn& fn) override;
  Status CommitCheckpoint(uint64_t checkpoint_id) override;
  Status DeleteCheckpoint(uint64_t checkpoint_id) override;
  StatusOr<std::vector<uint64_t>> ListCommitted() override;
  StatusOr<std::vector<uint64_t>> ListUncommitted() override;
  StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> ReadCheckpoint(
      uint64_t checkpoint_id) override;
  StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> ReadWrittenCheckpoint(
      uint64_t checkpoint_id) override;
  Status Prune(size_t keep) override;

  const std::string& path() const { return options_.path; }
  bool read_only() const { return options_.read_only; }

  // The keys of the layout above (for tools and tests that open the database
  // directly).
  static std::string ManifestKey(uint64_t checkpoint_id);
  static std::string BlockKey(uint64_t checkpoint_id, uint64_t first_key);
  static std::string CommittedKey(uint64_t checkpoint_id);

  // Stores a checkpoint without validating it (kAlreadyExists still applies),
  // so tests can check that ReadCheckpoint reports inconsistent data.
  Status TEST_WriteCheckpointUnchecked(const CheckpointManifest& m,
                                       const std::vector<BlockState>& blocks,
                                       const std::vector<SparseRowsDelta>& sparse = {});
  static std::string SparseKey(uint64_t checkpoint_id, uint64_t seq);

 private:
  RocksDbParamStore(RocksDbParamStoreOptions options, std::unique_ptr<rocksdb::DB> db);
  // Ids parsed from the keys "<prefix><id>" (ascending); kDataLoss for a
  // malformed key.
  StatusOr<std::vector<uint64_t>> ListIds(const std::string& prefix);
  // OK if `key` exists, kNotFound if not, else the translated error.
  Status Exists(const std::string& key);
  // kFailedPrecondition naming `what` if the store was opened read-only.
  Status CheckWritable(const char* what) const;
  // Whether any block or sparse key of checkpoint_id is stored.
  StatusOr<bool> HasBlocksOf(uint64_t checkpoint_id);
  // The manifest of checkpoint_id: kNotFound if absent, kDataLoss if corrupt.
  StatusOr<CheckpointManifest> ReadManifest(uint64_t checkpoint_id);
  // WriteCheckpoint after the checks of its arguments (with `validate`, the
  // blocks are checked as they are read).
  Status Write(const CheckpointManifest& m, BlockSource& blocks,
               const std::vector<SparseRowsDelta>& sparse, bool validate);
  // Writes the manifest and blocks of checkpoint m.checkpoint_id into one SST
  // file and ingests it (see RocksDbParamStoreOptions::ingest_min_bytes);
  // blocks are read in `order` (ascending keys).
  // REQUIRES: no key of that checkpoint exists; block first keys are distinct.
  Status IngestCheckpoint(const CheckpointManifest& m, BlockSource& blocks,
                          const std::vector<size_t>& order, bool validate,
                          const std::vector<SparseRowsDelta>& sparse);
  // Reads and decodes the blocks of checkpoint_id whose keys lie in
  // [from, to) into *out, in key order; kDataLoss for a malformed or foreign
  // block, or more than max_blocks. Thread-safe (RocksDB iterators).
  Status ReadBlocks(uint64_t checkpoint_id, uint64_t max_blocks, const std::string& from,
                    const std::string& to, const std::string& ctx, std::vector<BlockState>* out);
  // ReadCheckpoint (require_commit) or ReadWrittenCheckpoint.
  StatusOr<std::pair<CheckpointManifest, std::vector<BlockState>>> Read(uint64_t checkpoint_id,
                                                                        bool require_commit);

  RocksDbParamStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace pst
