// Model export in the Hugging Face safetensors format, float32 tensors only:
//
//   [8 bytes]  N, little-endian uint64
//   [N bytes]  JSON header, padded with spaces to a multiple of 8:
//              {"__metadata__": {"k": "v", ...},
//               "<name>": {"dtype": "F32", "shape": [r, c], "data_offsets": [begin, end]}, ...}
//   [rest]     tensor bytes, little-endian; data_offsets count from the first byte after
//              the header
//
// This is the layout the reference `safetensors` package reads and writes (its
// reader also requires the tensors to cover the data without gaps, which ours
// always do). All functions throw nothing and block on file I/O; they are
// thread-safe as long as no two threads write the same path at once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace pst {

struct NamedTensor {
  std::string name;
  // Row-major dimensions; empty means a scalar (one value).
  std::vector<uint64_t> shape;
  // product(shape) values.
  std::vector<float> values;
};

// A tensor to write that lives elsewhere (e.g. a slice of a model's
// parameter array): nothing is copied. data: product(shape) floats.
struct TensorView {
  std::string name;
  std::vector<uint64_t> shape;
  const float* data = nullptr;
  uint64_t size = 0;  // floats at data
};

// Writes `tensors` as F32, stored in the given order, plus `metadata` as the
// header's "__metadata__". Writes to path + ".tmp", syncs it and renames it over
// `path`, so a reader sees the old file or the complete new one, never part of
// one; on failure the .tmp file is removed.
// Returns kInvalidArgument if a tensor's values.size() != product(shape), a name
// repeats, a name is "__metadata__", or a name or metadata string is not valid
// UTF-8 (JSON cannot hold it); kUnavailable if the disk is full or I/O fails;
// kInternal for other file-system errors (missing directory, no permission).
// Error messages name the path.
Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                        const std::map<std::string, std::string>& metadata);
// WriteSafetensors from views (size plays the part of values.size()).
Status WriteSafetensorViews(const std::string& path, const std::vector<TensorView>& tensors,
                        const std::map<std::string, std::string>& metadata);

struct SafetensorsFile {
  // Sorted by position in the file (data offset).
  std::vector<NamedTensor> tensors;
  // The header's "__metadata__"; empty if there is none.
  std::map<std::string, std::string> metadata;
};

// Reads a safetensors file from any writer, as long as every tensor is F32.
// Returns kNotFound if `path` does not exist; kUnimplemented, naming the dtype,
// for a tensor of another dtype; kDataLoss if the file is truncated or corrupt
// (header length beyond the file, invalid JSON, malformed entries, offsets
// outside the data, overlapping tensors, shape that does not match the
// offsets); kUnavailable / kInternal for I/O errors. Corrupt input never
// crashes it, and it allocates no more than about the file's size.
StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path);

}  // namespace pst
