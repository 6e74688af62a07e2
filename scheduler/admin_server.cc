#include "scheduler/admin_server.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "common/channel.h"
#include "common/control_requests.h"
#include "common/log.h"

#include "scheduler/dashboard_html.h"

namespace pst {
namespace {

HttpResponse ErrorResponse(const Status& s) {
  int code = 500;
  switch (s.code()) {
    case StatusCode::kInvalidArgument: code = 400; break;
    case StatusCode::kFailedPrecondition: code = 409; break;
    case StatusCode::kResourceExhausted: code = 429; break;
    case StatusCode::kUnavailable: code = 503; break;
    case StatusCode::kDeadlineExceeded: code = 504; break;
    default: break;
  }
  return HttpResponse{code, "text/plain; charset=utf-8", s.message() + "\n"};
}

// A whole number in [lo, hi] from the query, or kInvalidArgument naming it.
StatusOr<uint64_t> NumberParam(const std::string& query, const std::string& name, uint64_t lo,
                               uint64_t hi, std::optional<uint64_t> fallback) {
  const std::optional<std::string> v = QueryParam(query, name);
  if (!v) {
    if (fallback) return *fallback;
    return Status::InvalidArgument(fmt::format("give ?{}=N ({} to {})", name, lo, hi));
  }
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size() || n < lo || n > hi)
    return Status::InvalidArgument(fmt::format("{} must be a whole number from {} to {}, got '{}'", name, lo,
                                               hi, *v));
  return n;
}

}  // namespace

StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& bind_host,
                                                          uint16_t port,
                                                          const std::string& url_host,
                                                          AdminControl control) {
  HttpServerOptions options;
  options.bind_host = bind_host;
  options.port = port;
  options.post_token = control.token;
  auto http = HttpServer::Create(options);
  if (!http.ok()) return http.status().WithContext("admin endpoint");
  const std::string host = url_host.empty() ? (*http)->host() : url_host;
  const bool v6 = host.find(':') != std::string::npos;
  std::string url =
      "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string((*http)->port()) + "/";
  std::unique_ptr<AdminServer> admin(
      new AdminServer(std::move(http).value(), std::move(url), std::move(control)));
  admin->Publish(AdminSnapshot{});
  AdminServer* self = admin.get();
  self->http_->Handle("/", [] {
    return HttpResponse{200, "text/html; charset=utf-8", kDashboardHtml};
  });
  self->http_->Handle("/healthz", [] { return HttpResponse{200, "text/plain", "ok\n"}; });
  self->http_->Handle("/status", [self] {
    return HttpResponse{200, "application/json", RenderStatusJson(*self->Fresh())};
  });
  self->http_->Handle("/metrics", [self] {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                        RenderPrometheus(*self->Fresh())};
  });
  self->http_->HandlePost("/scale", [self](const HttpRequest& r) { return self->Scale(r); });
  self->http_->HandlePost("/checkpoint", [self](const HttpRequest& r) { return self->Checkpoint(r); });
  PST_RETURN_IF_ERROR(self->http_->Start());
  return admin;
}

AdminServer::~AdminServer() {
  // Handlers point at this object: stop serving before members go away.
  http_->Stop();
}

HttpResponse AdminServer::Scale(const HttpRequest& request) {
  auto workers = NumberParam(request.query, "workers", 1, 4096, std::nullopt);
  if (!workers.ok()) return ErrorResponse(workers.status());
  auto channel = Channel::Connect(ctx_, control_.scheduler_endpoint, {}, control_.curve.get());
  if (!channel.ok()) return ErrorResponse(channel.status());
  auto live = RequestScale(**channel, static_cast<uint32_t>(*workers), std::chrono::seconds(5));
  if (!live.ok()) return ErrorResponse(live.status());
  PST_LOG_INFO("admin endpoint: scale to {} workers (POST /scale)", *workers);
  return HttpResponse{200, "application/json",
                      fmt::format("{{\"desired_workers\": {}, \"live_workers\": {}}}\n", *workers, *live)};
}

HttpResponse AdminServer::Checkpoint(const HttpRequest& request) {
  auto timeout_s = NumberParam(request.query, "timeout_s", 1, 600, 60);
  if (!timeout_s.ok()) return ErrorResponse(timeout_s.status());
  auto channel = Channel::Connect(ctx_, control_.scheduler_endpoint, {}, control_.curve.get());
  if (!channel.ok()) return ErrorResponse(channel.status());
  auto done = RequestCheckpoint(**channel, std::chrono::seconds(*timeout_s));
  if (!done.ok()) return ErrorResponse(done.status());
  return HttpResponse{200, "application/json",
                      fmt::format("{{\"checkpoint_id\": {}, \"clock\": {}, \"duration_ms\": {:.1f}}}\n",
                                  done->id, done->clock, done->duration_ms)};
}

void AdminServer::Publish(AdminSnapshot snapshot, uint64_t answers) {
  auto next = std::make_shared<const AdminSnapshot>(std::move(snapshot));
  MutexLock lock(&mu_);
  snapshot_ = std::move(next);
  answered_ = std::max(answered_, answers);
  published_.SignalAll();
}

void AdminServer::SetOnDemand(bool on) {
  MutexLock lock(&mu_);
  on_demand_ = on;
  published_.SignalAll();
}

std::shared_ptr<const AdminSnapshot> AdminServer::Fresh() {
  const auto deadline = std::chrono::steady_clock::now() + kFreshWait;
  MutexLock lock(&mu_);
  if (!on_demand_) return snapshot_;
  // Counted under mu_, so a Publish cannot slip in between reading the count
  // and waiting (it would be missed until the next request).
  const uint64_t mine = requests_.fetch_add(1, std::memory_order_acq_rel) + 1;
  while (on_demand_ && answered_ < mine)
    if (!published_.WaitUntil(&mu_, deadline)) break;
  return snapshot_;
}

std::shared_ptr<const AdminSnapshot> AdminServer::Latest() {
  MutexLock lock(&mu_);
  return snapshot_;
}

}  // namespace pst
