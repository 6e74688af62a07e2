#include "datagen/libsvm_split.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include <fmt/format.h>

namespace pst {

StatusOr<SplitCounts> WriteShuffledSplit(std::vector<LabelledSample> samples, double test_fraction,
                                         uint64_t seed, const std::string& train_path,
                                         const std::string& test_path) {
  if (!(test_fraction >= 0 && test_fraction < 1)) {
    return Status::InvalidArgument(fmt::format("test fraction {} not in [0, 1)", test_fraction));
  }
  std::mt19937_64 rng(seed);
  for (size_t i = samples.size(); i > 1; --i) {
    std::swap(samples[i - 1], samples[rng() % i]);
  }
  const auto num_test = static_cast<size_t>(std::llround(test_fraction * samples.size()));
  std::ofstream train(train_path), test(test_path);
  if (!train || !test) {
    return Status::Unavailable(
        fmt::format("cannot write '{}'", !train ? train_path : test_path));
  }
  SplitCounts counts;
  std::string line;
  for (size_t i = 0; i < samples.size(); ++i) {
    LabelledSample& s = samples[i];
    std::sort(s.features.begin(), s.features.end());
    line.assign(1, s.label ? '1' : '0');
    for (const auto& [id, value] : s.features) fmt::format_to(std::back_inserter(line), " {}:{}", id, value);
    line += '\n';
    const bool is_test = i < num_test;
    (is_test ? test : train) << line;
    (is_test ? counts.test : counts.train) += 1;
    (is_test ? counts.test_positives : counts.train_positives) += s.label;
  }
  train.flush();
  test.flush();
  if (!train || !test) {
    return Status::Unavailable(
        fmt::format("writing '{}' failed (disk full?)", !train ? train_path : test_path));
  }
  return counts;
}

}  // namespace pst
