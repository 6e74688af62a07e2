#include "common/npy.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <regex>
#include <string_view>

#include "common/file_io.h"

namespace pst {
namespace {

static_assert(std::endian::native == std::endian::little,
              "npy.cc assumes a little-endian host (the files are little-endian)");

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// numpy aligns the data to 64 bytes (numpy.lib.format.ARRAY_ALIGN).
constexpr size_t kAlign = 64;
// numpy refuses headers above 10,000 bytes unless told otherwise; so do we.
constexpr size_t kMaxHeader = 10000;

const char* Descr(NpyType type) { return type == NpyType::kFloat32 ? "<f4" : "<u8"; }
size_t ElementSize(NpyType type) { return type == NpyType::kFloat32 ? 4 : 8; }

std::optional<uint64_t> Count(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (uint64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  return n;
}

Status Write(const std::string& path, NpyType type, const std::vector<uint64_t>& shape,
             const void* data, size_t count) {
  const std::optional<uint64_t> n = Count(shape);
  if (!n || *n != count)
    return Status::InvalidArgument(path + ": " + std::to_string(count) +
                                   " values do not match the array's shape");
  const std::string header = NpyHeader(type, shape);
  const std::string_view pieces[] = {
      header, std::string_view(static_cast<const char*>(data), count * ElementSize(type))};
  return WriteFileAtomically(path, pieces);
}

// Parses the dict literal of a header: descr, fortran_order, shape.
Status ParseHeader(const std::string& path, const std::string& dict, NpyArray* out) {
  static const std::regex descr(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex order(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex shape(R"('shape'\s*:\s*\(([0-9,\s]*)\))");
  std::smatch d, o, s;
  if (!std::regex_search(dict, d, descr) || !std::regex_search(dict, o, order) ||
      !std::regex_search(dict, s, shape))
    return Status::DataLoss(path + ": malformed .npy header (want descr, fortran_order, shape)");
  const std::string type = d[1];
  if (type == "<f4") {
    out->type = NpyType::kFloat32;
  } else if (type == "<u8") {
    out->type = NpyType::kUint64;
  } else {
    return Status::Unimplemented(path + ": dtype '" + type.substr(0, 16) +
                                 "' (only little-endian float32 '<f4' and uint64 '<u8' are read)");
  }
  if (o[1] == "True") return Status::Unimplemented(path + ": Fortran-order arrays are not read");
  const std::string dims = s[1];
  static const std::regex number("[0-9]+");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it) {
    const std::string digits = it->str();
    if (digits.size() > 19) return Status::DataLoss(path + ": shape dimension out of range");
    out->shape.push_back(std::stoull(digits));
  }
  return Status::OK();
}

}  // namespace

std::string NpyHeader(NpyType type, const std::vector<uint64_t>& shape) {
  std::string dims;
  for (uint64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // "(3, 4)", but "(3,)" and "()"
  if (shape.size() == 1) dims.pop_back();
  std::string dict =
      std::string("{'descr': '") + Descr(type) + "', 'fortran_order': False, 'shape': (" + dims +
      "), }";
  // numpy also leaves room for the first dimension to grow to 21 digits
  // (numpy.lib.format.GROWTH_AXIS_MAX_DIGITS), so its header can be rewritten
  // in place by appending writers.
  if (!shape.empty()) dict.append(21 - std::min<size_t>(21, std::to_string(shape[0]).size()), ' ');
  const size_t unpadded = kMagicSize + 2 + 2 + dict.size() + 1;  // + '\n'
  dict.append((kAlign - unpadded % kAlign) % kAlign, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict;
}

Status WriteNpy(const std::string& path, const std::vector<uint64_t>& shape,
                std::span<const float> values) {
  return Write(path, NpyType::kFloat32, shape, values.data(), values.size());
}

Status WriteNpy(const std::string& path, const std::vector<uint64_t>& shape,
                std::span<const uint64_t> values) {
  return Write(path, NpyType::kUint64, shape, values.data(), values.size());
}

StatusOr<NpyArray> ReadNpy(const std::string& path) {
  Fd fd;
  uint64_t file_size = 0;
  PST_RETURN_IF_ERROR(OpenForReading(path, &fd, &file_size));
  unsigned char prefix[12];
  int64_t n = ReadAt(fd.get(), prefix, sizeof(prefix), 0);
  if (n < 0) return IoError(path, "read failed", static_cast<int>(-n));
  if (n < 10 || std::memcmp(prefix, kMagic, kMagicSize) != 0)
    return Status::DataLoss(path + ": not a .npy file (no \\x93NUMPY magic)");
  const unsigned major = prefix[6];
  if (major < 1 || major > 3)
    return Status::Unimplemented(path + ": .npy format version " + std::to_string(major) +
                                 " (versions 1 to 3 are read)");
  const size_t length_bytes = major == 1 ? 2 : 4;
  if (static_cast<size_t>(n) < 8 + length_bytes)
    return Status::DataLoss(path + ": truncated .npy header");
  uint64_t header_size = 0;
  for (size_t i = 0; i < length_bytes; ++i) header_size |= uint64_t{prefix[8 + i]} << (8 * i);
  const uint64_t data_start = 8 + length_bytes + header_size;
  if (header_size > kMaxHeader || data_start > file_size)
    return Status::DataLoss(path + ": .npy header length " + std::to_string(header_size) +
                            " is past the file's end or above 10,000 bytes");
  std::string dict(header_size, '\0');
  n = ReadAt(fd.get(), dict.data(), dict.size(), 8 + length_bytes);
  if (n < 0) return IoError(path, "read failed", static_cast<int>(-n));
  if (static_cast<uint64_t>(n) < header_size) return Status::DataLoss(path + ": file shrank");
  NpyArray out;
  PST_RETURN_IF_ERROR(ParseHeader(path, dict, &out));
  const std::optional<uint64_t> count = Count(out.shape);
  const uint64_t size = ElementSize(out.type);
  if (!count || *count > (file_size - data_start) / size ||
      *count * size != file_size - data_start)
    return Status::DataLoss(path + ": the data are " + std::to_string(file_size - data_start) +
                            " bytes, which is not what the shape says (truncated file?)");
  void* data = nullptr;
  if (out.type == NpyType::kFloat32) {
    out.f32.resize(*count);
    data = out.f32.data();
  } else {
    out.u64.resize(*count);
    data = out.u64.data();
  }
  n = ReadAt(fd.get(), data, *count * size, data_start);
  if (n < 0) return IoError(path, "read failed", static_cast<int>(-n));
  if (static_cast<uint64_t>(n) < *count * size) return Status::DataLoss(path + ": file shrank");
  return out;
}

}  // namespace pst
