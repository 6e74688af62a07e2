// SparseBatch: a batch of binary-labelled samples with sparse (id, value)
// features grouped in fields, plus optional dense features. This is what the
// data readers produce and the sparse models consume. A plain value type:
// thread-compatible.
//
// Layout (CSR over "cells", one cell per (sample, field)):
//   cell c = i * num_fields + f holds the features of sample i in field f:
//   ids[offsets[c] .. offsets[c + 1]) with values[...] at the same positions.
// A libsvm file has one field (all of a line's features); a Criteo-style TSV
// line has 26 fields with one id each (value 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pst {

struct SparseBatch {
  // Sparse fields per sample (>= 1 once a reader filled the batch).
  uint32_t num_fields = 1;
  // Dense features per sample.
  uint32_t num_dense = 0;
  // One label per sample, 0 or 1.
  std::vector<float> labels;
  // size() * num_dense values, row-major.
  std::vector<float> dense;
  // size() * num_fields + 1 cell boundaries into ids/values; offsets[0] == 0.
  std::vector<uint32_t> offsets{0};
  std::vector<uint64_t> ids;
  std::vector<float> values;

  size_t size() const { return labels.size(); }
  // First feature index of cell (sample, field) and one past its last.
  uint32_t cell_begin(size_t sample, uint32_t field) const {
    return offsets[sample * num_fields + field];
  }
  uint32_t cell_end(size_t sample, uint32_t field) const {
    return offsets[sample * num_fields + field + 1];
  }
  const float* dense_row(size_t sample) const { return dense.data() + sample * num_dense; }

  // Empties the batch, keeping num_fields, num_dense and capacity.
  void Clear() {
    labels.clear();
    dense.clear();
    offsets.assign(1, 0);
    ids.clear();
    values.clear();
  }
};

}  // namespace pst
