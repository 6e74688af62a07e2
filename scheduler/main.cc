// pstrain-scheduler: coordinates one job. Parses flags (and an optional job
// file) into SchedulerOptions and runs the scheduler to the job's end.
#include <sched.h>

#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include "common/cpu_affinity.h"
#include "common/job_file.h"
#include "common/log.h"
#include "common/role_main.h"
#include "scheduler/scheduler.h"

namespace {

// Without --cpus the scheduler keeps every thread on the CPU it starts on. Its
// loop and ZeroMQ's I/O thread hand each message to each other; on one CPU
// that is a plain switch, across two a cross-CPU wake-up, which cost a third
// of the scheduler's CPU per heartbeat on a 2-core VM (README, "Scheduler at
// scale"). The scheduler needs a few percent of one core.
void StayOnThisCpu() {
  const int cpu = sched_getcpu();
  if (cpu < 0) return;  // unknown: leave the placement to the kernel
  const pst::Status s = pst::PinCallingThread({cpu});
  if (s.ok()) {
    PST_LOG_INFO("running on CPU {} (--cpus LIST to choose)", cpu);
  } else {
    PST_LOG_WARN("cannot stay on CPU {}, the kernel places the threads: {}", cpu, s.message());
  }
}

}  // namespace

int main(int argc, char** argv) {
  pst::SchedulerOptions options;
  std::string job_file, endpoint_file, log_level = "info";
  uint64_t hb_ms = options.heartbeat_interval.count(), hb_timeout_ms = options.heartbeat_timeout.count(),
           form_ms = options.form_timeout.count(),
           recovery_ms = options.recovery_timeout.count();
  CLI::App app{"pstrain scheduler: registers nodes, leases data shards, tracks the job.",
               "pstrain-scheduler"};
  app.footer(
      "Examples:\n"
      "  pstrain-scheduler --job examples/fashion_mnist_mlp.toml --bind 0.0.0.0 --port 7000\n"
      "  pstrain-scheduler --admin-port 8080     # dashboard at http://127.0.0.1:8080/\n"
      "  pstrain-scheduler --admin-port -1       # no HTTP admin endpoint\n"
      "With --endpoint-file F, the admin URL is written to F.admin.\n"
      "Without --cpus every thread stays on the CPU the scheduler starts on.");
  app.add_option("--job", job_file, "Job file (TOML); without it the default job runs");
  // These override the job file's [network] section.
  auto* bind = app.add_option("--bind", options.bind_host, "Interface to listen on (IP or 0.0.0.0)")
                   ->capture_default_str();
  auto* port = app.add_option("--port", options.port, "TCP port (0 = any free port)")->capture_default_str();
  auto* advertise =
      app.add_option("--advertise", options.advertise_host, "Host/IP nodes use to reach the scheduler");
  app.add_option("--endpoint-file", endpoint_file,
                 "Write the scheduler's address (tcp://HOST:PORT) to this file once listening");
  auto* hb = app.add_option("--heartbeat-ms", hb_ms, "Heartbeat interval for all nodes")->capture_default_str();
  auto* hb_timeout =
      app.add_option("--heartbeat-timeout-ms", hb_timeout_ms, "Silence after which a node is dead")
          ->capture_default_str();
  auto* hb_rate = app.add_option("--max-heartbeats-per-second", options.max_heartbeats_per_second,
                                 "Heartbeat budget of the whole job: more nodes lengthen the interval "
                                 "(0 = always --heartbeat-ms)")
                      ->capture_default_str();
  app.add_option("--form-timeout-ms", form_ms, "How long to wait for every node to register")
      ->capture_default_str();
  auto* admin_bind = app.add_option("--admin-bind", options.admin_bind,
                 "Interface of the HTTP admin endpoint (dashboard, /status, /metrics)")
      ->capture_default_str();
  auto* admin_port = app.add_option("--admin-port", options.admin_port,
                 "TCP port of the admin endpoint (0 = any free port, -1 = disabled)")
      ->capture_default_str();
  app.add_option("--state-dir", options.state_dir,
                 "RocksDB job store; with a job in it, take that job over (after a crash)");
  app.add_flag("--resume", options.resume,
               "With --state-dir: resume the stored job after every process was stopped");
  app.add_option("--recovery-timeout-ms", recovery_ms,
                 "How long a job waits for a dead PS to be replaced before it fails")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  std::string cpus;
  pst::AddCpusFlag(app, &cpus);
  std::string key_dir;
  pst::AddKeyDirFlag(app, &key_dir);
  if (auto code = pst::ParseFlags(app, argc, argv)) return *code;
  options.heartbeat_interval = std::chrono::milliseconds(hb_ms);
  options.heartbeat_timeout = std::chrono::milliseconds(hb_timeout_ms);
  options.form_timeout = std::chrono::milliseconds(form_ms);
  options.recovery_timeout = std::chrono::milliseconds(recovery_ms);
  pst::Status s = pst::InitLogging("scheduler", log_level);
  if (!s.ok()) return pst::ExitCodeFor("pstrain-scheduler", s);
  if (cpus.empty()) {
    StayOnThisCpu();
  } else {
    s = pst::ApplyCpusFlag(cpus);
    if (!s.ok()) return pst::ExitCodeFor("pstrain-scheduler", s);
  }
  if (!job_file.empty()) {
    auto job = pst::LoadJobFile(job_file);
    if (!job.ok()) return pst::ExitCodeFor("pstrain-scheduler", job.status());
    options.job = std::move(job).value();
    const pst::NetworkSpec& n = options.job.network;
    if (!bind->count()) options.bind_host = n.bind;
    if (!port->count()) options.port = static_cast<uint16_t>(n.scheduler_port);
    if (!advertise->count()) options.advertise_host = n.advertise;
    if (!admin_bind->count()) options.admin_bind = n.admin_bind;
    if (!admin_port->count()) options.admin_port = n.admin_port;
    if (!hb->count()) options.heartbeat_interval = std::chrono::milliseconds(n.heartbeat_ms);
    if (!hb_timeout->count())
      options.heartbeat_timeout = std::chrono::milliseconds(n.heartbeat_timeout_ms);
    if (!hb_rate->count()) options.max_heartbeats_per_second = n.max_heartbeats_per_second;
  }

  // --key-dir overrides the job file's network.key_dir.
  auto curve = pst::LoadKeyDir(key_dir.empty() ? options.job.network.key_dir : key_dir);
  if (!curve.ok()) return pst::ExitCodeFor("pstrain-scheduler", curve.status());
  options.curve = std::move(curve).value();

  zmq::context_t ctx(1);
  auto scheduler = pst::Scheduler::Create(ctx, options);
  if (!scheduler.ok()) return pst::ExitCodeFor("pstrain-scheduler", scheduler.status());
  const std::string& admin_url = (*scheduler)->admin_url();
  if (!endpoint_file.empty()) {
    // Written to a temporary name and renamed, so a reader never sees half an
    // address. The admin URL goes first: once the endpoint file exists, so does it.
    auto write = [](const std::string& path, const std::string& text) {
      const std::string tmp = path + ".tmp";
      std::ofstream(tmp) << text << "\n";
      if (std::rename(tmp.c_str(), path.c_str()) != 0)
        return pst::Status::Unavailable("cannot write " + path);
      return pst::Status::OK();
    };
    if (!admin_url.empty()) {
      s = write(endpoint_file + ".admin", admin_url);
      if (!s.ok()) return pst::ExitCodeFor("pstrain-scheduler", s);
    }
    s = write(endpoint_file, (*scheduler)->endpoint());
    if (!s.ok()) return pst::ExitCodeFor("pstrain-scheduler", s);
  }
  s = pst::RunUntilSignalled([&] { return (*scheduler)->Run(); },
                             [&] { (*scheduler)->Shutdown(); });
  if (s.code() == pst::StatusCode::kCancelled) return 0;
  return pst::ExitCodeFor("pstrain-scheduler", s);
}
