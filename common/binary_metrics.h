// Quality metrics of a binary classifier: AUC (area under the ROC curve) and
// log-loss, computed exactly from (predicted probability, 0/1 label) pairs.
// Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"

namespace pst {

// Exact AUC: the probability that a random positive scores above a random
// negative, a tie counting one half (the Mann-Whitney U statistic over P * N).
// O(n log n). kInvalidArgument if the spans differ in size, a label is not 0 or
// 1, a score is NaN, or the labels hold no positive or no negative.
StatusOr<double> ComputeAuc(std::span<const float> scores, std::span<const float> labels);

// Mean of -(y log p + (1 - y) log(1 - p)) with p clamped to [eps, 1 - eps],
// eps = 1e-7. kInvalidArgument for differing sizes, no samples, a label not 0/1
// or a probability outside [0, 1] (or NaN).
StatusOr<double> ComputeLogLoss(std::span<const float> probabilities,
                                std::span<const float> labels);

// Collects predictions batch by batch and computes both metrics at the end.
// Holds 8 bytes per sample. Thread-compatible.
class BinaryMetrics {
 public:
  void Add(float probability, float label) {
    probabilities_.push_back(probability);
    labels_.push_back(label);
  }
  size_t size() const { return labels_.size(); }
  StatusOr<double> Auc() const { return ComputeAuc(probabilities_, labels_); }
  StatusOr<double> LogLoss() const { return ComputeLogLoss(probabilities_, labels_); }
  void Clear() {
    probabilities_.clear();
    labels_.clear();
  }

 private:
  std::vector<float> probabilities_;
  std::vector<float> labels_;
};

// AUC over a stream too long to keep: scores in [0, 1] are counted in
// `num_bins` equal bins per class, and pairs within one bin count as ties, so
// the result differs from the exact AUC by at most (pairs sharing a bin) / (2 P N).
// Memory: 16 bytes per bin. Thread-compatible.
class BinnedAuc {
 public:
  // REQUIRES: num_bins >= 1.
  explicit BinnedAuc(size_t num_bins = 1 << 20) : pos_(num_bins), neg_(num_bins) {}
  // Scores outside [0, 1] are clamped into the end bins; label > 0.5 is positive.
  void Add(double score, float label);
  // kInvalidArgument if no positive or no negative was added.
  StatusOr<double> Auc() const;

 private:
  std::vector<uint64_t> pos_;
  std::vector<uint64_t> neg_;
};

}  // namespace pst
