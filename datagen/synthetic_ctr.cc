#include "datagen/synthetic_ctr.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>

#include <fmt/format.h>

#include "common/binary_metrics.h"
#include "common/zipf_sampler.h"
#include "worker/data/feature_hash.h"

namespace pst {

namespace {

constexpr uint32_t kFactors = 4;

// Uniform in [-sqrt(3) sd, sqrt(3) sd): standard deviation sd, from a hash.
double HashedUniform(uint64_t h, double sd) {
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  return (2.0 * u - 1.0) * std::sqrt(3.0) * sd;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

StatusOr<File> OpenForWrite(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return Status::Unavailable(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
  }
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  return File(f);
}

// The hidden model's parameters, all derived from hashes of the seed.
class HiddenModel {
 public:
  explicit HiddenModel(const SyntheticCtrOptions& o) : o_(o) {}
  double DenseWeight(uint32_t j) const {
    return HashedUniform(HashInts(HashInts(o_.seed, 0xD0), j), o_.dense_scale);
  }
  double Weight(uint32_t f, uint64_t rank) const {
    return HashedUniform(HashInts(FieldSeed(f, 0x3E), rank), o_.weight_scale);
  }
  double Factor(uint32_t f, uint64_t rank, uint32_t k) const {
    return HashedUniform(HashInts(FieldSeed(f, 0xFA + k), rank), o_.factor_scale);
  }
  // The category string of rank r in field f.
  uint64_t CategoryCode(uint32_t f, uint64_t rank) const {
    return HashInts(FieldSeed(f, 0xC0), rank);
  }

 private:
  uint64_t FieldSeed(uint32_t f, uint64_t purpose) const {
    return HashInts(HashInts(o_.seed, purpose), f);
  }
  const SyntheticCtrOptions& o_;
};

}  // namespace

Status ValidateSyntheticCtrOptions(const SyntheticCtrOptions& o) {
  if (o.num_categorical == 0) return Status::InvalidArgument("synthetic: need >= 1 categorical field");
  if (o.vocabulary.size() != 1 && o.vocabulary.size() != o.num_categorical) {
    return Status::InvalidArgument(fmt::format(
        "synthetic: give one vocabulary size or {} (one per field), not {}", o.num_categorical,
        o.vocabulary.size()));
  }
  for (uint64_t v : o.vocabulary) {
    if (v < 1 || v > 1'000'000'000) {
      return Status::InvalidArgument(fmt::format("synthetic: vocabulary {} not in [1, 10^9]", v));
    }
  }
  if (!(o.zipf_s > 0) || !std::isfinite(o.zipf_s)) {
    return Status::InvalidArgument("synthetic: zipf exponent must be > 0");
  }
  if (!(o.test_fraction >= 0 && o.test_fraction < 1)) {
    return Status::InvalidArgument("synthetic: test fraction must be in [0, 1)");
  }
  return Status::OK();
}

StatusOr<SyntheticCtrStats> GenerateSyntheticCtr(const SyntheticCtrOptions& o,
                                                 const std::string& train_path,
                                                 const std::string& test_path) {
  PST_RETURN_IF_ERROR(ValidateSyntheticCtrOptions(o));
  PST_ASSIGN_OR_RETURN(File train, OpenForWrite(train_path));
  PST_ASSIGN_OR_RETURN(File test, OpenForWrite(test_path));
  const HiddenModel model(o);
  std::vector<ZipfSampler> samplers;
  for (uint32_t f = 0; f < o.num_categorical; ++f) {
    const uint64_t vocabulary = o.vocabulary.size() == 1 ? o.vocabulary[0] : o.vocabulary[f];
    PST_ASSIGN_OR_RETURN(ZipfSampler sampler,
                         ZipfSampler::Create(vocabulary, o.zipf_s, HashInts(o.seed, f)));
    samplers.push_back(std::move(sampler));
  }
  std::vector<double> dense_weights(o.num_dense);
  for (uint32_t j = 0; j < o.num_dense; ++j) dense_weights[j] = model.DenseWeight(j);

  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  SyntheticCtrStats stats;
  BinnedAuc best_auc;
  double test_log_loss = 0;
  std::vector<uint64_t> ranks(o.num_categorical);
  std::string line;
  for (uint64_t i = 0; i < o.num_samples; ++i) {
    line.clear();
    double z = o.bias;
    for (uint32_t j = 0; j < o.num_dense; ++j) {
      line += '\t';
      if (uniform(rng) < 0.1) continue;  // missing
      const double mean = static_cast<double>(1u << (j % 8));
      const auto x = static_cast<uint64_t>(-mean * std::log1p(-uniform(rng)));
      fmt::format_to(std::back_inserter(line), "{}", x);
      z += dense_weights[j] * std::log1p(static_cast<double>(x));
    }
    double sums[kFactors] = {}, squares = 0;
    for (uint32_t f = 0; f < o.num_categorical; ++f) {
      const uint64_t rank = samplers[f].Next();
      fmt::format_to(std::back_inserter(line), "\t{:016x}", model.CategoryCode(f, rank));
      z += model.Weight(f, rank);
      for (uint32_t k = 0; k < kFactors; ++k) {
        const double u = model.Factor(f, rank, k);
        sums[k] += u;
        squares += u * u;
      }
    }
    for (double s : sums) z += 0.5 * s * s;
    z -= 0.5 * squares;
    const double p = 1.0 / (1.0 + std::exp(-z));
    const bool label = uniform(rng) < p;
    const bool is_test = uniform(rng) < o.test_fraction;
    stats.positives += label;
    if (is_test) {
      ++stats.test_samples;
      best_auc.Add(p, label ? 1.0f : 0.0f);
      test_log_loss -= std::log(std::clamp(label ? p : 1.0 - p, 1e-7, 1.0));
    } else {
      ++stats.train_samples;
    }
    std::FILE* out = is_test ? test.get() : train.get();
    std::fputc(label ? '1' : '0', out);
    std::fwrite(line.data(), 1, line.size(), out);
    std::fputc('\n', out);
  }
  for (auto [file, path] : {std::pair{train.get(), &train_path}, std::pair{test.get(), &test_path}}) {
    if (std::fflush(file) != 0 || std::ferror(file)) {
      return Status::Unavailable(fmt::format("cannot write '{}': {}", *path, std::strerror(errno)));
    }
  }
  if (stats.test_samples > 0) {
    StatusOr<double> auc = best_auc.Auc();
    stats.best_test_auc = auc.ok() ? *auc : std::nan("");
    stats.best_test_log_loss = test_log_loss / static_cast<double>(stats.test_samples);
  }
  return stats;
}

}  // namespace pst
