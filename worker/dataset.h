// An in-memory labelled data set: dense float features plus integer class labels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pst {

struct Dataset {
  size_t num_samples = 0;
  size_t num_features = 0;  // e.g. 784 for 28x28 images
  size_t num_classes = 0;   // 1 + the largest label
  // num_samples * num_features values, row-major, pixels scaled to [0, 1].
  std::vector<float> features;
  // num_samples labels in [0, num_classes).
  std::vector<int32_t> labels;

  const float* row(size_t i) const { return features.data() + i * num_features; }
};

}  // namespace pst
