// Tests datagen/libsvm_split.h, datagen/movielens.h and datagen/spam_assassin.h.
#include <string>

#include <catch2/catch.hpp>

#include "datagen/libsvm_split.h"
#include "datagen/movielens.h"
#include "datagen/spam_assassin.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/text_file.h"
#include "worker/data/sparse_reader.h"

namespace pst {
namespace {

TEST_CASE("ReadMovieLensRatings: label rating >= 4, user/movie/genre ids", "[datagen]") {
  testing::TempDir dir;
  const std::string path = testing::WriteTextFile(dir, "ratings.tsv",
                                 "userId\tmovieId\trating\tgenres\n"
                                 "1\t31\t2.5\tDrama\n"
                                 "7\t1029\t4\tAnimation|Children|Drama\n");
  auto samples = ReadMovieLensRatings(path);
  REQUIRE(samples.ok());
  REQUIRE(samples->size() == 2);
  CHECK((*samples)[0].label == 0);
  CHECK((*samples)[1].label == 1);
  REQUIRE((*samples)[1].features.size() == 5);
  CHECK((*samples)[1].features[0].first == 1'000'007);
  CHECK((*samples)[1].features[1].first == 2'001'029);
  // The same genre gets the same id in both ratings.
  CHECK((*samples)[0].features[2].first == (*samples)[1].features[4].first);

  auto bad = ReadMovieLensRatings(
      testing::WriteTextFile(dir, "bad.tsv", "userId\tmovieId\trating\tgenres\n1\t2\t3\tX\n1\tx\t3\tX\n"));
  REQUIRE(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("bad.tsv', line 3:") != std::string::npos);
  CHECK(ReadMovieLensRatings(dir.path() + "/none.tsv").status().code() == StatusCode::kNotFound);
}

TEST_CASE("ReadSpamAssassin: hashed distinct tokens with unit norm, spam groups are 1",
          "[datagen]") {
  testing::TempDir dir;
  const std::string path = testing::WriteTextFile(
      dir, "emails.jsonl",
      "{\"group\":\"spam-1\",\"text\":\"FREE money, free MONEY now!\\nx\"}\n"
      "{\"group\":\"easy-ham-1\",\"text\":\"meeting at 10\"}\n");
  auto samples = ReadSpamAssassin(path, 20);
  REQUIRE(samples.ok());
  REQUIRE(samples->size() == 2);
  CHECK((*samples)[0].label == 1);
  CHECK((*samples)[1].label == 0);
  // "free", "money", "now" (case folded, "x" too short).
  REQUIRE((*samples)[0].features.size() == 3);
  for (const auto& [id, value] : (*samples)[0].features) {
    CHECK(id < (1u << 20));
    CHECK(value == Approx(1.0 / std::sqrt(3.0)));
  }
  CHECK(HashedTokens("Free FREE free", 20) == HashedTokens("free", 20));
  auto bad = ReadSpamAssassin(testing::WriteTextFile(dir, "bad.jsonl", "{\"group\":\"spam-1\"}\n"), 20);
  REQUIRE(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("bad.jsonl', line 1:") != std::string::npos);
}

TEST_CASE("WriteShuffledSplit: seeded, complete, and readable as libsvm", "[datagen]") {
  testing::TempDir dir;
  std::vector<LabelledSample> samples;
  for (int i = 0; i < 100; ++i) samples.push_back({i % 3 == 0, {{uint64_t(i) + 1, 0.5f}, {0, 1.0f}}});
  const std::string train = dir.path() + "/train.svm", test = dir.path() + "/test.svm";
  auto counts = WriteShuffledSplit(samples, 0.2, 7, train, test);
  REQUIRE(counts.ok());
  CHECK(counts->train == 80);
  CHECK(counts->test == 20);
  CHECK(counts->train_positives + counts->test_positives == 34);
  const std::string first = testing::ReadTextFile(train);
  REQUIRE(WriteShuffledSplit(samples, 0.2, 7, train, test).ok());
  CHECK(testing::ReadTextFile(train) == first);
  REQUIRE(WriteShuffledSplit(samples, 0.2, 8, train, test).ok());
  CHECK(testing::ReadTextFile(train) != first);

  // Every id of the 100 samples appears once across the files, ids sorted.
  std::vector<int> seen(101);
  for (const std::string& path : {train, test}) {
    auto reader = SparseReader::Open({path}, {});
    REQUIRE(reader.ok());
    SparseBatch batch;
    while (*(*reader)->ReadBatch(16, &batch) > 0) {
      for (size_t i = 0; i < batch.size(); ++i) {
        REQUIRE(batch.cell_end(i, 0) - batch.cell_begin(i, 0) == 2);
        CHECK(batch.ids[batch.cell_begin(i, 0)] == 0);
        const uint64_t id = batch.ids[batch.cell_begin(i, 0) + 1];
        CHECK(batch.labels[i] == ((id - 1) % 3 == 0 ? 1.0f : 0.0f));
        ++seen[id - 1];
      }
    }
  }
  for (int i = 0; i < 100; ++i) CHECK(seen[i] == 1);
}

}  // namespace
}  // namespace pst
