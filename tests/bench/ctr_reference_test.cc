#include "bench/ctr_reference.h"

#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "tests/testing/temp_dir.h"
#include "tests/testing/text_file.h"

namespace pst::bench {
namespace {

// Samples whose label is decided by which of ids 1..4 they hold (1 and 2 mean
// click), with a few noise ids and 10% flipped labels.
std::string SeparableLibsvm(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string text;
  for (int i = 0; i < n; ++i) {
    const int signal = 1 + static_cast<int>(rng() % 4);
    int label = signal <= 2 ? 1 : 0;
    if (rng() % 10 == 0) label = 1 - label;
    text += std::to_string(label) + " " + std::to_string(signal) + ":1 " +
            std::to_string(100 + rng() % 50) + ":1\n";
  }
  return text;
}

TEST_CASE("TrainCtrReference: LR, FM and embedding-MLP learn a separable signal", "[bench]") {
  testing::TempDir dir;
  CtrReferenceOptions options;
  options.train_path = testing::WriteTextFile(dir, "train.svm", SeparableLibsvm(2000, 1));
  options.test_path = testing::WriteTextFile(dir, "test.svm", SeparableLibsvm(500, 2));
  options.epochs = 3;
  for (const char* model : {"lr", "fm", "dlrm"}) {
    options.model.kind = model;
    options.model.embedding_dim = 4;
    options.model.hidden = {8};
    int calls = 0;
    auto results = TrainCtrReference(options, [&](const CtrEpochResult&) { ++calls; });
    REQUIRE(results.ok());
    REQUIRE(results->size() == 3);
    CHECK(calls == 3);
    INFO(model);
    // The best possible AUC here is about 0.9 (10% label noise).
    CHECK(results->back().test_auc > 0.85);
    CHECK(results->back().train_log_loss < results->front().train_log_loss);
    CHECK(results->back().rows == 54);  // 4 signal ids + 50 noise ids, one sparse table
  }
  options.model.kind = "dnn";
  CHECK(TrainCtrReference(options).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("TrainCtrReference: a malformed line stops it, or is counted with skip_bad_lines",
          "[bench]") {
  testing::TempDir dir;
  CtrReferenceOptions options;
  options.train_path = testing::WriteTextFile(dir, "train.svm", "1 1:1\n0 2:1\n1 1:x\n");
  options.test_path = options.train_path;
  auto results = TrainCtrReference(options);
  REQUIRE(results.status().code() == StatusCode::kInvalidArgument);
  CHECK(results.status().message().find("train.svm', line 3:") != std::string::npos);
  // With skip_bad_lines the line is counted in both passes (train and test).
  options.reader.skip_bad_lines = true;
  options.epochs = 1;
  results = TrainCtrReference(options);
  REQUIRE(results.ok());
  CHECK(results->back().bad_lines == 2);
  CHECK(results->back().last_bad_line.find("train.svm', line 3:") != std::string::npos);
}

}  // namespace
}  // namespace pst::bench
