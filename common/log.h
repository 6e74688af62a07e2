// Logging: spdlog with the node's role and id on every line. Call InitLogging
// once from main(); SetLogNodeName when the node learns its rank.
#pragma once

#include <string>

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace pst {

// level: trace|debug|info|warn|error|off. kInvalidArgument for other names.
Status InitLogging(const std::string& node_name, const std::string& level);
// Changes the name shown on each line, e.g. "worker 1".
void SetLogNodeName(const std::string& node_name);

}  // namespace pst

#define PST_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define PST_LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define PST_LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define PST_LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)
