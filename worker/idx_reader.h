// Reads the IDX format used by MNIST / Fashion-MNIST, optionally gzip-compressed
// (the `.gz` files Debian's dataset-fashion-mnist installs). Every failure is a
// Status whose message names the file and what is wrong with it; no input,
// however corrupt, aborts the process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/dataset.h"

namespace pst {

// Returns the whole (decompressed if gzip, else raw) content of `path`.
// kNotFound if the file does not exist, kDataLoss if it is a truncated or
// corrupt gzip stream, kInvalidArgument if it would exceed max_bytes.
StatusOr<std::vector<uint8_t>> ReadMaybeGzipFile(const std::string& path,
                                                 uint64_t max_bytes = 1ull << 31);

// Loads an IDX image file (magic 0x00000803, uint8 pixels) and an IDX label file
// (magic 0x00000801, uint8 labels) into a Dataset with pixels scaled to [0,1].
// kInvalidArgument / kDataLoss for a bad magic number, dimensions that do not
// match the payload size (truncated file), or image and label counts that differ.
// limit > 0 keeps only the first `limit` samples.
StatusOr<Dataset> LoadIdxDataset(const std::string& images_path, const std::string& labels_path,
                                 uint64_t limit = 0);

// Checks that all four files exist in `dir` without reading them (same
// kNotFound errors as LoadFashionMnist).
Status CheckFashionMnistFiles(const std::string& dir);


// Loads the Fashion-MNIST (or MNIST) training or test split from `dir`, which must
// hold train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz
// and t10k-labels-idx1-ubyte.gz (a non-.gz file of the same name is used if present).
// The error for a missing directory/file tells the user to install dataset-fashion-mnist
// or pass the right data directory.
StatusOr<Dataset> LoadFashionMnist(const std::string& dir, bool train, uint64_t limit = 0);

}  // namespace pst
