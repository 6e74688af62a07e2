// pstrain-ps: one parameter-server shard. Parses flags into ServerOptions,
// runs the server until the job ends or a signal arrives.
#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include "common/allocator_tuning.h"
#include "common/log.h"
#include "common/role_main.h"
#include "ps/server.h"

int main(int argc, char** argv) {
  pst::ServerOptions options;
  std::string log_level = "info";
  uint64_t connect_ms = options.connect_timeout.count(), form_ms = options.form_timeout.count();
  CLI::App app{"pstrain parameter server: holds a shard of the model, applies the optimizer.",
               "pstrain-ps"};
  app.footer(
      "Examples:\n  pstrain-ps --scheduler tcp://10.0.0.1:7000 --bind 0.0.0.0 --advertise 10.0.0.2\n"
      "  pstrain-ps --scheduler tcp://127.0.0.1:7000 --shard-id 1 --state-dir run/state/ps-1"
      "   # replace a dead PS");
  app.add_option("--scheduler", options.scheduler_endpoint, "Scheduler address (tcp://HOST:PORT)")
      ->required();
  app.add_option("--bind", options.bind_host, "Interface to listen on (IP or 0.0.0.0)")
      ->capture_default_str();
  app.add_option("--port", options.port, "TCP port to listen on (0 = any free port)")
      ->capture_default_str();
  app.add_option("--advertise", options.advertise_host,
                 "Host/IP workers use to reach this server (default: the bind address)");
  app.add_option("--shard-id", options.shard_id,
                 "Shard to serve (its state directory holds it); -1 = any free one")
      ->capture_default_str();
  app.add_option("--state-dir", options.state_dir,
                 "Directory of this shard's RocksDB checkpoint store (default: memory only)");
  app.add_option("--connect-timeout-ms", connect_ms, "How long to wait for the scheduler")
      ->capture_default_str();
  app.add_option("--form-timeout-ms", form_ms, "How long to wait for the whole cluster to register")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  std::string cpus;
  pst::AddCpusFlag(app, &cpus);
  std::string key_dir;
  pst::AddKeyDirFlag(app, &key_dir);
  // Limits; 0 (the default) takes the job's [network] value.
  app.add_option("--max-clients", options.max_clients,
                 "Most clients this PS answers (default: the job's network.max_clients)");
  app.add_option("--max-in-flight-per-client", options.max_in_flight_per_client,
                 "Most requests held for one client (default: the job's network.max_in_flight_per_client)");
  app.add_option("--max-frame-bytes", options.max_frame_bytes,
                 "Largest float frame accepted (default: the job's network.max_frame_bytes)");
  app.add_option("--max-ids-per-request", options.max_ids_per_request,
                 "Most ids in one sparse request (default: the job's network.max_ids_per_request)");
  if (auto code = pst::ParseFlags(app, argc, argv)) return *code;
  pst::KeepFreedMemoryForReuse();
  options.connect_timeout = std::chrono::milliseconds(connect_ms);
  options.form_timeout = std::chrono::milliseconds(form_ms);
  pst::Status s = pst::InitLogging("ps", log_level);
  if (!s.ok()) return pst::ExitCodeFor("pstrain-ps", s);
  s = pst::ApplyCpusFlag(cpus);
  if (!s.ok()) return pst::ExitCodeFor("pstrain-ps", s);

  auto curve = pst::LoadKeyDir(key_dir);
  if (!curve.ok()) return pst::ExitCodeFor("pstrain-ps", curve.status());
  options.curve = std::move(curve).value();

  zmq::context_t ctx(1);
  auto server = pst::Server::Create(ctx, options);
  if (!server.ok()) return pst::ExitCodeFor("pstrain-ps", server.status());
  s = pst::RunUntilSignalled([&] { return (*server)->Run(); }, [&] { (*server)->Shutdown(); });
  return pst::ExitCodeFor("pstrain-ps", s);
}
