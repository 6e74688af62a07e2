// pst::OpenStoreDb: creation and the format marker, read-only opens, and the
// databases it refuses, on real RocksDB directories.
#include "common/rocksdb_open.h"

#include <catch2/catch.hpp>
#include <string>

#include "tests/testing/raw_rocksdb.h"
#include "tests/testing/temp_dir.h"

namespace pst {
namespace {

using testing::TempDir;

std::string Held(const std::string& path, const std::string& text) { return "held " + path + " " + text; }

StoreDbOptions Options(const std::string& path, std::string_view format_value = "test-store/1") {
  StoreDbOptions o;
  o.path = path;
  o.store_name = "test store";
  o.format_key = "meta/format";
  o.format_value = format_value;
  o.lock_held = &Held;
  return o;
}

TEST_CASE("OpenStoreDb: creates the database with its format marker and reopens it", "[common]") {
  TempDir dir;
  const std::string path = dir.path() + "/db";
  StoreDbOptions read_only = Options(path);
  read_only.read_only = true;
  auto missing = OpenStoreDb(read_only);
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message().rfind("test store: no database at", 0) == 0);
  {
    auto created = OpenStoreDb(Options(path));
    REQUIRE(created.ok());
    CHECK_FALSE(created->empty);
    std::string marker;
    REQUIRE(created->db->Get(rocksdb::ReadOptions(), "meta/format", &marker).ok());
    CHECK(marker == "test-store/1");
  }
  auto reopened = OpenStoreDb(read_only);
  REQUIRE(reopened.ok());
  CHECK_FALSE(reopened->empty);
  // A second writer while one is open reads as the lock message.
  auto writer = OpenStoreDb(Options(path));
  REQUIRE(writer.ok());
  auto second = OpenStoreDb(Options(path));
  CHECK(second.status().code() == StatusCode::kUnavailable);
  CHECK(second.status().message().rfind("held " + path, 0) == 0);
}

TEST_CASE("OpenStoreDb: refuses other formats and foreign databases, reports empty ones",
          "[common]") {
  TempDir dir;
  const std::string path = dir.path() + "/db";
  REQUIRE(OpenStoreDb(Options(path, "test-store/1")).ok());
  auto newer = OpenStoreDb(Options(path, "test-store/2"));
  CHECK(newer.status().code() == StatusCode::kFailedPrecondition);
  CHECK(newer.status().message().find("has format 'test-store/1'; this build reads 'test-store/2'") !=
        std::string::npos);

  const std::string foreign = dir.path() + "/foreign";
  testing::WithRawDb(foreign, [](rocksdb::DB* db) { testing::RawPut(db, "other", "data"); });
  auto refused = OpenStoreDb(Options(foreign));
  CHECK(refused.status().code() == StatusCode::kFailedPrecondition);
  CHECK(refused.status().message().find("is not a test store") != std::string::npos);

  const std::string empty = dir.path() + "/empty";
  testing::WithRawDb(empty, [](rocksdb::DB*) {});
  StoreDbOptions read_only = Options(empty);
  read_only.read_only = true;
  auto opened = OpenStoreDb(read_only);
  REQUIRE(opened.ok());
  CHECK(opened->empty);
  CHECK(OpenStoreDb(Options("")).status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
