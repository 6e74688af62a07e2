#include "worker/data/sparse_reader.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/testing/temp_dir.h"
#include "tests/testing/text_file.h"
#include "worker/data/feature_hash.h"

namespace pst {
namespace {

std::string CriteoLine(int label, int i) {
  std::string line = std::to_string(label);
  for (int j = 0; j < 13; ++j) line += "\t" + std::to_string(i + j);
  for (int j = 0; j < 26; ++j) line += "\tv" + std::to_string(i * 31 + j);
  return line;
}

// Reads the whole range in batches of `batch_size`; returns the first ids of
// each sample's first cell (sample identities) and fails on any error.
std::vector<uint64_t> FirstIds(const FileRange& range, const SparseReaderOptions& options,
                               size_t batch_size) {
  auto reader = SparseReader::Open(range, options);
  REQUIRE(reader.ok());
  std::vector<uint64_t> ids;
  SparseBatch batch;
  while (true) {
    auto n = (*reader)->ReadBatch(batch_size, &batch);
    REQUIRE(n.ok());
    if (*n == 0) break;
    for (size_t i = 0; i < batch.size(); ++i) ids.push_back(batch.ids[batch.cell_begin(i, 0)]);
  }
  return ids;
}

TEST_CASE("SparseReader: libsvm in batches, blank lines skipped, shards resume", "[worker]") {
  testing::TempDir dir;
  std::string content;
  for (int i = 0; i < 20; ++i) content += std::to_string(i % 2) + " " + std::to_string(i) + ":1\n";
  content += "\n  \n";
  const std::string path = testing::WriteTextFile(dir, "a.svm", content);
  SparseReaderOptions options;
  std::vector<uint64_t> all = FirstIds({path}, options, 7);
  REQUIRE(all.size() == 20);
  for (uint64_t i = 0; i < 20; ++i) CHECK(all[i] == i);

  // Read 2 batches of 3, then resume from next_offset in a fresh reader (a
  // re-leased shard) with a shard end in the middle of the file.
  const uint64_t end = content.size() / 2;
  auto reader = SparseReader::Open({path, 0, end}, options);
  REQUIRE(reader.ok());
  SparseBatch batch;
  std::vector<uint64_t> ids;
  for (int b = 0; b < 2; ++b) {
    REQUIRE(*(*reader)->ReadBatch(3, &batch) == 3);
    for (size_t i = 0; i < batch.size(); ++i) ids.push_back(batch.ids[batch.offsets[i]]);
  }
  CHECK((*reader)->samples_read() == 6);
  for (uint64_t id : FirstIds({path, (*reader)->next_offset(), end}, options, 4)) ids.push_back(id);
  for (uint64_t id : FirstIds({path, end, FileRange::kToEnd}, options, 5)) ids.push_back(id);
  CHECK(ids == all);
}

TEST_CASE("SparseReader: a malformed line names the file, its line number and the fault",
          "[worker]") {
  testing::TempDir dir;
  std::string content;
  for (int i = 0; i < 10; ++i) content += "1 " + std::to_string(i) + ":1\n";
  content += "1 4:x\n";  // line 11
  content += "0 5:1\n";
  const std::string path = testing::WriteTextFile(dir, "bad.svm", content);
  // The shard starts mid-file: the line number still counts from the file's start.
  auto reader = SparseReader::Open({path, 30, FileRange::kToEnd}, {});
  REQUIRE(reader.ok());
  SparseBatch batch;
  StatusOr<size_t> n = 0;
  do {
    n = (*reader)->ReadBatch(2, &batch);
  } while (n.ok() && *n > 0);
  REQUIRE(n.status().code() == StatusCode::kInvalidArgument);
  CHECK(n.status().message() ==
        "data file '" + path + "', line 11: feature '4:x': value is not a finite number "
        "(truncated line?)");
}

TEST_CASE("SparseReader: a truncated last Criteo line is reported with its line number",
          "[worker]") {
  testing::TempDir dir;
  std::string content = CriteoLine(1, 0) + "\n" + CriteoLine(0, 1) + "\n";
  const std::string third = CriteoLine(1, 2);
  content += third.substr(0, third.size() - 40);  // cut off mid-record, no newline
  const std::string path = testing::WriteTextFile(dir, "day_0.tsv", content);
  SparseReaderOptions options;
  options.format = DataFormat::kCriteoTsv;
  auto reader = SparseReader::Open({path}, options);
  REQUIRE(reader.ok());
  SparseBatch batch;
  auto n = (*reader)->ReadBatch(100, &batch);
  REQUIRE(!n.ok());
  CHECK(n.status().message().find("day_0.tsv', line 3: expected 40 tab-separated fields") !=
        std::string::npos);
  CHECK(n.status().message().find("(truncated line?)") != std::string::npos);
}

TEST_CASE("SparseReader: skip_bad_lines counts, reports and skips malformed lines", "[worker]") {
  testing::TempDir dir;
  std::string content;
  for (int i = 0; i < 12; ++i) {
    content += CriteoLine(i % 2, i) + "\n";
    if (i % 4 == 3) content += "1\tnot\tenough\n";
  }
  content += CriteoLine(1, 99).substr(0, 30);
  const std::string path = testing::WriteTextFile(dir, "day_1.tsv", content);
  SparseReaderOptions options;
  options.format = DataFormat::kCriteoTsv;
  options.skip_bad_lines = true;
  auto reader = SparseReader::Open({path}, options);
  REQUIRE(reader.ok());
  SparseBatch batch;
  size_t samples = 0;
  std::vector<float> labels;
  while (true) {
    auto n = (*reader)->ReadBatch(5, &batch);
    REQUIRE(n.ok());
    if (*n == 0) break;
    samples += *n;
    CHECK(batch.num_fields == 26);
    CHECK(batch.num_dense == 13);
    CHECK(batch.dense.size() == *n * 13);
    labels.insert(labels.end(), batch.labels.begin(), batch.labels.end());
  }
  CHECK(samples == 12);
  CHECK((*reader)->samples_read() == 12);
  CHECK((*reader)->bad_lines() == 4);
  CHECK(labels[3] == 1.0f);
  // The last bad line is the truncated one at the end: line 12 + 3 bad + 1.
  CHECK((*reader)->last_bad_line().find("day_1.tsv', line 16: expected 40") != std::string::npos);
}

TEST_CASE("SparseReader: planned shards of several files read every sample exactly once",
          "[worker]") {
  testing::TempDir dir;
  std::vector<std::string> paths;
  std::vector<uint64_t> expected;
  for (int f = 0; f < 3; ++f) {
    std::string content;
    for (int i = 0; i < 50 + 20 * f; ++i) {
      const uint64_t id = 1000 * f + i;
      expected.push_back(id);
      content += CriteoLine(i % 2, static_cast<int>(id)) + "\n";
    }
    paths.push_back(testing::WriteTextFile(dir, "day_" + std::to_string(f) + ".tsv", content));
  }
  SparseReaderOptions options;
  options.format = DataFormat::kCriteoTsv;
  // The first categorical field of sample `id` is "v" + 31 * id: its hash
  // identifies the sample.
  std::vector<uint64_t> want;
  for (uint64_t id : expected) {
    want.push_back(HashFeature(HashInts(0, 0), "v" + std::to_string(id * 31)));
  }
  for (uint64_t target : {97u, 1000u, 4096u, 1u << 20}) {
    auto shards = PlanFileShards(paths, target);
    REQUIRE(shards.ok());
    std::vector<uint64_t> got;
    for (const FileRange& shard : *shards) {
      for (uint64_t id : FirstIds(shard, options, 7)) got.push_back(id);
    }
    INFO("target " << target << " bytes, " << shards->size() << " shards");
    CHECK(got == want);
  }
}

TEST_CASE("ParseDataFormat: accepted names and the error for others", "[worker]") {
  CHECK(*ParseDataFormat("libsvm") == DataFormat::kLibsvm);
  CHECK(*ParseDataFormat("criteo") == DataFormat::kCriteoTsv);
  auto bad = ParseDataFormat("csv");
  REQUIRE(!bad.ok());
  CHECK(bad.status().message() == "unknown data format 'csv' (allowed: libsvm|criteo)");
}

}  // namespace
}  // namespace pst
