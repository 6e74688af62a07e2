// Fuzz target: the data readers of worker/data: the libsvm and Criteo-style
// TSV line parsers (line_formats.h) and the byte-range reader built on them
// (sparse_reader.h, range_line_reader.h). The first input byte chooses the
// format (bit 0), the cut of the file into two ranges, the read buffer size
// and the Criteo shape; the rest is the data file.
//
// Checked: a line that parses appends exactly one well-formed sample (label 0
// or 1, offsets ascending and ending at ids.size(), finite values, one dense
// row) and a line that does not leaves the batch as it was; and reading the
// file as two ranges cut anywhere returns exactly the samples and bad lines of
// reading it whole (every line is owned by exactly one range).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/temp_file.h"
#include "worker/data/line_formats.h"
#include "worker/data/sparse_batch.h"
#include "worker/data/sparse_reader.h"

namespace {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::cerr << "data_lines_fuzzer: " << what << "\n";
  std::abort();
}

bool Same(const pst::SparseBatch& a, const pst::SparseBatch& b) {
  auto bits = [](const std::vector<float>& x, const std::vector<float>& y) {
    return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), [](float p, float q) {
             return std::memcmp(&p, &q, sizeof p) == 0;
           });
  };
  return bits(a.labels, b.labels) && bits(a.dense, b.dense) && a.offsets == b.offsets &&
         a.ids == b.ids && bits(a.values, b.values);
}

void CheckBatch(const pst::SparseBatch& b) {
  Check(b.offsets.size() == b.size() * b.num_fields + 1 && b.offsets.front() == 0 &&
            b.offsets.back() == b.ids.size() && b.ids.size() == b.values.size(),
        "batch offsets do not match its features");
  Check(std::is_sorted(b.offsets.begin(), b.offsets.end()), "batch offsets go backwards");
  Check(b.dense.size() == b.size() * b.num_dense, "dense features do not fill one row per sample");
  for (float l : b.labels) Check(l == 0.0f || l == 1.0f, "a label is neither 0 nor 1");
  for (float v : b.values) Check(std::isfinite(v), "a feature value is not finite");
  for (float v : b.dense) Check(std::isfinite(v), "a dense feature is not finite");
}

// Every line of `text` through the parser.
void ParseLines(std::string_view text, const pst::SparseReaderOptions& o) {
  pst::SparseBatch batch;
  batch.num_fields = pst::SparseReader::NumFields(o);
  batch.num_dense = pst::SparseReader::NumDense(o);
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const pst::SparseBatch before = batch;
    const pst::Status s = o.format == pst::DataFormat::kLibsvm
                              ? pst::ParseLibsvmLine(line, &batch)
                              : pst::ParseCriteoLine(line, o.criteo, &batch);
    if (!s.ok()) {
      Check(s.code() == pst::StatusCode::kInvalidArgument, "a bad line is not kInvalidArgument");
      Check(Same(batch, before), "a rejected line changed the batch");
      continue;
    }
    Check(batch.size() == before.size() + 1, "a parsed line did not add one sample");
    CheckBatch(batch);
    if (batch.size() > 64) batch.Clear();
  }
}

// Appends the samples of `from` to *to (same fields and dense features).
void Append(const pst::SparseBatch& from, pst::SparseBatch* to) {
  const uint32_t base = to->offsets.back();
  to->labels.insert(to->labels.end(), from.labels.begin(), from.labels.end());
  to->dense.insert(to->dense.end(), from.dense.begin(), from.dense.end());
  for (size_t i = 1; i < from.offsets.size(); ++i) to->offsets.push_back(base + from.offsets[i]);
  to->ids.insert(to->ids.end(), from.ids.begin(), from.ids.end());
  to->values.insert(to->values.end(), from.values.begin(), from.values.end());
}

struct Read {
  bool ok = true;
  pst::SparseBatch all;
  uint64_t bad_lines = 0;
};

// Reads [begin, end) of `path` in batches of 3 into one batch.
Read ReadRange(const std::string& path, uint64_t begin, uint64_t end,
               const pst::SparseReaderOptions& o) {
  Read r;
  r.all.num_fields = pst::SparseReader::NumFields(o);
  r.all.num_dense = pst::SparseReader::NumDense(o);
  auto reader = pst::SparseReader::Open({path, begin, end}, o);
  Check(reader.ok(), "a data file range does not open");
  pst::SparseBatch batch;
  for (;;) {
    auto n = (*reader)->ReadBatch(3, &batch);
    if (!n.ok()) {
      r.ok = false;
      return r;
    }
    if (*n == 0) break;
    CheckBatch(batch);
    Append(batch, &r.all);
  }
  r.bad_lines = (*reader)->bad_lines();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t config = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  pst::SparseReaderOptions o;
  o.format = (config & 1) ? pst::DataFormat::kCriteoTsv : pst::DataFormat::kLibsvm;
  o.criteo.num_dense = (config >> 1) & 3;        // 0..3
  o.criteo.num_categorical = 1 + ((config >> 3) & 3);  // 1..4
  o.skip_bad_lines = true;
  o.lines.max_line_bytes = 512;
  o.lines.buffer_bytes = 1 + (config >> 5) * 9;  // 1..64: lines cross buffer refills
  ParseLines(text, o);

  const std::string path = pst::fuzz::WriteScratch(
      "data.txt", reinterpret_cast<const uint8_t*>(text.data()), text.size());
  const uint64_t cut = text.empty() ? 0 : (config * 131u) % (text.size() + 1);
  const Read whole = ReadRange(path, 0, pst::FileRange::kToEnd, o);
  const Read first = ReadRange(path, 0, cut, o);
  const Read second = ReadRange(path, cut, pst::FileRange::kToEnd, o);
  Check(whole.ok == (first.ok && second.ok), "a range fails where the whole file does not");
  if (!whole.ok) return 0;
  pst::SparseBatch joined = first.all;
  Append(second.all, &joined);
  Check(Same(joined, whole.all), "two ranges do not read the samples of the whole file");
  Check(first.bad_lines + second.bad_lines == whole.bad_lines,
        "two ranges do not count the bad lines of the whole file");
  return 0;
}
