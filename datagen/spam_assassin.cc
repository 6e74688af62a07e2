#include "datagen/spam_assassin.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "worker/data/feature_hash.h"

namespace pst {

std::vector<uint64_t> HashedTokens(std::string_view text, uint32_t hash_bits) {
  std::vector<uint64_t> ids;
  std::string token;
  const uint64_t mask = (uint64_t{1} << hash_bits) - 1;
  auto flush = [&]() {
    if (token.size() >= 2 && token.size() <= 40) ids.push_back(HashFeature(kSpamTokenSpace, token) & mask);
    token.clear();
  };
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      token += static_cast<char>(std::tolower(u));
    } else {
      flush();
    }
  }
  flush();
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

StatusOr<std::vector<LabelledSample>> ReadSpamAssassin(const std::string& path,
                                                       uint32_t hash_bits) {
  if (hash_bits < 1 || hash_bits > 63) {
    return Status::InvalidArgument(fmt::format("hash bits {} not in [1, 63]", hash_bits));
  }
  std::ifstream in(path);
  if (!in) {
    return Status::NotFound(fmt::format(
        "SpamAssassin export '{}' not found (run deploy/data/prepare_spam_assassin.sh)", path));
  }
  std::vector<LabelledSample> samples;
  std::string line;
  for (uint64_t number = 1; std::getline(in, line); ++number) {
    const nlohmann::json message = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!message.is_object() || !message.contains("group") || !message["group"].is_string() ||
        !message.contains("text") || !message["text"].is_string()) {
      return Status::InvalidArgument(fmt::format(
          "'{}', line {}: expected a JSON object with string fields group and text", path, number));
    }
    LabelledSample s;
    s.label = message["group"].get<std::string>().rfind("spam", 0) == 0 ? 1 : 0;
    const std::vector<uint64_t> ids = HashedTokens(message["text"].get<std::string>(), hash_bits);
    const float value = ids.empty() ? 0.0f : static_cast<float>(1.0 / std::sqrt(ids.size()));
    for (uint64_t id : ids) s.features.push_back({id, value});
    samples.push_back(std::move(s));
  }
  return samples;
}

}  // namespace pst
