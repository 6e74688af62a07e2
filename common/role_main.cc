#include "common/role_main.h"

#include <csignal>
#include <cstdio>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "common/cpu_affinity.h"
#include "common/log.h"

namespace pst {

Status RunUntilSignalled(const std::function<Status()>& run,
                         const std::function<void()>& on_signal) {
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int /*signo*/) {
    if (!ec) on_signal();
  });
  std::thread signal_thread([&io] { io.run(); });
  Status result = run();
  io.stop();
  signal_thread.join();
  return result;
}

std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    const std::string program = app.get_name();
    std::fprintf(stderr, "%s: error: %s (see %s --help)\n", program.c_str(), e.what(),
                 program.c_str());
    return 2;
  }
  return std::nullopt;
}

void AddCpusFlag(CLI::App& app, std::string* cpus) {
  app.add_option("--cpus", *cpus, "Run every thread of this process on these CPUs (e.g. 1 or 2-3)");
}

Status ApplyCpusFlag(const std::string& cpus) {
  if (cpus.empty()) return Status::OK();
  PST_ASSIGN_OR_RETURN(const std::vector<int> list, ParseCpuList(cpus));
  PST_RETURN_IF_ERROR(PinCallingThread(list));
  PST_LOG_INFO("running on CPUs {} (--cpus)", FormatCpuList(AllowedCpus()));
  return Status::OK();
}

void AddKeyDirFlag(CLI::App& app, std::string* key_dir) {
  app.add_option("--key-dir", *key_dir,
                 "The cluster's key directory (pstrain keygen DIR): encrypt and authenticate every "
                 "connection with CurveZMQ");
}

StatusOr<std::shared_ptr<const ClusterKeys>> LoadKeyDir(const std::string& key_dir) {
  if (key_dir.empty()) return std::shared_ptr<const ClusterKeys>();
  PST_ASSIGN_OR_RETURN(ClusterKeys keys, LoadClusterKeys(key_dir));
  return std::make_shared<const ClusterKeys>(std::move(keys));
}

int ExitCodeFor(const std::string& program, const Status& status) {
  if (status.ok()) return 0;
  std::fprintf(stderr, "%s: error: %s\n", program.c_str(), status.message().c_str());
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace pst
