#include "datagen/synthetic_ctr.h"

#include <string>

#include <catch2/catch.hpp>

#include "tests/testing/temp_dir.h"
#include "tests/testing/text_file.h"
#include "worker/data/sparse_reader.h"

namespace pst {
namespace {

TEST_CASE("GenerateSyntheticCtr: Criteo-format files the reader accepts, seeded",
          "[datagen]") {
  testing::TempDir dir;
  SyntheticCtrOptions options;
  options.num_samples = 3000;
  options.test_fraction = 0.2;
  options.vocabulary = {100'000'000};
  auto stats = GenerateSyntheticCtr(options, dir.path() + "/train.tsv", dir.path() + "/test.tsv");
  REQUIRE(stats.ok());
  CHECK(stats->train_samples + stats->test_samples == 3000);
  CHECK(stats->test_samples > 450);
  CHECK(stats->test_samples < 750);
  const double ctr = static_cast<double>(stats->positives) / 3000;
  CHECK(ctr > 0.1);
  CHECK(ctr < 0.6);
  // The hidden model separates the classes but not perfectly.
  CHECK(stats->best_test_auc > 0.7);
  CHECK(stats->best_test_auc < 0.99);
  CHECK(stats->best_test_log_loss > 0.1);

  SparseReaderOptions reader_options;
  reader_options.format = DataFormat::kCriteoTsv;
  auto reader = SparseReader::Open({dir.path() + "/train.tsv"}, reader_options);
  REQUIRE(reader.ok());
  SparseBatch batch;
  uint64_t read = 0;
  while (true) {
    auto n = (*reader)->ReadBatch(512, &batch);
    REQUIRE(n.ok());
    if (*n == 0) break;
    read += *n;
  }
  CHECK(read == stats->train_samples);

  // Same seed: same bytes. Another seed: other data.
  testing::TempDir again;
  REQUIRE(GenerateSyntheticCtr(options, again.path() + "/train.tsv", again.path() + "/test.tsv").ok());
  CHECK(testing::ReadTextFile(dir.path() + "/train.tsv") == testing::ReadTextFile(again.path() + "/train.tsv"));
  options.seed = 2;
  REQUIRE(GenerateSyntheticCtr(options, again.path() + "/train.tsv", again.path() + "/test.tsv").ok());
  CHECK(testing::ReadTextFile(dir.path() + "/train.tsv") != testing::ReadTextFile(again.path() + "/train.tsv"));
}

TEST_CASE("GenerateSyntheticCtr: bad options and unwritable paths", "[datagen]") {
  SyntheticCtrOptions options;
  options.vocabulary = {10, 20};  // neither one nor 26 sizes
  CHECK(ValidateSyntheticCtrOptions(options).code() == StatusCode::kInvalidArgument);
  options.vocabulary = {0};
  CHECK(ValidateSyntheticCtrOptions(options).code() == StatusCode::kInvalidArgument);
  options.vocabulary = {10};
  options.num_samples = 10;
  auto s = GenerateSyntheticCtr(options, "/nonexistent-dir/train.tsv", "/nonexistent-dir/test.tsv");
  REQUIRE(s.status().code() == StatusCode::kUnavailable);
  CHECK(s.status().message().find("/nonexistent-dir/train.tsv") != std::string::npos);
}

}  // namespace
}  // namespace pst
