#include "common/rocksdb_open.h"

#include <filesystem>
#include <system_error>

namespace pst {

StatusOr<StoreDb> OpenStoreDb(const StoreDbOptions& options) {
  const std::string& path = options.path;
  const std::string name(options.store_name);
  if (path.empty()) return Status::InvalidArgument(name + ": empty database path");
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool create = options.create_if_missing && !options.read_only;
  if (create) {
    fs::create_directories(path, ec);
    if (ec) {
      std::string msg = name + ": cannot create directory " + path + ": " + ec.message();
      if (ec == std::errc::permission_denied) return Status::PermissionDenied(std::move(msg));
      return Status::Unavailable(std::move(msg));
    }
  } else if (!fs::exists(fs::path(path) / "CURRENT", ec)) {
    return Status::NotFound(name + ": no database at " + path +
                            (options.read_only ? " (opening read-only)"
                                               : " (and create_if_missing is false)"));
  }

  rocksdb::Options ro;
  ro.create_if_missing = create;
  ro.paranoid_checks = true;
  ro.keep_log_file_num = 4;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = options.read_only ? rocksdb::DB::OpenForReadOnly(ro, path, &raw)
                                        : rocksdb::DB::Open(ro, path, &raw);
  StoreDb out;
  out.db.reset(raw);
  const std::string open_what = name + ": open";
  if (!s.ok()) return FromRocks(s, path, open_what, options.lock_held);

  // Refuse a database that is not ours, or of another format version.
  std::string format;
  s = out.db->Get(rocksdb::ReadOptions(), rocksdb::Slice(options.format_key.data(),
                                                         options.format_key.size()),
                  &format);
  if (s.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> it(out.db->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (it->Valid())
      return Status::FailedPrecondition(name + ": " + path + " holds a RocksDB database that is not a " +
                                        name);
    PST_RETURN_IF_ERROR(FromRocks(it->status(), path, open_what, options.lock_held));
    if (options.read_only) {
      out.empty = true;
      return out;
    }
    rocksdb::WriteOptions wo;
    wo.sync = options.sync_writes;
    PST_RETURN_IF_ERROR(
        FromRocks(out.db->Put(wo, rocksdb::Slice(options.format_key.data(), options.format_key.size()),
                              rocksdb::Slice(options.format_value.data(), options.format_value.size())),
                  path, name + ": write format", options.lock_held));
  } else if (!s.ok()) {
    return FromRocks(s, path, open_what, options.lock_held);
  } else if (format != options.format_value) {
    return Status::FailedPrecondition(name + ": " + path + " has format '" + format +
                                      "'; this build reads '" + std::string(options.format_value) +
                                      "'");
  }
  return out;
}

}  // namespace pst
