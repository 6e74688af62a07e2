// pst::AdminServer: the scheduler's HTTP admin endpoint. It serves the latest
// AdminSnapshot the scheduler published:
//   GET /         the dashboard (scheduler/dashboard_html.h)
//   GET /status   JSON (RenderStatusJson)
//   GET /metrics  Prometheus text format 0.0.4 (RenderPrometheus)
//   GET /healthz  "ok" while the scheduler runs
// Thread-safe: Publish() is called from the scheduler's thread; requests are
// answered on the HTTP server's own thread (common/http_server.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/http_server.h"
#include "common/mutex.h"
#include "common/status.h"
#include "scheduler/admin_snapshot.h"

namespace pst {

class AdminServer {
 public:
  // Binds bind_host:port (port 0 = a free one) and starts serving.
  // `url_host` is the host put into url() (e.g. the advertised host when
  // binding 0.0.0.0). kInvalidArgument for a bad address, kUnavailable if it
  // cannot be bound.
  static StatusOr<std::unique_ptr<AdminServer>> Start(const std::string& bind_host, uint16_t port,
                                                      const std::string& url_host);
  ~AdminServer();  // stops and joins the server thread
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Where to point a browser, e.g. "http://127.0.0.1:8080/".
  const std::string& url() const { return url_; }
  uint16_t port() const { return http_->port(); }

  // Replaces the snapshot the endpoints show.
  void Publish(AdminSnapshot snapshot) EXCLUDES(mu_);

 private:
  AdminServer(std::unique_ptr<HttpServer> http, std::string url)
      : http_(std::move(http)), url_(std::move(url)) {}
  std::shared_ptr<const AdminSnapshot> Latest() EXCLUDES(mu_);

  Mutex mu_;
  std::shared_ptr<const AdminSnapshot> snapshot_ GUARDED_BY(mu_);
  std::unique_ptr<HttpServer> http_;
  std::string url_;
};

}  // namespace pst
