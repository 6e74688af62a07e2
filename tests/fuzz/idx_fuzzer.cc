// Fuzz target: the IDX reader (worker/idx_reader.h), raw or gzip-compressed.
// The input is two files, images then labels, split at the first "PSTFRAME"
// (no separator: the same bytes for both). A data set that loads must be
// consistent: num_samples rows of num_features values in [0, 1], and labels
// in [0, num_classes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>

#include "tests/fuzz/frames.h"
#include "tests/fuzz/temp_file.h"
#include "worker/idx_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = pst::fuzz::SplitFrames(data, size);
  const auto& images = parts[0];
  const auto& labels = parts.size() > 1 ? parts[1] : parts[0];
  const std::string images_path = pst::fuzz::WriteScratch(
      "images", reinterpret_cast<const uint8_t*>(images.data()), images.size());
  const std::string labels_path = pst::fuzz::WriteScratch(
      "labels", reinterpret_cast<const uint8_t*>(labels.data()), labels.size());
  auto ds = pst::LoadIdxDataset(images_path, labels_path, /*limit=*/size % 4);
  if (!ds.ok()) return 0;
  bool ok = ds->features.size() == ds->num_samples * ds->num_features &&
            ds->labels.size() == ds->num_samples;
  for (float f : ds->features) ok = ok && f >= 0.0f && f <= 1.0f;
  for (int32_t l : ds->labels) ok = ok && l >= 0 && static_cast<size_t>(l) < ds->num_classes;
  if (!ok) {
    std::cerr << "idx_fuzzer: inconsistent data set: " << ds->num_samples << " samples, "
              << ds->num_features << " features, " << ds->num_classes << " classes\n";
    std::abort();
  }
  return 0;
}
