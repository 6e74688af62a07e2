// Fuzz target: the record framing of everything pstrain keeps in RocksDB
// (common/rocksdb_records.h: checkpoints, commit markers, the scheduler's job
// state). The input, split at the first "PSTFRAME", is a list of decoder
// operations and a body:
//   - the whole input, read as a stored value, either opens or is an error;
//   - the body, framed by RecordEncoder (so the checksum matches), opens to
//     exactly the body again;
//   - the operations (one byte each: Raw, U32, U64, I64, F64, Str, Floats)
//     read the body; each read either consumes exactly its size or nothing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/rocksdb_records.h"
#include "tests/fuzz/frames.h"

namespace {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::cerr << "records_fuzzer: " << what << "\n";
  std::abort();
}

constexpr pst::RecordFormat kFormat = {{'P', 'S', 'T', 'B'}, 1};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  (void)pst::OpenFramed(whole, kFormat);  // any bytes from disk: a value or an error

  const auto parts = pst::fuzz::SplitFrames(data, size);
  const std::string_view ops = parts.size() > 1 ? parts[0] : std::string_view();
  const std::string_view body = parts.size() > 1 ? parts[1] : parts[0];

  pst::RecordEncoder e(kFormat);
  e.Raw(body.data(), body.size());
  const std::string value = std::move(e).Finish();
  auto opened = pst::OpenFramed(value, kFormat);
  Check(opened.ok() && *opened == body, "a framed body does not open to itself");

  pst::RecordDecoder d(*opened);
  std::vector<char> raw;
  std::string str;
  std::vector<float> floats;
  for (char op : ops) {
    const size_t before = d.left();
    const unsigned n = static_cast<unsigned char>(op) >> 3;  // a length for Raw / Floats
    size_t want = 0;
    bool read = false;
    switch (static_cast<unsigned char>(op) & 7) {
      case 0: raw.resize(n); want = n; read = d.Raw(raw.data(), n); break;
      case 1: { uint32_t v; want = 4; read = d.U32(&v); break; }
      case 2: { uint64_t v; want = 8; read = d.U64(&v); break; }
      case 3: { int64_t v; want = 8; read = d.I64(&v); break; }
      case 4: { double v; want = 8; read = d.F64(&v); break; }
      case 5:
        read = d.Str(&str);
        Check(!read || str.size() <= pst::kMaxRecordStringBytes, "an over-long string decoded");
        want = read ? before - d.left() : 0;
        Check(!read || want == 4 + str.size(), "a string consumed other than its length");
        break;
      default: floats.resize(n); want = n * sizeof(float); read = d.Floats(floats); break;
    }
    Check(read ? d.left() == before - want : d.left() == before,
          "a read consumed the wrong number of bytes");
  }
  return 0;
}
