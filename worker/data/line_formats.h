// Parsers for one line of the sparse data formats. Each appends one sample to
// a SparseBatch, or returns kInvalidArgument saying what is wrong with the
// line (without the file and line number, which the caller adds) and leaves
// the batch as it was. Pure functions: thread-safe on distinct batches.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "worker/data/sparse_batch.h"

namespace pst {

// libsvm / svmlight: `label id:value id:value ... [# comment]`, separated by
// spaces or tabs. The label is binary: 1 or +1 (positive), 0 or -1 (negative).
// ids are decimal uint64, values finite floats; `qid:N` tokens are ignored.
// All features go to field 0.
// REQUIRES: batch->num_fields == 1 and batch->num_dense == 0.
Status ParseLibsvmLine(std::string_view line, SparseBatch* batch);

// Criteo-style TSV: a 0/1 label, num_dense integer features, num_categorical
// categorical strings, all tab-separated (an empty field is a missing value).
struct CriteoFormat {
  // Integer features after the label. Default: 13.
  uint32_t num_dense = 13;
  // Categorical features after them. Default: 26.
  uint32_t num_categorical = 26;
  // Seed of the per-field feature hash: category string s of field f gets id
  // HashFeature(HashInts(hash_seed, f), s). An empty string (missing) is hashed
  // like any other, so each field has its own "missing" id. Default: 0.
  uint64_t hash_seed = 0;
};

// An integer feature x becomes log(1 + max(x, 0)) (missing: 0); each categorical
// field becomes one id with value 1 in its own field.
// REQUIRES: batch->num_fields == format.num_categorical, batch->num_dense ==
// format.num_dense.
Status ParseCriteoLine(std::string_view line, const CriteoFormat& format, SparseBatch* batch);

// Whether the line holds only spaces, tabs or nothing (readers skip it).
bool IsBlankLine(std::string_view line);

}  // namespace pst
