#include "worker/data/line_formats.h"

#include <string>

#include <catch2/catch.hpp>

#include "worker/data/feature_hash.h"

namespace pst {
namespace {

std::string Join40(const std::string& label, const std::string& ints_value,
                   const std::string& cat_prefix) {
  std::string line = label;
  for (int i = 0; i < 13; ++i) line += "\t" + ints_value;
  for (int i = 0; i < 26; ++i) line += "\t" + cat_prefix + std::to_string(i);
  return line;
}

TEST_CASE("ParseLibsvmLine: labels, features, comments and qid", "[worker]") {
  SparseBatch batch;
  REQUIRE(ParseLibsvmLine("+1 3:0.5 18446744073709551615:2 # a comment 9:9", &batch).ok());
  REQUIRE(ParseLibsvmLine("-1\tqid:4 7:1e-3", &batch).ok());
  REQUIRE(ParseLibsvmLine("0", &batch).ok());
  REQUIRE(ParseLibsvmLine("1 5:1", &batch).ok());
  CHECK(batch.labels == std::vector<float>{1, 0, 0, 1});
  CHECK(batch.offsets == std::vector<uint32_t>{0, 2, 3, 3, 4});
  CHECK(batch.ids == std::vector<uint64_t>{3, 18446744073709551615ull, 7, 5});
  CHECK(batch.values == std::vector<float>{0.5f, 2.0f, 1e-3f, 1.0f});
}

TEST_CASE("ParseLibsvmLine: each malformed line says what is wrong and leaves the batch",
          "[worker]") {
  SparseBatch batch;
  REQUIRE(ParseLibsvmLine("1 1:1", &batch).ok());
  const SparseBatch before = batch;
  struct Case {
    const char* line;
    const char* message;
  };
  for (const Case& c : {Case{"2 1:1", "label '2' is not binary"},
                        Case{"yes 1:1", "label 'yes' is not binary"},
                        Case{"1 1:1 7", "feature '7' is not id:value"},
                        Case{"1 1:1 x:1", "feature 'x:1': id is not"},
                        Case{"1 1:1 -3:1", "feature '-3:1': id is not"},
                        Case{"1 1:1 4:", "feature '4:': value is not a finite number"},
                        Case{"1 1:1 4:nan", "value is not a finite number"},
                        Case{"1 1:1 4:0.5x", "value is not a finite number"}}) {
    INFO(c.line);
    const Status s = ParseLibsvmLine(c.line, &batch);
    REQUIRE(s.code() == StatusCode::kInvalidArgument);
    CHECK(s.message().find(c.message) != std::string::npos);
    CHECK(batch.labels == before.labels);
    CHECK(batch.offsets == before.offsets);
    CHECK(batch.ids == before.ids);
    CHECK(batch.values == before.values);
  }
}

TEST_CASE("ParseCriteoLine: log-transformed integers and per-field hashed categories",
          "[worker]") {
  SparseBatch batch;
  batch.num_fields = 26;
  batch.num_dense = 13;
  const CriteoFormat format;
  REQUIRE(ParseCriteoLine(Join40("1", "3", "c"), format, &batch).ok());
  // Missing and negative integers are 0; every category field "same" hashes
  // to a different id per field.
  REQUIRE(ParseCriteoLine(Join40("0", "", "") , format, &batch).ok());
  std::string neg = "0\t-2";
  for (int i = 1; i < 13; ++i) neg += "\t7";
  for (int i = 0; i < 26; ++i) neg += "\tsame";
  REQUIRE(ParseCriteoLine(neg, format, &batch).ok());
  REQUIRE(batch.size() == 3);
  CHECK(batch.labels == std::vector<float>{1, 0, 0});
  CHECK(batch.dense[0] == Approx(std::log(4.0)));
  CHECK(batch.dense[13] == 0.0f);
  CHECK(batch.dense[26] == 0.0f);
  CHECK(batch.dense[27] == Approx(std::log(8.0)));
  REQUIRE(batch.offsets.size() == 3 * 26 + 1);
  for (uint32_t f = 0; f < 26; ++f) {
    CHECK(batch.cell_end(0, f) - batch.cell_begin(0, f) == 1);
    CHECK(batch.ids[batch.cell_begin(0, f)] ==
          HashFeature(HashInts(0, f), "c" + std::to_string(f)));
  }
  CHECK(batch.ids[batch.cell_begin(2, 0)] != batch.ids[batch.cell_begin(2, 1)]);
  CriteoFormat other_seed;
  other_seed.hash_seed = 5;
  REQUIRE(ParseCriteoLine(neg, other_seed, &batch).ok());
  CHECK(batch.ids[batch.cell_begin(3, 0)] != batch.ids[batch.cell_begin(2, 0)]);
}

TEST_CASE("ParseCriteoLine: truncated and malformed lines", "[worker]") {
  SparseBatch batch;
  batch.num_fields = 26;
  batch.num_dense = 13;
  const CriteoFormat format;
  std::string full = Join40("1", "3", "c");
  Status s = ParseCriteoLine(full.substr(0, full.size() / 2), format, &batch);
  REQUIRE(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("expected 40 tab-separated fields") != std::string::npos);
  CHECK(s.message().find("truncated line?") != std::string::npos);
  s = ParseCriteoLine(full + "\textra", format, &batch);
  CHECK(s.message().find("found 41") != std::string::npos);
  s = ParseCriteoLine(Join40("1", "3.5", "c"), format, &batch);
  CHECK(s.message().find("field 2 (integer feature 1): '3.5' is not an integer") !=
        std::string::npos);
  s = ParseCriteoLine(Join40("-1", "3", "c"), format, &batch);
  CHECK(s.message().find("label '-1' is not 0 or 1") != std::string::npos);
  CHECK(batch.size() == 0);
  CHECK(batch.offsets.size() == 1);
  CHECK(batch.dense.empty());
}

}  // namespace
}  // namespace pst
