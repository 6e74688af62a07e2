#include "worker/data/line_formats.h"

#include <charconv>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "worker/data/feature_hash.h"

namespace pst {

namespace {

// Undoes a partly appended sample when a later token of its line is bad.
class SampleAppender {
 public:
  explicit SampleAppender(SparseBatch* batch)
      : batch_(batch),
        labels_(batch->labels.size()),
        dense_(batch->dense.size()),
        offsets_(batch->offsets.size()),
        ids_(batch->ids.size()) {}
  Status Fail(std::string message) {
    batch_->labels.resize(labels_);
    batch_->dense.resize(dense_);
    batch_->offsets.resize(offsets_);
    batch_->ids.resize(ids_);
    batch_->values.resize(ids_);
    return Status::InvalidArgument(std::move(message));
  }

 private:
  SparseBatch* batch_;
  size_t labels_, dense_, offsets_, ids_;
};

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// The next space/tab-separated token of *rest (empty at the end).
std::string_view NextToken(std::string_view* rest) {
  size_t i = 0;
  while (i < rest->size() && IsSpace((*rest)[i])) ++i;
  size_t j = i;
  while (j < rest->size() && !IsSpace((*rest)[j])) ++j;
  std::string_view token = rest->substr(i, j - i);
  rest->remove_prefix(j);
  return token;
}

template <typename T>
bool ParseWhole(std::string_view s, T* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Shortened copy of a bad token for an error message.
std::string Quote(std::string_view s) {
  return s.size() <= 40 ? fmt::format("'{}'", s) : fmt::format("'{}...'", s.substr(0, 40));
}

}  // namespace

bool IsBlankLine(std::string_view line) {
  for (char c : line) {
    if (!IsSpace(c)) return false;
  }
  return true;
}

Status ParseLibsvmLine(std::string_view line, SparseBatch* batch) {
  const size_t hash = line.find('#');
  if (hash != std::string_view::npos) line = line.substr(0, hash);
  SampleAppender appender(batch);
  const std::string_view label_token = NextToken(&line);
  double label = 0;
  if (!ParseWhole(label_token, &label) || (label != 1 && label != 0 && label != -1)) {
    return appender.Fail(fmt::format("label {} is not binary (expected 1 or +1, 0 or -1)",
                                     Quote(label_token)));
  }
  batch->labels.push_back(label > 0 ? 1.0f : 0.0f);
  for (std::string_view token = NextToken(&line); !token.empty(); token = NextToken(&line)) {
    const size_t colon = token.find(':');
    if (colon == std::string_view::npos) {
      return appender.Fail(fmt::format("feature {} is not id:value", Quote(token)));
    }
    if (token.substr(0, colon) == "qid") continue;
    uint64_t id = 0;
    float value = 0;
    if (!ParseWhole(token.substr(0, colon), &id)) {
      return appender.Fail(fmt::format("feature {}: id is not an unsigned 64-bit integer",
                                       Quote(token)));
    }
    if (!ParseWhole(token.substr(colon + 1), &value) || !std::isfinite(value)) {
      return appender.Fail(fmt::format("feature {}: value is not a finite number (truncated line?)",
                                       Quote(token)));
    }
    batch->ids.push_back(id);
    batch->values.push_back(value);
  }
  batch->offsets.push_back(static_cast<uint32_t>(batch->ids.size()));
  return Status::OK();
}

Status ParseCriteoLine(std::string_view line, const CriteoFormat& format, SparseBatch* batch) {
  const size_t expected = 1 + size_t{format.num_dense} + format.num_categorical;
  size_t fields = 1;
  for (char c : line) fields += c == '\t';
  if (fields != expected) {
    return Status::InvalidArgument(fmt::format(
        "expected {} tab-separated fields (label, {} integers, {} categories), found {}{}",
        expected, format.num_dense, format.num_categorical, fields,
        fields < expected ? " (truncated line?)" : ""));
  }
  SampleAppender appender(batch);
  size_t field = 0;
  auto next_field = [&line]() {
    const size_t tab = line.find('\t');
    std::string_view f = line.substr(0, tab);
    line.remove_prefix(tab == std::string_view::npos ? line.size() : tab + 1);
    return f;
  };
  const std::string_view label_field = next_field();
  if (label_field != "0" && label_field != "1") {
    return appender.Fail(fmt::format("label {} is not 0 or 1", Quote(label_field)));
  }
  batch->labels.push_back(label_field == "1" ? 1.0f : 0.0f);
  for (uint32_t j = 0; j < format.num_dense; ++j) {
    ++field;
    const std::string_view f = next_field();
    int64_t x = 0;
    if (!f.empty() && !ParseWhole(f, &x)) {
      return appender.Fail(fmt::format("field {} (integer feature {}): {} is not an integer",
                                       field + 1, j + 1, Quote(f)));
    }
    batch->dense.push_back(x > 0 ? static_cast<float>(std::log1p(static_cast<double>(x))) : 0.0f);
  }
  for (uint32_t c = 0; c < format.num_categorical; ++c) {
    batch->ids.push_back(HashFeature(HashInts(format.hash_seed, c), next_field()));
    batch->values.push_back(1.0f);
    batch->offsets.push_back(static_cast<uint32_t>(batch->ids.size()));
  }
  return Status::OK();
}

}  // namespace pst
