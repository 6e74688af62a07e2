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
// Thread-safe: Publish() is called from the scheduler's thread; requests are
// answered on the HTTP server's own thread (common/http_server.h).
#pragma once

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

  // Replaces the snapshot the endpoints show.
  void Publish(AdminSnapshot snapshot) EXCLUDES(mu_);

 private:
  AdminServer(std::unique_ptr<HttpServer> http, std::string url, AdminControl control)
      : http_(std::move(http)), url_(std::move(url)), control_(std::move(control)) {}
  std::shared_ptr<const AdminSnapshot> Latest() EXCLUDES(mu_);
  // POST handlers (on the HTTP thread).
  HttpResponse Scale(const HttpRequest& request);
  HttpResponse Checkpoint(const HttpRequest& request);

  Mutex mu_;
  std::shared_ptr<const AdminSnapshot> snapshot_ GUARDED_BY(mu_);
  zmq::context_t ctx_{1};  // the POSTs' connections to the scheduler (HTTP thread only)
  std::unique_ptr<HttpServer> http_;
  std::string url_;
  AdminControl control_;
};

}  // namespace pst
