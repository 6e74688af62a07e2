#include "common/npy.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/testing/temp_dir.h"
#include "tests/testing/text_file.h"

namespace pst {
namespace {

// The header bytes numpy 1.24's numpy.save writes, built here from the
// format's description: magic, version 1.0, little-endian length, the dict,
// 21 - digits(shape[0]) growth spaces, then spaces and '\n' up to 128 bytes.
std::string Expected(const std::string& dict, size_t growth) {
  std::string body = dict + std::string(growth, ' ');
  body.append(127 - 10 - body.size(), ' ');
  body += '\n';
  REQUIRE(body.size() == 118);
  return std::string("\x93NUMPY\x01\x00\x76\x00", 10) + body;
}

TEST_CASE("NpyHeader is byte for byte numpy's v1.0 header", "[common]") {
  CHECK(NpyHeader(NpyType::kFloat32, {3, 4}) ==
        Expected("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 20));
  CHECK(NpyHeader(NpyType::kUint64, {5}) ==
        Expected("{'descr': '<u8', 'fortran_order': False, 'shape': (5,), }", 20));
  CHECK(NpyHeader(NpyType::kFloat32, {}) ==
        Expected("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 0));
  CHECK(NpyHeader(NpyType::kFloat32, {0, 16}) ==
        Expected("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 16), }", 20));
  // A long shape spills into the next 64-byte unit: data stay aligned.
  const uint64_t d = 12345678901234567ull;
  const std::string big = NpyHeader(NpyType::kFloat32, {d, d, d, d});
  CHECK(big.size() == 192);
  CHECK(big.back() == '\n');
  CHECK((big.size() % 64) == 0);
}

TEST_CASE("WriteNpy then ReadNpy gives back shape and values", "[common]") {
  testing::TempDir dir;
  const std::string rows = dir.path() + "/t.rows.npy";
  const std::string ids = dir.path() + "/t.ids.npy";
  const std::vector<float> values{1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
  const std::vector<uint64_t> keys{1, 7, UINT64_MAX};
  REQUIRE(WriteNpy(rows, {3, 2}, std::span<const float>(values)).ok());
  REQUIRE(WriteNpy(ids, {3}, std::span<const uint64_t>(keys)).ok());
  const std::string bytes = testing::ReadTextFile(rows);
  CHECK(bytes.size() == 128 + values.size() * 4);
  CHECK(bytes.substr(0, 128) == NpyHeader(NpyType::kFloat32, {3, 2}));

  auto r = ReadNpy(rows);
  REQUIRE(r.ok());
  CHECK(r->type == NpyType::kFloat32);
  CHECK(r->shape == std::vector<uint64_t>{3, 2});
  CHECK(r->f32 == values);
  CHECK(r->u64.empty());
  auto k = ReadNpy(ids);
  REQUIRE(k.ok());
  CHECK(k->type == NpyType::kUint64);
  CHECK(k->shape == std::vector<uint64_t>{3});
  CHECK(k->u64 == keys);

  CHECK(WriteNpy(rows, {4, 2}, std::span<const float>(values)).code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("ReadNpy refuses what it cannot read, with one line naming the file", "[common]") {
  testing::TempDir dir;
  const std::string p = dir.path() + "/x.npy";
  CHECK(ReadNpy(p).status().code() == StatusCode::kNotFound);

  testing::WriteTextFile(dir, "x.npy", "not an array at all");
  auto s = ReadNpy(p).status();
  CHECK(s.code() == StatusCode::kDataLoss);
  CHECK(s.message().find(p) != std::string::npos);

  const std::vector<float> values{1, 2, 3, 4};
  REQUIRE(WriteNpy(p, {4}, std::span<const float>(values)).ok());
  std::string bytes = testing::ReadTextFile(p);
  testing::WriteTextFile(dir, "x.npy", bytes.substr(0, bytes.size() - 1));  // truncated data
  CHECK(ReadNpy(p).status().code() == StatusCode::kDataLoss);

  std::string f8 = bytes;
  f8.replace(f8.find("<f4"), 3, "<f8");
  testing::WriteTextFile(dir, "x.npy", f8);
  s = ReadNpy(p).status();
  CHECK(s.code() == StatusCode::kUnimplemented);
  CHECK(s.message().find("<f8") != std::string::npos);

  std::string fortran = bytes;
  fortran.replace(fortran.find("False"), 5, "True ");
  testing::WriteTextFile(dir, "x.npy", fortran);
  CHECK(ReadNpy(p).status().code() == StatusCode::kUnimplemented);

  std::string long_header = bytes;
  long_header[8] = '\xff';
  long_header[9] = '\xff';
  testing::WriteTextFile(dir, "x.npy", long_header);
  CHECK(ReadNpy(p).status().code() == StatusCode::kDataLoss);
}

}  // namespace
}  // namespace pst
