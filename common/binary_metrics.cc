#include "common/binary_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

namespace pst {

namespace {

Status CheckLabels(std::span<const float> labels, size_t expected, const char* what) {
  if (labels.size() != expected) {
    return Status::InvalidArgument(
        fmt::format("{}: {} labels for {} predictions", what, labels.size(), expected));
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] != 0.0f && labels[i] != 1.0f) {
      return Status::InvalidArgument(
          fmt::format("{}: label {} of sample {} is not 0 or 1", what, labels[i], i));
    }
  }
  return Status::OK();
}

Status NeedBothClasses(uint64_t positives, uint64_t negatives) {
  if (positives == 0 || negatives == 0) {
    return Status::InvalidArgument(fmt::format(
        "AUC needs positive and negative labels (got {} positive, {} negative)", positives,
        negatives));
  }
  return Status::OK();
}

}  // namespace

StatusOr<double> ComputeAuc(std::span<const float> scores, std::span<const float> labels) {
  PST_RETURN_IF_ERROR(CheckLabels(labels, scores.size(), "AUC"));
  for (size_t i = 0; i < scores.size(); ++i) {
    if (std::isnan(scores[i])) {
      return Status::InvalidArgument(fmt::format("AUC: score of sample {} is NaN", i));
    }
  }
  std::vector<uint32_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return scores[a] < scores[b]; });
  // Walk the groups of equal scores from the lowest up: each positive beats
  // every negative below its group and ties with half of those in it.
  double wins = 0;
  uint64_t negatives_below = 0, positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    uint64_t pos = 0, neg = 0;
    for (; j < order.size() && scores[order[j]] == scores[order[i]]; ++j) {
      (labels[order[j]] == 1.0f ? pos : neg) += 1;
    }
    wins += static_cast<double>(pos) * (static_cast<double>(negatives_below) + 0.5 * neg);
    negatives_below += neg;
    positives += pos;
    i = j;
  }
  PST_RETURN_IF_ERROR(NeedBothClasses(positives, negatives_below));
  return wins / (static_cast<double>(positives) * static_cast<double>(negatives_below));
}

StatusOr<double> ComputeLogLoss(std::span<const float> probabilities,
                                std::span<const float> labels) {
  PST_RETURN_IF_ERROR(CheckLabels(labels, probabilities.size(), "log-loss"));
  if (probabilities.empty()) return Status::InvalidArgument("log-loss: no samples");
  constexpr double kEps = 1e-7;
  double sum = 0;
  for (size_t i = 0; i < probabilities.size(); ++i) {
    const double p = probabilities[i];
    if (!(p >= 0.0 && p <= 1.0)) {
      return Status::InvalidArgument(
          fmt::format("log-loss: probability {} of sample {} is not in [0, 1]", p, i));
    }
    const double q = std::clamp(p, kEps, 1.0 - kEps);
    sum -= labels[i] == 1.0f ? std::log(q) : std::log(1.0 - q);
  }
  return sum / static_cast<double>(probabilities.size());
}

void BinnedAuc::Add(double score, float label) {
  const double clamped = std::clamp(std::isnan(score) ? 0.0 : score, 0.0, 1.0);
  const size_t bin = std::min(pos_.size() - 1, static_cast<size_t>(clamped * pos_.size()));
  (label > 0.5f ? pos_ : neg_)[bin] += 1;
}

StatusOr<double> BinnedAuc::Auc() const {
  double wins = 0;
  uint64_t negatives_below = 0, positives = 0;
  for (size_t b = 0; b < pos_.size(); ++b) {
    wins += static_cast<double>(pos_[b]) * (static_cast<double>(negatives_below) + 0.5 * neg_[b]);
    negatives_below += neg_[b];
    positives += pos_[b];
  }
  PST_RETURN_IF_ERROR(NeedBothClasses(positives, negatives_below));
  return wins / (static_cast<double>(positives) * static_cast<double>(negatives_below));
}

}  // namespace pst
