// Opening the RocksDB database of one of pstrain's stores (ps/rocksdb_param_store.h,
// scheduler/job_store.h): the directory, the RocksDB options every store uses,
// and the format marker that keeps a store from opening another's database
// or another format version of its own.
//
// Thread-safe (no shared state); blocks on file I/O.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <rocksdb/db.h>

#include "common/rocksdb_records.h"
#include "common/status.h"

namespace pst {

struct StoreDbOptions {
  std::string path;               // the database directory
  bool read_only = false;
  bool create_if_missing = true;  // ignored when read_only
  bool sync_writes = true;        // for the format marker written on creation
  // "param store", "job store": starts every message.
  std::string_view store_name;
  // Key and value of the format marker, e.g. "meta/format" = "pstrain-job-store/1".
  std::string_view format_key;
  std::string_view format_value;
  LockHeldMessage lock_held = nullptr;  // REQUIRED
};

struct StoreDb {
  std::unique_ptr<rocksdb::DB> db;
  // Opened read-only and holding nothing at all (not even the marker).
  bool empty = false;
};

// Opens (creating it and its directory, and writing the marker, if allowed)
// the database at options.path. Errors start with the store name:
// kInvalidArgument for an empty path; kNotFound when there is no database and
// none may be created; kPermissionDenied or kUnavailable when the directory
// cannot be made; kFailedPrecondition for a database of something else or
// with another format value; FromRocks' statuses (a held lock reads as
// lock_held's message) for RocksDB errors.
StatusOr<StoreDb> OpenStoreDb(const StoreDbOptions& options);

}  // namespace pst
