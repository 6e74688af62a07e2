// The run directory's metrics history (metrics.jsonl): one JSON object per
// line, appended while `pstrain launch` runs. Lines carry "type": "progress"
// (a JobStatus poll) or "epoch" (a finished, evaluated epoch). Not
// thread-safe: one thread appends.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace pst {

class RunHistory {
 public:
  // Opens `path` for appending (creating it). kUnavailable if it cannot.
  static StatusOr<std::unique_ptr<RunHistory>> Open(const std::string& path);
  ~RunHistory();
  RunHistory(const RunHistory&) = delete;
  RunHistory& operator=(const RunHistory&) = delete;

  // Writes `record` as one compact line and flushes it, so a reader (or a
  // crash) sees whole lines only. kUnavailable on a write error.
  Status Append(const nlohmann::json& record);

  const std::string& path() const { return path_; }

 private:
  RunHistory(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  std::string path_;
  std::FILE* file_;
};

// Reads every line of a metrics.jsonl; lines that do not parse (a torn last
// line) are skipped. kNotFound if the file cannot be opened.
StatusOr<std::vector<nlohmann::json>> ReadRunHistory(const std::string& path);

}  // namespace pst
