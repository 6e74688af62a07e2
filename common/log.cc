#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace pst {

Status InitLogging(const std::string& node_name, const std::string& level) {
  const auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return Status::InvalidArgument("--log-level: unknown level '" + level +
                                   "' (allowed: trace|debug|info|warn|error|off)");
  // Logs go to stderr so stdout stays for a command's own output.
  auto logger = spdlog::stderr_color_mt("pstrain");
  spdlog::set_default_logger(logger);
  spdlog::set_level(lvl);
  spdlog::flush_on(spdlog::level::info);
  SetLogNodeName(node_name);
  return Status::OK();
}

void SetLogNodeName(const std::string& node_name) {
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [" + node_name + "] %v");
}

}  // namespace pst
