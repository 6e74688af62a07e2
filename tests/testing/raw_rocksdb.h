// Test helper: reach past a store to the RocksDB database under it, to plant
// corrupt or foreign values.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <catch2/catch.hpp>

namespace pst::testing {

// Runs `fn` on the database at `path` opened directly, creating it if missing.
// REQUIRES: no store has the database open. Fails the current test on any
// RocksDB error.
inline void WithRawDb(const std::string& path, const std::function<void(rocksdb::DB*)>& fn) {
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, path, &raw);
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  fn(db.get());
  REQUIRE(db->Close().ok());
}

inline std::string RawGet(rocksdb::DB* db, const std::string& key) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &value);
  INFO(key << ": " << s.ToString());
  REQUIRE(s.ok());
  return value;
}

inline void RawPut(rocksdb::DB* db, const std::string& key, const std::string& value) {
  REQUIRE(db->Put(rocksdb::WriteOptions(), key, value).ok());
}

}  // namespace pst::testing
