#include "common/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "common/file_io.h"

namespace pst {
namespace {

// Tensor bytes go between memory and disk with plain copies.
static_assert(std::endian::native == std::endian::little,
              "safetensors.cc assumes a little-endian host (the file format is little-endian)");
static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559);

constexpr char kMetadataKey[] = "__metadata__";
// The reference implementation (huggingface/safetensors) refuses headers above
// 100 MB; so do we, which bounds what a corrupt length field can make us allocate.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Our headers nest three deep. The cap keeps a hostile header from building a
// deeply nested JSON tree.
constexpr int kMaxJsonDepth = 8;

// Number of elements, or nullopt if it does not fit in uint64.
std::optional<uint64_t> ElementCount(const std::vector<uint64_t>& shape) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  uint64_t count = 1;
  for (uint64_t d : shape) {
    if (__builtin_mul_overflow(count, d, &count)) return std::nullopt;
  }
  return count;
}

// A tensor name from a file, safe to put inside a one-line error message.
std::string Printable(std::string_view name) {
  constexpr size_t kMaxShown = 64;
  std::string out = "'";
  for (char c : name.substr(0, kMaxShown)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  out += name.size() > kMaxShown ? "...'" : "'";
  return out;
}

Status WriteSafetensorsOrThrow(const std::string& path, const std::vector<TensorView>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const TensorView& t : tensors) {
    if (t.name == kMetadataKey) {
      return Status::InvalidArgument(path + ": '__metadata__' cannot be a tensor name");
    }
    if (!names.insert(t.name).second) {
      return Status::InvalidArgument(path + ": tensor name " + Printable(t.name) + " repeats");
    }
    std::optional<uint64_t> count = ElementCount(t.shape);
    if (!count || *count != t.size) {
      return Status::InvalidArgument(path + ": tensor " + Printable(t.name) + " has " +
                                     std::to_string(t.size) +
                                     " values, which does not match its shape");
    }
    uint64_t end = offset + t.size * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }

  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error&) {
    // dump() rejects strings that are not UTF-8 (error 316).
    return Status::InvalidArgument(path + ": tensor names and metadata must be valid UTF-8");
  }
  // Padding keeps the tensor data 8-byte aligned for readers that mmap the file.
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<unsigned char>(uint64_t{text.size()} >> (8 * i));

  std::vector<std::string_view> pieces{
      std::string_view(reinterpret_cast<const char*>(length), sizeof(length)), text};
  for (const TensorView& t : tensors) {
    pieces.emplace_back(reinterpret_cast<const char*>(t.data), t.size * sizeof(float));
  }
  return WriteFileAtomically(path, pieces);
}

struct Entry {
  NamedTensor tensor;  // values still empty
  uint64_t count;
  uint64_t begin;
  uint64_t end;
};

// Reads "shape" or "data_offsets": an array of non-negative integers.
bool ToUintArray(const nlohmann::json& j, std::vector<uint64_t>* out) {
  if (!j.is_array()) return false;
  for (const auto& v : j) {
    if (!v.is_number_unsigned()) return false;
    out->push_back(v.get<uint64_t>());
  }
  return true;
}

StatusOr<Entry> ParseEntry(const std::string& path, const std::string& name,
                           const nlohmann::json& j, uint64_t buffer_size) {
  const std::string where = path + ": tensor " + Printable(name);
  if (!j.is_object()) return Status::DataLoss(where + ": header entry is not an object");
  auto dtype = j.find("dtype");
  if (dtype == j.end() || !dtype->is_string()) {
    return Status::DataLoss(where + ": missing or non-string dtype");
  }
  if (dtype->get_ref<const std::string&>() != "F32") {
    return Status::Unimplemented(where + " has dtype " +
                                 Printable(dtype->get_ref<const std::string&>()) +
                                 "; only F32 is supported");
  }
  Entry e;
  e.tensor.name = name;
  std::vector<uint64_t> offsets;
  auto shape = j.find("shape");
  auto data_offsets = j.find("data_offsets");
  if (shape == j.end() || !ToUintArray(*shape, &e.tensor.shape)) {
    return Status::DataLoss(where + ": shape is missing or not an array of non-negative integers");
  }
  if (data_offsets == j.end() || !ToUintArray(*data_offsets, &offsets) || offsets.size() != 2) {
    return Status::DataLoss(where + ": data_offsets is missing or not [begin, end]");
  }
  e.begin = offsets[0];
  e.end = offsets[1];
  if (e.begin > e.end || e.end > buffer_size) {
    return Status::DataLoss(where + ": data_offsets [" + std::to_string(e.begin) + ", " +
                            std::to_string(e.end) + "] outside the " + std::to_string(buffer_size) +
                            "-byte data (truncated file?)");
  }
  std::optional<uint64_t> count = ElementCount(e.tensor.shape);
  if (!count || *count > (e.end - e.begin) / sizeof(float) ||
      *count * sizeof(float) != e.end - e.begin) {
    return Status::DataLoss(where + ": shape does not match data_offsets");
  }
  e.count = *count;
  return e;
}

StatusOr<SafetensorsFile> ReadSafetensorsOrThrow(const std::string& path) {
  Fd fd;
  uint64_t file_size = 0;
  PST_RETURN_IF_ERROR(OpenForReading(path, &fd, &file_size));

  unsigned char length_bytes[8];
  int64_t n = ReadAt(fd.get(), length_bytes, sizeof(length_bytes), 0);
  if (n < 0) return IoError(path, "read failed", static_cast<int>(-n));
  if (n < 8) return Status::DataLoss(path + ": shorter than the 8-byte header length");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t{length_bytes[i]} << (8 * i);
  if (header_size > file_size - 8 || header_size > kMaxHeaderBytes) {
    return Status::DataLoss(path + ": header length " + std::to_string(header_size) +
                            " exceeds the file size " + std::to_string(file_size) +
                            " or the 100 MB limit (truncated or not a safetensors file?)");
  }
  const uint64_t data_start = 8 + header_size;
  const uint64_t buffer_size = file_size - data_start;

  std::string text(header_size, '\0');
  n = ReadAt(fd.get(), text.data(), text.size(), 8);
  if (n < 0) return IoError(path, "read failed", static_cast<int>(-n));
  if (static_cast<uint64_t>(n) < header_size) {
    return Status::DataLoss(path + ": file shrank while reading the header");
  }
  bool too_deep = false;
  nlohmann::json::parser_callback_t limit_depth =
      [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        // Returning false drops the value, so nothing below the limit is built.
        if (depth > kMaxJsonDepth) too_deep = true;
        return !too_deep;
      };
  nlohmann::json header = nlohmann::json::parse(text, limit_depth, /*allow_exceptions=*/false);
  if (header.is_discarded()) return Status::DataLoss(path + ": header is not valid JSON");
  if (too_deep) return Status::DataLoss(path + ": header JSON is nested too deeply");
  if (!header.is_object()) return Status::DataLoss(path + ": header is not a JSON object");

  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) return Status::DataLoss(path + ": __metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) {
          return Status::DataLoss(path + ": __metadata__ value for " + Printable(k) +
                                  " is not a string");
        }
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    PST_ASSIGN_OR_RETURN(Entry e, ParseEntry(path, key, value, buffer_size));
    entries.push_back(std::move(e));
  }

  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].begin < entries[i - 1].end) {
      return Status::DataLoss(path + ": tensors " + Printable(entries[i - 1].tensor.name) +
                              " and " + Printable(entries[i].tensor.name) + " overlap");
    }
  }

  // Only now allocate: the entries are disjoint ranges inside the file, so the
  // values together take at most the file's size.
  file.tensors.reserve(entries.size());
  for (Entry& e : entries) {
    NamedTensor& t = file.tensors.emplace_back(std::move(e.tensor));
    t.values.resize(e.count);
    const size_t bytes = e.count * sizeof(float);
    n = ReadAt(fd.get(), t.values.data(), bytes, data_start + e.begin);
    if (n < 0) return IoError(path, "read failed", static_cast<int>(-n));
    if (static_cast<uint64_t>(n) < bytes) {
      return Status::DataLoss(path + ": file shrank while reading tensor " + Printable(t.name));
    }
  }
  return file;
}

}  // namespace

Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  std::vector<TensorView> views;
  for (const NamedTensor& t : tensors)
    views.push_back({t.name, t.shape, t.values.data(), t.values.size()});
  return WriteSafetensorViews(path, views, metadata);
}

Status WriteSafetensorViews(const std::string& path, const std::vector<TensorView>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  // Allocation failure (std::bad_alloc) is the only exception left to catch.
  try {
    return WriteSafetensorsOrThrow(path, tensors, metadata);
  } catch (const std::exception& e) {
    return Status::Internal(path + ": writing safetensors: " + e.what());
  }
}

StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path) {
  // nlohmann::json is used in its non-throwing forms; this catches
  // std::bad_alloc and any json accessor surprise.
  try {
    return ReadSafetensorsOrThrow(path);
  } catch (const std::exception& e) {
    return Status::Internal(path + ": reading safetensors: " + e.what());
  }
}

}  // namespace pst
