// The record code shared by the RocksDB-backed stores (ps/rocksdb_param_store.h,
// scheduler/job_store.h): the one translation of rocksdb::Status into
// pst::Status, fixed-width hex keys, and the framing of values.
//
// Value layout (every integer and float little-endian, no padding):
//   4-byte magic | u32 version | body | u32 CRC-32 (zlib) of all bytes before it
// The magic names the record type and the version its body layout; both come
// from the RecordFormat the store passes in. Body fields, as RecordEncoder
// writes them and RecordDecoder reads them:
//   U32/U64/I64/F64   4 or 8 raw bytes
//   Str               u32 length | that many bytes (at most kMaxRecordStringBytes)
//   Floats            4 bytes per float, no length (the record implies it)
//   Raw               the bytes as given
// Stores own their key layout and the order of body fields; changing a
// field's order or width changes what is on disk and needs a new version.
//
// Thread-safety: free functions are thread-safe; an encoder or decoder object
// is used by one thread at a time. Nothing here throws or blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <rocksdb/status.h>

#include "common/status.h"

namespace pst {

// Returns the message of the kUnavailable status that FromRocks gives when
// another process (or another handle in this one) holds the database's LOCK
// file. `path` is the database path, `rocks_text` RocksDB's own message.
using LockHeldMessage = std::string (*)(const std::string& path, const std::string& rocks_text);

// The one place a rocksdb::Status becomes a pst::Status. `what` names the
// operation; other than the lock case, messages read
// "<what> (rocksdb at <path>): <rocksdb text>".
// Returns OK for ok; kUnavailable with lock_held(path, text) for a held LOCK
// file; kResourceExhausted for a full disk; kUnavailable for other I/O errors,
// Busy, TimedOut and TryAgain; kDataLoss for Corruption; kNotFound;
// kInvalidArgument; kInternal for anything else.
Status FromRocks(const rocksdb::Status& s, const std::string& path, std::string_view what,
                 LockHeldMessage lock_held);

// `v` as exactly 16 lower-case hex digits, so that byte order of keys is
// numeric order.
std::string Hex16(uint64_t v);

// Parses what Hex16 writes. Returns false (leaving *out alone) unless `s` is
// exactly 16 characters of [0-9a-f].
[[nodiscard]] bool ParseHex16(std::string_view s, uint64_t* out);

// CRC-32 (zlib's polynomial) of n bytes at p.
uint32_t Crc32(const char* p, size_t n);

// The 4-byte magic that starts every value of one record type, and the
// version of that type's body layout.
struct RecordFormat {
  char magic[4];
  uint32_t version;
};

// A Str longer than this reads as malformed, so corrupt lengths cannot cause
// huge allocations.
inline constexpr uint32_t kMaxRecordStringBytes = 1 << 20;

// Builds one value: the header at construction, fields in call order, the CRC
// at Finish.
class RecordEncoder {
 public:
  // `size_hint`: the expected size of the finished value in bytes, reserved up
  // front (0: unknown).
  explicit RecordEncoder(const RecordFormat& format, size_t size_hint = 0);

  void Raw(const void* p, size_t n);
  void U32(uint32_t v);
  void U64(uint64_t v);
  void I64(int64_t v);
  void F64(double v);
  // REQUIRES: s.size() <= kMaxRecordStringBytes, or the value will not decode.
  void Str(std::string_view s);
  void Floats(std::span<const float> v);

  // Appends the CRC of everything so far and returns the value.
  std::string Finish() &&;

 private:
  std::string out_;
};

// Checks the CRC, magic and version of `value` (in that order) and returns its
// body, a view into `value` between the 8-byte header and the CRC.
// Returns kDataLoss "value of N bytes is truncated", "checksum mismatch",
// "wrong record type" or "unknown record format V"; callers add context.
StatusOr<std::string_view> OpenFramed(std::string_view value, const RecordFormat& format);

// Reads the fields of a body in the order they were written. Each read
// returns false, consuming nothing, if the body is too short (or a Str is
// longer than kMaxRecordStringBytes). The body must outlive the decoder.
class RecordDecoder {
 public:
  explicit RecordDecoder(std::string_view body) : rest_(body) {}

  [[nodiscard]] bool Raw(void* dst, size_t n);
  [[nodiscard]] bool U32(uint32_t* v) { return Raw(v, sizeof *v); }
  [[nodiscard]] bool U64(uint64_t* v) { return Raw(v, sizeof *v); }
  [[nodiscard]] bool I64(int64_t* v) { return Raw(v, sizeof *v); }
  [[nodiscard]] bool F64(double* v) { return Raw(v, sizeof *v); }
  [[nodiscard]] bool Str(std::string* s);
  // Fills all of `out`.
  [[nodiscard]] bool Floats(std::span<float> out) { return Raw(out.data(), out.size_bytes()); }

  // Bytes not read yet.
  size_t left() const { return rest_.size(); }

 private:
  std::string_view rest_;
};

}  // namespace pst
