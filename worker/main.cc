// pstrain-worker: one training worker. Parses flags into WorkerOptions and
// trains until the job ends or a signal arrives.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include "common/allocator_tuning.h"
#include "common/cpu_affinity.h"
#include "common/log.h"
#include "common/role_main.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
  pst::WorkerOptions options;
  std::string log_level = "info";
  uint64_t connect_ms = options.connect_timeout.count(), form_ms = options.form_timeout.count(),
           request_ms = options.request_timeout.count();
  CLI::App app{"pstrain worker: trains on leased data shards, pushes gradients to the PS.",
               "pstrain-worker"};
  app.footer("Example:\n  pstrain-worker --scheduler tcp://10.0.0.1:7000");
  app.add_option("--scheduler", options.scheduler_endpoint, "Scheduler address (tcp://HOST:PORT)")
      ->required();
  app.add_option("--data-dir", options.data_dir,
                 "Directory with the Fashion-MNIST IDX files (default: the job's data.dir)");
  app.add_option("--model-out", options.model_out,
                 "Save the final model here (safetensors) if this worker evaluates it");
  app.add_option("--blas-threads", options.blas_threads, "OpenBLAS threads for the model math")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--step-delay-ms", options.step_delay_ms,
                 "Sleep before every step (to simulate a straggler)")->capture_default_str();
  app.add_option("--connect-timeout-ms", connect_ms, "How long to wait for the scheduler")
      ->capture_default_str();
  app.add_option("--form-timeout-ms", form_ms, "How long to wait for the whole cluster to register")
      ->capture_default_str();
  app.add_option("--request-timeout-ms", request_ms, "Longest wait for a PS or scheduler answer")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  std::string cpus, compute_cpus;
  pst::AddCpusFlag(app, &cpus);
  std::string key_dir;
  pst::AddKeyDirFlag(app, &key_dir);
  app.add_option("--compute-cpus", compute_cpus,
                 "Run the training thread on these CPUs (e.g. 1), its network threads on --cpus");
  if (auto code = pst::ParseFlags(app, argc, argv)) return *code;
  pst::KeepFreedMemoryForReuse();
  options.connect_timeout = std::chrono::milliseconds(connect_ms);
  options.form_timeout = std::chrono::milliseconds(form_ms);
  options.request_timeout = std::chrono::milliseconds(request_ms);
  pst::Status s = pst::InitLogging("worker", log_level);
  if (!s.ok()) return pst::ExitCodeFor("pstrain-worker", s);
  s = pst::ApplyCpusFlag(cpus);
  if (!s.ok()) return pst::ExitCodeFor("pstrain-worker", s);
  if (!compute_cpus.empty()) {
    auto list = pst::ParseCpuList(compute_cpus);
    if (!list.ok()) return pst::ExitCodeFor("pstrain-worker", list.status().WithContext("--compute-cpus"));
    options.compute_cpus = std::move(list).value();
  }

  auto curve = pst::LoadKeyDir(key_dir);
  if (!curve.ok()) return pst::ExitCodeFor("pstrain-worker", curve.status());
  options.curve = std::move(curve).value();

  zmq::context_t ctx(1);
  auto worker = pst::Worker::Create(ctx, options);
  if (!worker.ok()) return pst::ExitCodeFor("pstrain-worker", worker.status());
  s = pst::RunUntilSignalled([&] { return (*worker)->Run(); }, [&] { (*worker)->Shutdown(); });
  return pst::ExitCodeFor("pstrain-worker", s);
}
