// NumPy's .npy array files, format version 1.0 (numpy.lib.format): what
// `numpy.load(PATH)` reads directly.
//
//   6 bytes   magic "\x93NUMPY"
//   2 bytes   version 1, 0
//   2 bytes   H, the header length, little-endian uint16
//   H bytes   ASCII Python dict literal, space-padded (numpy leaves room for
//             the first dimension to grow to 21 digits) and ending in '\n' so
//             that the data start at a multiple of 64 bytes:
//             {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//   rest      the elements, C order (row-major), little-endian
//
// Two element types: float32 ('<f4') and uint64 ('<u8'). The writer writes
// exactly the header numpy itself writes for such an array. The reader takes
// files of any writer (version 1.0, 2.0 or 3.0 headers, keys in any order) of
// those two types in C order.
// Functions throw nothing, block on file I/O, and are thread-safe as long as
// no two threads write the same path at once.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace pst {

enum class NpyType : uint8_t { kFloat32 = 0, kUint64 = 1 };

// The magic, version, length and padded header (everything before the data)
// of an array of `type` and `shape` ({} is a scalar, {n} is "(n,)").
std::string NpyHeader(NpyType type, const std::vector<uint64_t>& shape);

// Writes an array atomically (path + ".tmp", synced, renamed over path).
// kInvalidArgument if values.size() is not the product of shape; I/O errors as
// common/file_io.h IoError (kUnavailable, kInternal), naming the path.
Status WriteNpy(const std::string& path, const std::vector<uint64_t>& shape,
                std::span<const float> values);
Status WriteNpy(const std::string& path, const std::vector<uint64_t>& shape,
                std::span<const uint64_t> values);

struct NpyArray {
  NpyType type = NpyType::kFloat32;
  std::vector<uint64_t> shape;
  // The elements of the array's type; the other vector is empty.
  std::vector<float> f32;
  std::vector<uint64_t> u64;
};

// Reads an array. kNotFound for a missing file; kUnimplemented naming the
// dtype for another element type or Fortran order; kDataLoss for a file that
// is not .npy, a malformed header, or data shorter or longer than the shape
// says; I/O errors as IoError. Allocates no more than the file's size.
StatusOr<NpyArray> ReadNpy(const std::string& path);

}  // namespace pst
