#include "common/file_shards.h"

#include <string>

#include <catch2/catch.hpp>

#include "tests/testing/temp_dir.h"
#include "tests/testing/text_file.h"

namespace pst {
namespace {

TEST_CASE("PlanFileShards: equal ranges covering each file, empty files skipped", "[common]") {
  testing::TempDir dir;
  const std::string a = testing::WriteTextFile(dir, "a.svm", std::string(10, 'x'));
  const std::string empty = testing::WriteTextFile(dir, "empty.svm", "");
  const std::string b = testing::WriteTextFile(dir, "b.svm", std::string(3, 'y'));
  auto shards = PlanFileShards({a, empty, b}, 4);
  REQUIRE(shards.ok());
  // 10 bytes in ceil(10 / 4) = 3 ranges: cuts at 10 * 1/3 and 10 * 2/3.
  CHECK(*shards == std::vector<FileRange>{{a, 0, 3}, {a, 3, 6}, {a, 6, 10}, {b, 0, 3}});
  shards = PlanFileShards({a}, 100);
  REQUIRE(shards.ok());
  CHECK(*shards == std::vector<FileRange>{{a, 0, 10}});
}

TEST_CASE("PlanFileShards: missing files, directories and a zero target", "[common]") {
  testing::TempDir dir;
  auto missing = PlanFileShards({dir.path() + "/nope.tsv"}, 10);
  REQUIRE(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message().find("nope.tsv' does not exist") != std::string::npos);
  CHECK(PlanFileShards({dir.path()}, 10).status().code() == StatusCode::kInvalidArgument);
  CHECK(PlanFileShards({}, 0).status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
