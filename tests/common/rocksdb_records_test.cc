// Tests common/rocksdb_records.h: the value framing and field encoding both
// stores write to disk, hex keys, and the rocksdb::Status translation.
#include "common/rocksdb_records.h"

#include <rocksdb/status.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pst {
namespace {

constexpr RecordFormat kTestFormat = {{'T', 'E', 'S', 'T'}, 3};

std::string Bytes(std::initializer_list<unsigned> bytes) {
  std::string out;
  for (unsigned b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

std::string AppendCrc(std::string value) {
  const uint32_t crc = Crc32(value.data(), value.size());
  value.append(reinterpret_cast<const char*>(&crc), sizeof crc);
  return value;
}

std::string SampleValue() {
  RecordEncoder e(kTestFormat);
  e.U64(42);
  e.Str("fingerprint");
  return std::move(e).Finish();
}

void RequireDataLoss(const StatusOr<std::string_view>& body, const std::string& message) {
  REQUIRE(body.status().code() == StatusCode::kDataLoss);
  REQUIRE(body.status().message() == message);
}

TEST_CASE("RocksdbRecords: every field type round-trips", "[common]") {
  const std::vector<float> floats = {1.5f, -0.0f, std::numeric_limits<float>::infinity(), 3e-40f};
  const std::string with_nul("a\0b", 3);
  const char raw[3] = {'x', 'y', 'z'};

  RecordEncoder e(kTestFormat, /*size_hint=*/256);
  e.U32(0xdeadbeefu);
  e.U64(0x0123456789abcdefULL);
  e.I64(-5);
  e.F64(-0.1);
  e.Str("");
  e.Str(with_nul);
  e.Floats(floats);
  e.Raw(raw, sizeof raw);
  const std::string value = std::move(e).Finish();

  StatusOr<std::string_view> body = OpenFramed(value, kTestFormat);
  INFO(body.status().ToString());
  REQUIRE(body.ok());
  RecordDecoder d(*body);
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  int64_t i64 = 0;
  double f64 = 0;
  std::string empty = "not empty", str;
  std::vector<float> got_floats(floats.size());
  char got_raw[3] = {};
  REQUIRE(d.U32(&u32));
  REQUIRE(d.U64(&u64));
  REQUIRE(d.I64(&i64));
  REQUIRE(d.F64(&f64));
  REQUIRE(d.Str(&empty));
  REQUIRE(d.Str(&str));
  REQUIRE(d.Floats(got_floats));
  REQUIRE(d.Raw(got_raw, sizeof got_raw));
  REQUIRE(d.left() == 0);

  CHECK(u32 == 0xdeadbeefu);
  CHECK(u64 == 0x0123456789abcdefULL);
  CHECK(i64 == -5);
  CHECK(f64 == -0.1);
  CHECK(empty.empty());
  CHECK(str == with_nul);
  REQUIRE(std::memcmp(got_floats.data(), floats.data(), floats.size() * sizeof(float)) == 0);
  CHECK(std::signbit(got_floats[1]));
  CHECK(std::memcmp(got_raw, raw, sizeof raw) == 0);
}

// The layout is what both stores have on disk; this pins it byte for byte.
TEST_CASE("RocksdbRecords: value layout is magic, version, little-endian fields, CRC", "[common]") {
  RecordEncoder e(kTestFormat);
  e.U32(0x04030201u);
  e.Str("hi");
  e.I64(-2);
  const std::string value = std::move(e).Finish();
  const std::string before_crc = Bytes({'T',  'E',  'S',  'T',  3,    0,    0,    0,       // header
                                        1,    2,    3,    4,                               // U32
                                        2,    0,    0,    0,    'h',  'i',                 // Str
                                        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});  // I64
  REQUIRE(value == AppendCrc(before_crc));
}

TEST_CASE("RocksdbRecords: Crc32 is zlib's CRC-32", "[common]") {
  const std::string check = "123456789";
  CHECK(Crc32(check.data(), check.size()) == 0xcbf43926u);
  CHECK(Crc32(nullptr, 0) == 0u);
}

TEST_CASE("RocksdbRecords: an empty body frames and opens", "[common]") {
  const std::string value = RecordEncoder(kTestFormat).Finish();
  REQUIRE(value.size() == 12);
  StatusOr<std::string_view> body = OpenFramed(value, kTestFormat);
  REQUIRE(body.ok());
  CHECK(body->empty());
}

TEST_CASE("RocksdbRecords: a truncated value reads as data loss", "[common]") {
  RequireDataLoss(OpenFramed("", kTestFormat), "value of 0 bytes is truncated");
  RequireDataLoss(OpenFramed(std::string(11, 'x'), kTestFormat), "value of 11 bytes is truncated");
  // A value cut short anywhere past the header no longer matches its CRC.
  const std::string value = SampleValue();
  for (size_t n = 12; n < value.size(); ++n) {
    INFO("kept " << n << " of " << value.size() << " bytes");
    RequireDataLoss(OpenFramed(std::string_view(value).substr(0, n), kTestFormat),
                    "checksum mismatch");
  }
}

TEST_CASE("RocksdbRecords: decoding past the end of the body fails and consumes nothing",
          "[common]") {
  const std::string body = Bytes({1, 2, 3});
  RecordDecoder d(body);
  uint32_t u32 = 7;
  REQUIRE_FALSE(d.U32(&u32));
  CHECK(u32 == 7);
  CHECK(d.left() == 3);
  std::string s;
  REQUIRE_FALSE(d.Str(&s));
  CHECK(d.left() == 3);

  // A length longer than the rest of the body.
  const std::string short_str = Bytes({5, 0, 0, 0, 'a', 'b'});
  RecordDecoder d2(short_str);
  REQUIRE_FALSE(d2.Str(&s));
  CHECK(d2.left() == short_str.size());

  // A length over kMaxRecordStringBytes, even with the bytes present.
  std::string huge(4 + kMaxRecordStringBytes + 1, 'x');
  const uint32_t len = kMaxRecordStringBytes + 1;
  std::memcpy(huge.data(), &len, sizeof len);
  RecordDecoder d3(huge);
  REQUIRE_FALSE(d3.Str(&s));
  CHECK(d3.left() == huge.size());

  float floats[2];
  RecordDecoder d4(body);
  REQUIRE_FALSE(d4.Floats(floats));
  CHECK(d4.left() == 3);
}

TEST_CASE("RocksdbRecords: a flipped byte anywhere is a checksum mismatch", "[common]") {
  const std::string value = SampleValue();
  for (size_t i = 0; i < value.size(); ++i) {
    std::string bad = value;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    INFO("flipped byte " << i);
    RequireDataLoss(OpenFramed(bad, kTestFormat), "checksum mismatch");
  }
}

TEST_CASE("RocksdbRecords: another record type's value is rejected", "[common]") {
  constexpr RecordFormat kOther = {{'T', 'E', 'S', 'X'}, 3};
  RecordEncoder e(kOther);
  e.U64(42);
  RequireDataLoss(OpenFramed(std::move(e).Finish(), kTestFormat), "wrong record type");
}

TEST_CASE("RocksdbRecords: another format version is rejected", "[common]") {
  constexpr RecordFormat kNewer = {{'T', 'E', 'S', 'T'}, 4};
  RecordEncoder e(kNewer);
  e.U64(42);
  RequireDataLoss(OpenFramed(std::move(e).Finish(), kTestFormat), "unknown record format 4");
}

TEST_CASE("RocksdbRecords: Hex16 and ParseHex16 round-trip and keep numeric order", "[common]") {
  const std::vector<uint64_t> values = {0,          1,
                                        15,         16,
                                        0xdeadbeef, 0x0123456789abcdefULL,
                                        1ULL << 63, std::numeric_limits<uint64_t>::max()};
  for (uint64_t v : values) {
    const std::string hex = Hex16(v);
    INFO(hex);
    REQUIRE(hex.size() == 16);
    uint64_t back = 0;
    REQUIRE(ParseHex16(hex, &back));
    CHECK(back == v);
  }
  CHECK(Hex16(0) == "0000000000000000");
  CHECK(Hex16(0xdeadbeef) == "00000000deadbeef");
  CHECK(Hex16(std::numeric_limits<uint64_t>::max()) == "ffffffffffffffff");
  for (size_t i = 1; i < values.size(); ++i) CHECK(Hex16(values[i - 1]) < Hex16(values[i]));
}

TEST_CASE("RocksdbRecords: ParseHex16 rejects anything but 16 lower-case hex digits", "[common]") {
  const std::vector<std::string> bad_inputs = {"",
                                               "0",
                                               "000000000000000",
                                               "00000000000000000",
                                               "00000000DEADBEEF",
                                               "000000000000000g",
                                               "0x00000000000001",
                                               "-000000000000001",
                                               " 000000000000001",
                                               std::string(16, '\0')};
  for (const std::string& bad : bad_inputs) {
    INFO("'" << bad << "'");
    uint64_t out = 99;
    CHECK_FALSE(ParseHex16(bad, &out));
    CHECK(out == 99);
  }
}

std::string TestLockHeld(const std::string& path, const std::string& rocks_text) {
  return "locked " + path + ": " + rocks_text;
}

TEST_CASE("RocksdbRecords: FromRocks maps each kind of rocksdb::Status", "[common]") {
  const std::string path = "/db";
  auto from = [&](const rocksdb::Status& s) {
    return FromRocks(s, path, "test: op", TestLockHeld);
  };

  CHECK(from(rocksdb::Status::OK()).ok());

  struct Case {
    rocksdb::Status in;
    StatusCode want;
  };
  const Case cases[] = {
      {rocksdb::Status::IOError("disk went away"), StatusCode::kUnavailable},
      {rocksdb::Status::NoSpace("disk full"), StatusCode::kResourceExhausted},
      {rocksdb::Status::Busy("busy"), StatusCode::kUnavailable},
      {rocksdb::Status::TimedOut("slow"), StatusCode::kUnavailable},
      {rocksdb::Status::TryAgain("again"), StatusCode::kUnavailable},
      {rocksdb::Status::Corruption("bad block"), StatusCode::kDataLoss},
      {rocksdb::Status::NotFound("no key"), StatusCode::kNotFound},
      {rocksdb::Status::InvalidArgument("bad option"), StatusCode::kInvalidArgument},
      {rocksdb::Status::NotSupported("nope"), StatusCode::kInternal},
      {rocksdb::Status::Aborted("stop"), StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    INFO(c.in.ToString());
    const Status got = from(c.in);
    CHECK(got.code() == c.want);
    CHECK(got.message() == "test: op (rocksdb at /db): " + c.in.ToString());
  }
}

TEST_CASE("RocksdbRecords: FromRocks gives the caller's message for a held lock", "[common]") {
  // The two forms RocksDB uses: another process, and another handle in this one.
  for (const rocksdb::Status& s :
       {rocksdb::Status::IOError("While lock file: /db/LOCK", "Resource temporarily unavailable"),
        rocksdb::Status::IOError("lock hold by current process, acquire time 1 acquiring thread 2",
                                 "/db/LOCK: No locks available")}) {
    const Status got = FromRocks(s, "/db", "test: open", TestLockHeld);
    CHECK(got.code() == StatusCode::kUnavailable);
    CHECK(got.message() == "locked /db: " + s.ToString());
  }
}

}  // namespace
}  // namespace pst
