// pst::AdminServer: the scheduler's HTTP admin endpoint. It serves the latest
// AdminSnapshot the scheduler published:
//   GET /         the dashboard (scheduler/dashboard_html.h)
//   GET /status   JSON (RenderStatusJson)
//   GET /metrics  Prometheus text format 0.0.4 (RenderPrometheus)
//   GET /healthz  "ok" while the scheduler runs
// and, for a job with a key directory, requests that change the job, which
// need `Authorization: Bearer <admin.token>` (common/http_server.h):
//   POST /scale?workers=N         as `pstrain scale --workers N`
//   POST /checkpoint?timeout_s=S  as `pstrain checkpoint` (answers once the
//                                 checkpoint is complete; default 60 s)
// The POSTs are sent to the scheduler's own ZeroMQ endpoint, as the CLI does;
// the answer is JSON, or the error as text with a 4xx/5xx status.
// Snapshots on demand: while the scheduler's loop serves them (SetOnDemand),
// a GET of /status or /metrics asks it for a fresh snapshot and waits for it
// (at most kFreshWait), so none is built while nobody reads and none served
// is older than the request.
// Thread-safe: Publish(), Requests() and SetOnDemand() are called from the
// scheduler's thread; requests are answered on the HTTP server's own thread
// (common/http_server.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "common/cluster_keys.h"
#include "common/http_server.h"
#include "common/mutex.h"
#include "common/status.h"
#include "scheduler/admin_snapshot.h"

namespace pst {

// What the admin endpoint's POSTs need.
struct AdminControl {
  // The bearer token POSTs must carry; "" refuses them all (403).
  std::string token;
  // Where the scheduler's ZeroMQ endpoint is reached from this process, and
  // the cluster's keys to reach it with (null: plain TCP).
  std::string scheduler_endpoint;
  std::shared_ptr<const ClusterKeys> curve;
};

class AdminServer {
 public:
  // Binds bind_host:port (port 0 = a free one) and starts serving.
  // `url_host` is the host put into url() (e.g. the advertised host when
  // binding 0.0.0.0). kInvalidArgument for a bad address, kUnavailable if it
  // cannot be bound.
  static StatusOr<std::unique_ptr<AdminServer>> Start(const std::string& bind_host, uint16_t port,
                                                      const std::string& url_host,
                                                      AdminControl control = {});
  ~AdminServer();  // stops and joins the server thread
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Where to point a browser, e.g. "http://127.0.0.1:8080/".
  const std::string& url() const { return url_; }
  uint16_t port() const { return http_->port(); }

  // Replaces the snapshot the endpoints show. `answers`: the Requests()
  // count read before the snapshot was built; the GETs up to it are answered
  // with this one.
  void Publish(AdminSnapshot snapshot, uint64_t answers = 0) EXCLUDES(mu_);
  // How many fresh snapshots GETs asked for so far: when it moved since the
  // last Publish, the scheduler's loop publishes one. Cheap (an atomic read).
  uint64_t Requests() const { return requests_.load(std::memory_order_acquire); }
  // true: GETs wait for a fresh snapshot (the scheduler's loop runs); false:
  // they serve the latest at once, and waiting ones are answered now.
  void SetOnDemand(bool on) EXCLUDES(mu_);
  // Longest a GET waits for a fresh snapshot before it serves the latest
  // (the scheduler's loop may be busy, say probing a PS endpoint).
  static constexpr std::chrono::milliseconds kFreshWait{1000};

 private:
  AdminServer(std::unique_ptr<HttpServer> http, std::string url, AdminControl control)
      : http_(std::move(http)), url_(std::move(url)), control_(std::move(control)) {}
  std::shared_ptr<const AdminSnapshot> Latest() EXCLUDES(mu_);
  // Latest() when not on demand; else asks for a fresh snapshot and waits for it.
  std::shared_ptr<const AdminSnapshot> Fresh() EXCLUDES(mu_);
  // POST handlers (on the HTTP thread).
  HttpResponse Scale(const HttpRequest& request);
  HttpResponse Checkpoint(const HttpRequest& request);

  Mutex mu_;
  CondVar published_;  // signalled by Publish and SetOnDemand
  std::shared_ptr<const AdminSnapshot> snapshot_ GUARDED_BY(mu_);
  std::atomic<uint64_t> requests_{0};  // fresh snapshots asked for
  uint64_t answered_ GUARDED_BY(mu_) = 0;  // requests the latest snapshot answers
  bool on_demand_ GUARDED_BY(mu_) = false;
  zmq::context_t ctx_{1};  // the POSTs' connections to the scheduler (HTTP thread only)
  std::unique_ptr<HttpServer> http_;
  std::string url_;
  AdminControl control_;
};

}  // namespace pst
