#include "datagen/movielens.h"

#include <charconv>
#include <fstream>
#include <string_view>

#include <fmt/format.h>

#include "worker/data/feature_hash.h"

namespace pst {

namespace {

std::vector<std::string_view> SplitTabs(std::string_view line) {
  std::vector<std::string_view> fields;
  while (true) {
    const size_t tab = line.find('\t');
    fields.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) return fields;
    line.remove_prefix(tab + 1);
  }
}

template <typename T>
bool ParseWhole(std::string_view s, T* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

StatusOr<std::vector<LabelledSample>> ReadMovieLensRatings(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status::NotFound(fmt::format(
        "MovieLens export '{}' not found (run deploy/data/prepare_movielens.sh)", path));
  }
  std::string line;
  std::getline(in, line);
  if (line != "userId\tmovieId\trating\tgenres") {
    return Status::InvalidArgument(fmt::format(
        "'{}', line 1: expected the header 'userId<TAB>movieId<TAB>rating<TAB>genres'", path));
  }
  std::vector<LabelledSample> samples;
  for (uint64_t number = 2; std::getline(in, line); ++number) {
    const std::vector<std::string_view> f = SplitTabs(line);
    uint64_t user = 0, movie = 0;
    double rating = 0;
    if (f.size() != 4 || !ParseWhole(f[0], &user) || !ParseWhole(f[1], &movie) ||
        !ParseWhole(f[2], &rating) || movie >= 1'000'000 || user >= 1'000'000) {
      return Status::InvalidArgument(fmt::format(
          "'{}', line {}: expected userId, movieId (integers < 10^6), rating and genres, "
          "tab-separated", path, number));
    }
    LabelledSample s;
    s.label = rating >= 4.0 ? 1 : 0;
    s.features.push_back({1'000'000 + user, 1.0f});
    s.features.push_back({2'000'000 + movie, 1.0f});
    std::string_view genres = f[3];
    while (!genres.empty()) {
      const size_t bar = genres.find('|');
      const std::string_view genre = genres.substr(0, bar);
      s.features.push_back({3'000'000 + HashFeature(0, genre) % 1'000'000, 1.0f});
      genres.remove_prefix(bar == std::string_view::npos ? genres.size() : bar + 1);
    }
    samples.push_back(std::move(s));
  }
  return samples;
}

}  // namespace pst
