#include "cli/run_history.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace pst {

StatusOr<std::unique_ptr<RunHistory>> RunHistory::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return Status::Unavailable("cannot open " + path + ": " + std::strerror(errno));
  return std::unique_ptr<RunHistory>(new RunHistory(path, f));
}

RunHistory::~RunHistory() { std::fclose(file_); }

Status RunHistory::Append(const nlohmann::json& record) {
  std::string line;
  try {
    line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const nlohmann::json::exception& e) {
    return Status::Internal(std::string("metrics record: ") + e.what());
  }
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    return Status::Unavailable("cannot write " + path_ + ": " + std::strerror(errno));
  return Status::OK();
}

StatusOr<std::vector<nlohmann::json>> ReadRunHistory(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

}  // namespace pst
