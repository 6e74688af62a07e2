// pst::HttpServer: a small HTTP/1.1 server (Boost.Beast over Asio) for admin
// endpoints such as the scheduler's /status, /metrics and dashboard. It owns
// its io_context and runs it on one thread of its own, which is where every
// handler runs. Handlers are registered per exact path and method: GET handlers
// (the query string is ignored) are open to anyone who can connect; POST
// handlers (requests that change something) run only for a request carrying
// `Authorization: Bearer <options.post_token>`, others get 401 (403 when the
// server has no token). Another method gets 405, an unknown path 404.
//
// Robustness: a request that does not parse, or whose header or body exceeds
// the limits, gets a 4xx answer (when possible) and its connection is closed;
// every read and write has a deadline; connections above max_connections are
// refused. A handler that throws answers 500. Nothing the network sends can
// crash the server or stop it from serving other connections.
//
// Thread-safe: Handle(), Start(), Stop() and the accessors may be called from
// any thread. Handlers must be thread-safe with respect to the rest of the
// program (they run on the server's thread while other threads run).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"

namespace pst {

struct HttpResponse {
  // HTTP status code. Default: 200.
  int status = 200;
  // Content-Type header. Default: text/plain; charset=utf-8.
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Builds the answer to one GET request. Runs on the server's thread.
using HttpHandler = std::function<HttpResponse()>;

// An authorised POST request.
struct HttpRequest {
  std::string path;
  std::string query;  // after '?', without it; "" if none
  std::string body;
};
// Builds the answer to one authorised POST request. Runs on the server's
// thread (other requests wait while it runs).
using HttpPostHandler = std::function<HttpResponse(const HttpRequest&)>;

// The value of `name` in a query string "a=1&b=2" (no percent-decoding:
// pstrain's parameters are numbers); nullopt when absent.
std::optional<std::string> QueryParam(const std::string& query, const std::string& name);

struct HttpServerOptions {
  // Interface (IP address) to listen on; "0.0.0.0" for all. Default: 127.0.0.1.
  std::string bind_host = "127.0.0.1";
  // TCP port; 0 picks a free one (see HttpServer::port()). Default: 0.
  uint16_t port = 0;
  // Largest request header, in bytes; larger ones get 431. Default: 8 KiB.
  size_t max_header_bytes = 8 * 1024;
  // Largest request body, in bytes; larger ones get 413. Default: 64 KiB.
  size_t max_body_bytes = 64 * 1024;
  // A connection idle (or slow to send a request or read the answer) for this
  // long is closed. Default: 15 s.
  std::chrono::milliseconds connection_timeout{15000};
  // Connections beyond this many open at once are closed at once. Default: 64.
  size_t max_connections = 64;
  // The bearer token POST requests must carry; "" refuses every POST (403).
  // Compared in constant time. Default: "".
  std::string post_token;
};

class HttpServer {
 public:
  // Binds and listens (but serves nothing before Start()). kInvalidArgument
  // for a bind_host that is not an IP address, kUnavailable if the address
  // cannot be bound (e.g. the port is taken).
  static StatusOr<std::unique_ptr<HttpServer>> Create(const HttpServerOptions& options);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Answers GET `path` (e.g. "/status") with `handler`, replacing any handler
  // the path had. May be called before or after Start().
  void Handle(const std::string& path, HttpHandler handler);
  // Answers authorised POST `path` with `handler` (see the file comment).
  void HandlePost(const std::string& path, HttpPostHandler handler);

  // Starts the server thread. kFailedPrecondition if already started or
  // stopped (a server runs at most once).
  Status Start();
  // Closes the listener and every connection and joins the server thread.
  // Blocks until a handler that is running returns. Idempotent.
  void Stop();

  // The port actually bound (useful with options.port == 0).
  uint16_t port() const;
  // The address bound, e.g. "127.0.0.1".
  const std::string& host() const;

  struct Impl;  // implementation detail (http_server.cc)

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pst
