#include "cli/supervisor.h"

#include <signal.h>

#include <fmt/format.h>

namespace pst {

Status Supervisor::Spawn(const std::string& name, const std::string& bin, std::vector<std::string> args) {
  std::string log = log_dir_ + "/" + name + ".log";
  for (char& c : log)
    if (c == ' ') c = '-';
  PST_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Start(bin_dir_ + "/" + bin, args, log));
  procs_.push_back({name, std::move(child), bin, std::move(args)});
  return Status::OK();
}

Status Supervisor::StartWorker(const std::string& endpoint, const std::string& model_path) {
  endpoint_ = endpoint;
  model_path_ = model_path;
  std::vector<std::string> args{"--scheduler", endpoint, "--model-out", model_path, "--log-level",
                                options_.log_level};
  if (!key_dir_.empty()) args.insert(args.end(), {"--key-dir", key_dir_});
  const uint32_t delay_ms = options_.step_delay_ms + (workers_started_ == 0 ? options_.straggler_delay_ms : 0);
  if (delay_ms > 0) {
    args.push_back("--step-delay-ms");
    args.push_back(std::to_string(delay_ms));
  }
  if (cpus_)
    args.insert(args.end(), {"--cpus", FormatCpuList(cpus_->shared), "--compute-cpus",
                             std::to_string(cpus_->compute[workers_started_ % cpus_->compute.size()])});
  return Spawn("worker " + std::to_string(workers_started_++), "pstrain-worker", args);
}

Status Supervisor::Restart(size_t i) {
  ++restarts_;
  const std::string name = procs_[i].name, bin = procs_[i].bin;
  const std::vector<std::string> args = procs_[i].args;
  auto again = ChildProcess::Start(bin_dir_ + "/" + bin, args, procs_[i].child.log_path());
  if (!again.ok()) return again.status().WithContext("restarting " + name);
  procs_.push_back({name, std::move(again).value(), bin, args});
  return Status::OK();
}

Status Supervisor::Poll(proto::JobState state, std::vector<std::string>* exited) {
  for (size_t i = 0; i < procs_.size(); ++i) {
    SupervisedProcess& p = procs_[i];
    if (p.ended) continue;
    auto code = p.child.Poll();
    if (!code || state == proto::JobState::DONE) continue;
    // A worker that left on request (scaled down) or ran out of work exits
    // 0; so does a PS or scheduler that saw the job end before we did, or
    // one stopped with SIGTERM: the next status tells which.
    if (*code == 0) {
      p.ended = true;
      if (!p.IsWorker() && options_.supervise) exited_cleanly_.push_back(i);
      continue;
    }
    if (p.IsWorker()) {
      ++worker_deficit_;
      ++dead_workers_;
    }
    // A dead worker costs its lease, not the job: the scheduler hands the
    // rest of it to the others. A dead PS or scheduler needs a replacement.
    const bool fatal = state == proto::JobState::FORMING ||
                       (!p.IsWorker() && (!options_.supervise || restarts_ >= options_.max_restarts));
    if (fatal)
      return Status::Aborted(fmt::format("{} exited with status {}: {} (log: {})", p.name, *code,
                                         p.child.LastLogLine(), p.child.log_path()));
    progress_.Line(fmt::format("{} exited with status {}{}", p.name, *code,
                               p.IsWorker() ? "; its lease goes back to the pool" : "; restarting it"));
    exited->push_back(p.name);
    p.ended = true;
    if (p.IsWorker()) continue;  // replaced by KeepWorkers if the job wants more workers
    // The same role again: same shard id and state directory, same port.
    PST_RETURN_IF_ERROR(Restart(i));
  }
  return Status::OK();
}

Status Supervisor::KeepWorkers(proto::JobState state, uint32_t desired) {
  if (desired > last_desired_ && last_desired_ > 0) worker_deficit_ += desired - last_desired_;
  last_desired_ = desired;
  if (!options_.supervise || state != proto::JobState::RUNNING) return Status::OK();
  uint32_t running = 0;
  for (const SupervisedProcess& p : procs_) running += p.IsWorker() && !p.ended ? 1 : 0;
  for (; worker_deficit_ > 0 && running < desired; --worker_deficit_, ++running) {
    if (dead_workers_ > 0) {
      --dead_workers_;
      ++restarts_;
    }
    Status ws = StartWorker(endpoint_, model_path_);
    if (!ws.ok()) return ws.WithContext("starting a worker");
    progress_.Line(fmt::format("started {} (the job asks for {} workers)", procs_.back().name, desired));
  }
  return Status::OK();
}

Status Supervisor::RestartStopped(proto::JobState state) {
  if (state != proto::JobState::DONE) {
    for (size_t i : exited_cleanly_) {
      if (restarts_ >= options_.max_restarts) break;
      progress_.Line(fmt::format("{} left the running job; restarting it", procs_[i].name));
      PST_RETURN_IF_ERROR(Restart(i));
    }
  }
  exited_cleanly_.clear();
  return Status::OK();
}

SupervisedProcess* Supervisor::Live(bool worker, uint32_t index, uint32_t desired) {
  uint32_t k = 0;
  for (SupervisedProcess& p : procs_) {
    if (p.ended || (worker ? !p.IsWorker() : !p.IsPs())) continue;
    if (!worker && p.name != "ps " + std::to_string(index)) continue;
    if (worker && k++ != index % std::max<uint32_t>(1, desired)) continue;
    return &p;
  }
  return nullptr;
}

void Supervisor::SignalScheduler(int signo) {
  for (SupervisedProcess& p : procs_)
    if (!p.ended && p.name == "scheduler") p.child.Signal(signo);
}

void Supervisor::StopAll(std::chrono::milliseconds grace) {
  for (SupervisedProcess& p : procs_) p.child.Signal(SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (SupervisedProcess& p : procs_) {
    const auto left = std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                 deadline - std::chrono::steady_clock::now()));
    if (!p.child.Wait(left)) p.child.Stop(std::chrono::milliseconds(0));
  }
}

void Supervisor::AwaitExit(std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (SupervisedProcess& p : procs_) {
    if (p.ended) continue;  // exited (and was handled) while the job ran
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto code = p.child.Wait(std::max(left, std::chrono::milliseconds(0)));
    if (!code) {
      progress_.Line(p.name + " did not exit after the job ended; stopping it");
      p.child.Stop(std::chrono::milliseconds(2000));
    } else if (*code != 0) {
      progress_.Line(fmt::format("warning: {} exited with status {} after the job ended (log: {})", p.name,
                                 *code, p.child.log_path()));
    }
  }
}

}  // namespace pst
