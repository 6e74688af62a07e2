#include "common/rocksdb_records.h"

#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

#include <zlib.h>

namespace pst {

static_assert(std::endian::native == std::endian::little,
              "record values store integers and floats as their little-endian bytes");

Status FromRocks(const rocksdb::Status& s, const std::string& path, std::string_view what,
                 LockHeldMessage lock_held) {
  if (s.ok()) return Status::OK();
  const std::string text = s.ToString();
  const std::string msg = std::string(what) + " (rocksdb at " + path + "): " + text;
  if (s.IsIOError()) {
    // RocksDB reports a held LOCK file as an IOError: "lock hold by current
    // process" within this process, "While lock file: .../LOCK" across processes.
    if (text.find("/LOCK") != std::string::npos || text.find("lock hold") != std::string::npos) {
      return Status::Unavailable(lock_held(path, text));
    }
    if (s.IsNoSpace()) return Status::ResourceExhausted(msg);
    return Status::Unavailable(msg);
  }
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return Status::Unavailable(msg);
  if (s.IsCorruption()) return Status::DataLoss(msg);
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::Internal(msg);
}

std::string Hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return std::string(buf, 16);
}

bool ParseHex16(std::string_view s, uint64_t* out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    uint64_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  *out = v;
  return true;
}

uint32_t Crc32(const char* p, size_t n) {
  return static_cast<uint32_t>(crc32_z(0L, reinterpret_cast<const Bytef*>(p), n));
}

RecordEncoder::RecordEncoder(const RecordFormat& format, size_t size_hint) {
  out_.reserve(size_hint);
  Raw(format.magic, sizeof format.magic);
  U32(format.version);
}

void RecordEncoder::Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
void RecordEncoder::U32(uint32_t v) { Raw(&v, sizeof v); }
void RecordEncoder::U64(uint64_t v) { Raw(&v, sizeof v); }
void RecordEncoder::I64(int64_t v) { Raw(&v, sizeof v); }
void RecordEncoder::F64(double v) { Raw(&v, sizeof v); }

void RecordEncoder::Str(std::string_view s) {
  U32(static_cast<uint32_t>(s.size()));
  Raw(s.data(), s.size());
}

void RecordEncoder::Floats(std::span<const float> v) { Raw(v.data(), v.size_bytes()); }

std::string RecordEncoder::Finish() && {
  U32(Crc32(out_.data(), out_.size()));
  return std::move(out_);
}

StatusOr<std::string_view> OpenFramed(std::string_view value, const RecordFormat& format) {
  constexpr size_t kHeader = sizeof format.magic + sizeof format.version;
  constexpr size_t kCrc = sizeof(uint32_t);
  if (value.size() < kHeader + kCrc) {
    return Status::DataLoss("value of " + std::to_string(value.size()) + " bytes is truncated");
  }
  const size_t body_end = value.size() - kCrc;
  uint32_t stored;
  std::memcpy(&stored, value.data() + body_end, kCrc);
  if (stored != Crc32(value.data(), body_end)) return Status::DataLoss("checksum mismatch");
  if (std::memcmp(value.data(), format.magic, sizeof format.magic) != 0) {
    return Status::DataLoss("wrong record type");
  }
  uint32_t version;
  std::memcpy(&version, value.data() + sizeof format.magic, sizeof version);
  if (version != format.version) {
    return Status::DataLoss("unknown record format " + std::to_string(version));
  }
  return value.substr(kHeader, body_end - kHeader);
}

bool RecordDecoder::Raw(void* dst, size_t n) {
  if (n > rest_.size()) return false;
  if (n != 0) std::memcpy(dst, rest_.data(), n);
  rest_.remove_prefix(n);
  return true;
}

bool RecordDecoder::Str(std::string* s) {
  uint32_t n;
  if (rest_.size() < sizeof n) return false;
  std::memcpy(&n, rest_.data(), sizeof n);
  if (n > kMaxRecordStringBytes || n > rest_.size() - sizeof n) return false;
  s->assign(rest_.data() + sizeof n, n);
  rest_.remove_prefix(sizeof n + n);
  return true;
}

}  // namespace pst
