#include "worker/data/range_line_reader.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/testing/temp_dir.h"
#include "tests/testing/text_file.h"

namespace pst {
namespace {

// Every line of the range, read with the given buffer size.
std::vector<std::string> ReadAll(const FileRange& range, size_t buffer_bytes = 1 << 20) {
  RangeLineReaderOptions options;
  options.buffer_bytes = buffer_bytes;
  auto reader = RangeLineReader::Open(range, options);
  REQUIRE(reader.ok());
  std::vector<std::string> lines;
  std::string_view line;
  while (true) {
    auto more = (*reader)->Next(&line);
    REQUIRE(more.ok());
    if (!*more) break;
    lines.emplace_back(line);
  }
  return lines;
}

const std::string kContent = "first\nsecond line\n\nfourth\r\nfifth no newline";
const std::vector<std::string> kLines = {"first", "second line", "", "fourth", "fifth no newline"};

TEST_CASE("RangeLineReader: whole file, CRLF and a last line without newline", "[worker]") {
  testing::TempDir dir;
  const std::string path = testing::WriteTextFile(dir, "a.txt", kContent);
  CHECK(ReadAll({path}) == kLines);
  CHECK(ReadAll({path}, 3) == kLines);  // lines longer than the read size
  CHECK(ReadAll({testing::WriteTextFile(dir, "empty.txt", "")}).empty());
}

TEST_CASE("RangeLineReader: any two or three cut points read every line exactly once",
          "[worker]") {
  testing::TempDir dir;
  const std::string path = testing::WriteTextFile(dir, "a.txt", kContent);
  const uint64_t size = kContent.size();
  for (uint64_t cut = 0; cut <= size; ++cut) {
    for (uint64_t cut2 = cut; cut2 <= size; cut2 += 3) {
      std::vector<std::string> lines = ReadAll({path, 0, cut}, 4);
      for (const auto& l : ReadAll({path, cut, cut2}, 4)) lines.push_back(l);
      for (const auto& l : ReadAll({path, cut2, FileRange::kToEnd}, 4)) lines.push_back(l);
      INFO("cuts at " << cut << " and " << cut2);
      REQUIRE(lines == kLines);
    }
  }
}

TEST_CASE("RangeLineReader: a range starting exactly at a line start owns that line",
          "[worker]") {
  testing::TempDir dir;
  const std::string path = testing::WriteTextFile(dir, "a.txt", kContent);
  // "second line" starts at byte 6.
  CHECK(ReadAll({path, 6, 7}) == std::vector<std::string>{"second line"});
  CHECK(ReadAll({path, 7, 19}) == std::vector<std::string>{""});
  CHECK(ReadAll({path, 7, 18}).empty());
}

TEST_CASE("RangeLineReader: reopening at next_offset resumes at the next line", "[worker]") {
  testing::TempDir dir;
  const std::string path = testing::WriteTextFile(dir, "a.txt", kContent);
  for (size_t taken = 0; taken <= kLines.size(); ++taken) {
    auto reader = RangeLineReader::Open({path});
    REQUIRE(reader.ok());
    std::vector<std::string> lines;
    std::string_view line;
    uint64_t offset = 0;
    for (size_t i = 0; i < taken; ++i) {
      auto more = (*reader)->Next(&line, &offset);
      REQUIRE(more.ok());
      REQUIRE(*more);
      lines.emplace_back(line);
      CHECK(kContent.compare(offset, line.size(), line) == 0);
    }
    for (const auto& l : ReadAll({path, (*reader)->next_offset(), FileRange::kToEnd})) {
      lines.push_back(l);
    }
    CHECK(lines == kLines);
  }
}

TEST_CASE("RangeLineReader: line numbers count from the start of the file", "[worker]") {
  testing::TempDir dir;
  const std::string path = testing::WriteTextFile(dir, "a.txt", kContent);
  auto reader = RangeLineReader::Open({path, 20, FileRange::kToEnd}, {.buffer_bytes = 2});
  REQUIRE(reader.ok());
  CHECK(*(*reader)->LineNumberAt(19) == 4);  // "fourth" starts at byte 19
  CHECK(*(*reader)->LineNumberAt(27) == 5);
  CHECK(*(*reader)->LineNumberAt(0) == 1);
  CHECK(*(*reader)->LineNumberAt(18) == 3);
}

TEST_CASE("RangeLineReader: errors name the file (and line)", "[worker]") {
  testing::TempDir dir;
  auto missing = RangeLineReader::Open({dir.path() + "/nope.txt"});
  REQUIRE(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message().find("nope.txt") != std::string::npos);
  CHECK(RangeLineReader::Open({dir.path()}).status().code() == StatusCode::kInvalidArgument);
  const std::string path = testing::WriteTextFile(dir, "long.txt", "ok\n" + std::string(100, 'x') + "\n");
  CHECK(RangeLineReader::Open({path, 5, 2}).status().code() == StatusCode::kInvalidArgument);
  auto reader = RangeLineReader::Open({path}, {.max_line_bytes = 50, .buffer_bytes = 8});
  REQUIRE(reader.ok());
  std::string_view line;
  REQUIRE(*(*reader)->Next(&line));
  auto too_long = (*reader)->Next(&line);
  REQUIRE(too_long.status().code() == StatusCode::kInvalidArgument);
  CHECK(too_long.status().message().find("long.txt', line 2: longer than 50 bytes") !=
        std::string::npos);
}

}  // namespace
}  // namespace pst
