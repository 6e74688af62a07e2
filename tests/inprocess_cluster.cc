#include "tests/inprocess_cluster.h"

#include <future>
#include <thread>

namespace pst::testing {

using std::chrono::milliseconds;

struct InProcessCluster::Role {
  std::string name;
  std::unique_ptr<zmq::context_t> ctx = std::make_unique<zmq::context_t>(1);
  std::function<void()> shutdown;
  std::thread thread;
  std::future<Status> result;
  bool joined = false;
  Status status;

  // Waits up to `timeout` for Run() to return; its status once it has.
  Status Join(milliseconds timeout) {
    if (joined) return status;
    if (!result.valid()) {  // never started
      joined = true;
      return status;
    }
    if (result.wait_for(timeout) != std::future_status::ready)
      return Status::DeadlineExceeded(name + " did not return within " +
                                      std::to_string(timeout.count()) + " ms");
    thread.join();
    joined = true;
    status = result.get();
    return status;
  }
};

void InProcessCluster::Launch(Role& role, std::function<Status()> run) {
  std::packaged_task<Status()> task(std::move(run));
  role.result = task.get_future();
  role.thread = std::thread(std::move(task));
}

StatusOr<std::unique_ptr<InProcessCluster>> InProcessCluster::Start(
    const JobSpec& job, uint32_t run_workers, const std::string& model_out_prefix) {
  std::unique_ptr<InProcessCluster> c(new InProcessCluster());
  auto role = [&c](const std::string& name) -> Role& {
    c->roles_.push_back(std::make_unique<Role>());
    c->roles_.back()->name = name;
    return *c->roles_.back();
  };
  SchedulerOptions so;
  so.job = job;
  so.admin_port = -1;
  so.form_timeout = milliseconds(30000);
  so.linger = milliseconds(2000);
  Role& sr = role("scheduler");
  PST_ASSIGN_OR_RETURN(c->scheduler_, Scheduler::Create(*sr.ctx, so));
  Scheduler* scheduler = c->scheduler_.get();
  sr.shutdown = [scheduler] { scheduler->Shutdown(); };
  c->Launch(sr, [scheduler] { return scheduler->Run(); });
  for (uint32_t i = 0; i < job.num_servers; ++i) {
    ServerOptions po;
    po.scheduler_endpoint = scheduler->endpoint();
    po.form_timeout = milliseconds(30000);
    Role& r = role("PS " + std::to_string(i));
    PST_ASSIGN_OR_RETURN(auto server, Server::Create(*r.ctx, po));
    Server* s = server.get();
    c->servers_.push_back(std::move(server));
    r.shutdown = [s] { s->Shutdown(); };
    c->Launch(r, [s] { return s->Run(); });
  }
  for (uint32_t i = 0; i < run_workers; ++i) {
    WorkerOptions wo;
    wo.scheduler_endpoint = scheduler->endpoint();
    wo.form_timeout = milliseconds(30000);
    wo.request_timeout = milliseconds(30000);
    if (!model_out_prefix.empty())
      wo.model_out = model_out_prefix + std::to_string(i) + ".safetensors";
    Role& r = role("worker " + std::to_string(i));
    PST_ASSIGN_OR_RETURN(auto worker, Worker::Create(*r.ctx, wo));
    Worker* w = worker.get();
    c->workers_.push_back(std::move(worker));
    r.shutdown = [w] { w->Shutdown(); };
    c->Launch(r, [w] { return w->Run(); });
  }
  return c;
}

StatusOr<InProcessCluster::TestWorker> InProcessCluster::JoinAsWorker() {
  TestWorker w;
  PST_ASSIGN_OR_RETURN(w.scheduler, Channel::Connect(client_ctx_, scheduler_endpoint()));
  JoinOptions join;
  join.role = proto::Role::WORKER;
  join.form_timeout = milliseconds(30000);
  Status hb_status;
  auto joined = JoinJob(*w.scheduler, join, nullptr, [&](const JoinedJob& j) {
    HeartbeaterOptions ho;
    ho.scheduler_endpoint = scheduler_endpoint();
    ho.interval = j.heartbeat_interval;
    const uint32_t rank = j.rank;
    auto hb = Heartbeater::Start(client_ctx_, ho, [rank](proto::HeartbeatRequest::Builder b) {
      b.setRole(proto::Role::WORKER);
      b.setRank(rank);
    });
    if (hb.ok())
      w.heartbeat = std::move(hb).value();
    else
      hb_status = hb.status();
  });
  PST_RETURN_IF_ERROR(joined.status());
  PST_RETURN_IF_ERROR(hb_status);
  w.joined = std::move(joined).value();
  return w;
}

Status InProcessCluster::WaitWorkersThenAll(milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
  };
  // Workers first (they end the job), then servers and the scheduler.
  for (size_t pass = 0; pass < 2; ++pass) {
    for (auto& r : roles_) {
      const bool is_worker = r->name.rfind("worker", 0) == 0;
      if (is_worker != (pass == 0)) continue;
      Status s = r->Join(std::max(left(), milliseconds(0)));
      if (!s.ok()) return s.WithContext(r->name);
    }
  }
  return Status::OK();
}

Status InProcessCluster::Stop() {
  for (auto& r : roles_)
    if (!r->joined && r->shutdown) r->shutdown();
  Status first;
  for (auto& r : roles_) {
    Status s = r->Join(milliseconds(10000));
    if (!s.ok() && s.code() != StatusCode::kCancelled && first.ok()) first = s.WithContext(r->name);
  }
  return first;
}

InProcessCluster::~InProcessCluster() {
  Stop().IgnoreError();  // the test has checked what it needs
  bool hung = false;
  for (auto& r : roles_) {
    if (r->joined) continue;
    r->thread.detach();
    hung = true;
  }
  if (!hung) return;
  // A role still runs: leak what the roles use rather than hang the test binary.
  for (auto& r : roles_) (void)r.release();
  for (auto& w : workers_) (void)w.release();
  for (auto& s : servers_) (void)s.release();
  (void)scheduler_.release();
}

}  // namespace pst::testing
