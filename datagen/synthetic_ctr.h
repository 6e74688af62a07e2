// A seeded, Criteo-like synthetic click-through data set whose labels come
// from a hidden ground-truth model, so the best achievable AUC is known.
//
// Each sample: 13 integer features and 26 categorical fields (by default).
// Field f's category is the rank r ~ Zipf(zipf_s) over its vocabulary of
// vocabulary[f] values, written as 16 hex digits of a hash of (seed, f, r) so
// ids look like Criteo's hashed strings and popular ids are not small numbers.
// Integer j is floor(Exponential(mean 2^(j mod 8))) and missing (empty) with
// probability 0.1.
//
// The hidden model (every parameter a hash of the seed and its index, so no
// table is stored, whatever the vocabulary):
//   z = bias + sum_j a_j log(1 + x_j) + sum_f w_f(r_f)
//       + sum_{f < g} <u_f(r_f), u_g(r_g)>          (4 latent factors)
//   label ~ Bernoulli(sigmoid(z))
// with a_j, w_f(r), u_f(r) uniform with standard deviations dense_scale,
// weight_scale, factor_scale. The AUC and log-loss of the true probabilities
// on the generated labels are the best any model can reach on this data.
//
// Streams: memory is independent of the number of samples (plus the 16 MiB
// histogram of the binned AUC).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace pst {

struct SyntheticCtrOptions {
  // Seed of everything (ids, hidden model, samples). Default: 1.
  uint64_t seed = 1;
  // Samples written to train and test together. Default: 1,000,000.
  uint64_t num_samples = 1'000'000;
  // Fraction of samples that go to the test file. Default: 0.1.
  double test_fraction = 0.1;
  // Integer and categorical features per sample. Defaults: 13 and 26.
  uint32_t num_dense = 13;
  uint32_t num_categorical = 26;
  // Vocabulary size per categorical field: one value for all fields, or one
  // per field; each in [1, 10^9]. Default: {1,000,000}.
  std::vector<uint64_t> vocabulary = {1'000'000};
  // Zipf exponent of the category ranks (> 0). Default: 1.1.
  double zipf_s = 1.1;
  // Hidden model scales (standard deviations) and bias. Defaults: 0.4, 0.15,
  // 0.2, -2.0.
  double weight_scale = 0.4;
  double factor_scale = 0.15;
  double dense_scale = 0.2;
  double bias = -2.0;
};

struct SyntheticCtrStats {
  uint64_t train_samples = 0;
  uint64_t test_samples = 0;
  uint64_t positives = 0;  // over both files
  // The hidden model's own probabilities scored on the generated test labels:
  // the best AUC (binned, see BinnedAuc) and log-loss any model can reach.
  double best_test_auc = 0.0;
  double best_test_log_loss = 0.0;
};

// kInvalidArgument naming the bad field.
Status ValidateSyntheticCtrOptions(const SyntheticCtrOptions& options);

// Writes Criteo-style TSV lines (see worker/data/line_formats.h) to train_path
// and test_path. kInvalidArgument for bad options, kUnavailable if a file
// cannot be written (the message names it).
StatusOr<SyntheticCtrStats> GenerateSyntheticCtr(const SyntheticCtrOptions& options,
                                                 const std::string& train_path,
                                                 const std::string& test_path);

}  // namespace pst
