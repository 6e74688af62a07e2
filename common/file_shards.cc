#include "common/file_shards.h"

#include <filesystem>

namespace pst {

StatusOr<std::vector<FileRange>> PlanFileShards(const std::vector<std::string>& paths,
                                                uint64_t target_bytes) {
  if (target_bytes == 0) return Status::InvalidArgument("data shards: target size must be > 0");
  std::vector<FileRange> shards;
  for (const std::string& path : paths) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) {
      return Status::NotFound("data file '" + path + "' does not exist (check the job's data paths)");
    }
    if (!std::filesystem::is_regular_file(status)) {
      return Status::InvalidArgument("data file '" + path + "' is not a regular file");
    }
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) return Status::Unavailable("data file '" + path + "': " + ec.message());
    const uint64_t n = (size + target_bytes - 1) / target_bytes;
    for (uint64_t i = 0; i < n; ++i) {
      // size * i / n without overflow for any size below 2^64.
      auto cut = [&](uint64_t k) {
        return static_cast<uint64_t>(static_cast<unsigned __int128>(size) * k / n);
      };
      shards.push_back({path, cut(i), cut(i + 1)});
    }
  }
  return shards;
}

}  // namespace pst
