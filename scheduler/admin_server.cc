#include "scheduler/admin_server.h"

#include <utility>

#include "scheduler/dashboard_html.h"

namespace pst {

StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& bind_host,
                                                          uint16_t port,
                                                          const std::string& url_host) {
  HttpServerOptions options;
  options.bind_host = bind_host;
  options.port = port;
  auto http = HttpServer::Create(options);
  if (!http.ok()) return http.status().WithContext("admin endpoint");
  const std::string host = url_host.empty() ? (*http)->host() : url_host;
  const bool v6 = host.find(':') != std::string::npos;
  std::string url =
      "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string((*http)->port()) + "/";
  std::unique_ptr<AdminServer> admin(new AdminServer(std::move(http).value(), std::move(url)));
  admin->Publish(AdminSnapshot{});
  AdminServer* self = admin.get();
  self->http_->Handle("/", [] {
    return HttpResponse{200, "text/html; charset=utf-8", kDashboardHtml};
  });
  self->http_->Handle("/healthz", [] { return HttpResponse{200, "text/plain", "ok\n"}; });
  self->http_->Handle("/status", [self] {
    return HttpResponse{200, "application/json", RenderStatusJson(*self->Latest())};
  });
  self->http_->Handle("/metrics", [self] {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                        RenderPrometheus(*self->Latest())};
  });
  PST_RETURN_IF_ERROR(self->http_->Start());
  return admin;
}

AdminServer::~AdminServer() {
  // Handlers point at this object: stop serving before members go away.
  http_->Stop();
}

void AdminServer::Publish(AdminSnapshot snapshot) {
  auto next = std::make_shared<const AdminSnapshot>(std::move(snapshot));
  MutexLock lock(&mu_);
  snapshot_ = std::move(next);
}

std::shared_ptr<const AdminSnapshot> AdminServer::Latest() {
  MutexLock lock(&mu_);
  return snapshot_;
}

}  // namespace pst
