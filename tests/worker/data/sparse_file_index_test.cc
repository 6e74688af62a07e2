#include "worker/data/sparse_file_index.h"

#include <string>

#include <catch2/catch.hpp>

#include "tests/testing/temp_dir.h"
#include "tests/testing/text_file.h"

namespace pst {
namespace {

// Record i has the single feature id i (label i % 2); blank lines in between
// are no records.
std::string Records(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    text += std::to_string(i % 2) + " " + std::to_string(i) + ":1\n";
    if (i % 4 == 1) text += "\n";
  }
  return text;
}

TEST_CASE("SparseFileIndex: counts records and opens a reader at any of them", "[worker]") {
  testing::TempDir dir;
  const std::string path = testing::WriteTextFile(dir, "d.svm", Records(10));
  for (uint64_t stride : {1, 3, 4, 10, 64}) {
    auto index = SparseFileIndex::Build(path, {}, stride);
    REQUIRE(index.ok());
    CHECK(index->records() == 10);
    for (uint64_t begin = 0; begin < 10; ++begin) {
      INFO("stride " << stride << " begin " << begin);
      auto reader = index->OpenAt(begin);
      REQUIRE(reader.ok());
      SparseBatch batch;
      auto n = (*reader)->ReadBatch(100, &batch);
      REQUIRE(n.ok());
      REQUIRE(*n == 10 - begin);
      for (size_t i = 0; i < *n; ++i) CHECK(batch.ids[i] == begin + i);
    }
    CHECK(index->OpenAt(10).status().code() == StatusCode::kOutOfRange);
  }
}

TEST_CASE("SparseFileIndex: an empty or malformed file is an error naming it", "[worker]") {
  testing::TempDir dir;
  auto empty = SparseFileIndex::Build(testing::WriteTextFile(dir, "e.svm", "\n\n"), {}, 4);
  CHECK(empty.status().code() == StatusCode::kInvalidArgument);
  CHECK(empty.status().message().find("e.svm' holds no records") != std::string::npos);
  auto bad = SparseFileIndex::Build(testing::WriteTextFile(dir, "b.svm", "1 1:1\n1 x\n"), {}, 4);
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("line 2") != std::string::npos);
  SparseReaderOptions skip;
  skip.skip_bad_lines = true;
  auto skipped = SparseFileIndex::Build(testing::WriteTextFile(dir, "s.svm", "1 1:1\n1 x\n0 2:1\n"), skip, 4);
  REQUIRE(skipped.ok());
  CHECK(skipped->records() == 2);
}

}  // namespace
}  // namespace pst
