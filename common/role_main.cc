#include "common/role_main.h"

#include <csignal>
#include <cstdio>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

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

int ExitCodeFor(const std::string& program, const Status& status) {
  if (status.ok()) return 0;
  std::fprintf(stderr, "%s: error: %s\n", program.c_str(), status.message().c_str());
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace pst
