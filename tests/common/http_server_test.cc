#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

namespace pst {
namespace {

using Clock = std::chrono::steady_clock;

// A raw TCP client on 127.0.0.1: sends bytes, reads until the peer closes or
// `timeout` passes. Returns what was read; *closed says whether the peer closed.
std::string Exchange(uint16_t port, const std::string& request, bool* closed = nullptr,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  bool eof = false;
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left))) <= 0) continue;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      eof = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (closed) *closed = eof;
  return out;
}

std::string Get(uint16_t port, const std::string& path) {
  return Exchange(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

int StatusOf(const std::string& response) {
  // "HTTP/1.1 200 OK"
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return -1;
  return std::stoi(response.substr(9, 3));
}

std::string BodyOf(const std::string& response) {
  const size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options = {}) {
  auto server = HttpServer::Create(options);
  REQUIRE(server.ok());
  (*server)->Handle("/hello", [] { return HttpResponse{200, "text/plain", "hello\n"}; });
  (*server)->Handle("/json", [] { return HttpResponse{200, "application/json", "{\"a\":1}"}; });
  (*server)->Handle("/throws", []() -> HttpResponse { throw std::runtime_error("boom"); });
  REQUIRE((*server)->Start().ok());
  return std::move(server).value();
}

TEST_CASE("HttpServer: binds a free port on 127.0.0.1 and serves a handler", "[common]") {
  auto server = StartServer();
  CHECK(server->port() != 0);
  CHECK(server->host() == "127.0.0.1");
  const std::string r = Get(server->port(), "/hello");
  CHECK(StatusOf(r) == 200);
  CHECK(BodyOf(r) == "hello\n");
  CHECK(r.find("Content-Type: text/plain") != std::string::npos);
  // The query string is not part of the path.
  const std::string q = Get(server->port(), "/json?x=1");
  CHECK(StatusOf(q) == 200);
  CHECK(BodyOf(q) == "{\"a\":1}");
  CHECK(q.find("Content-Type: application/json") != std::string::npos);
}

TEST_CASE("HttpServer: unknown path is 404, other methods are 405", "[common]") {
  auto server = StartServer();
  CHECK(StatusOf(Get(server->port(), "/nope")) == 404);
  const std::string post = Exchange(server->port(),
                                    "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                    "Connection: close\r\n\r\nhi");
  CHECK(StatusOf(post) == 405);
  CHECK(post.find("Allow: GET") != std::string::npos);
}

std::string Post(uint16_t port, const std::string& path, const std::string& authorization) {
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n";
  if (!authorization.empty()) req += "Authorization: " + authorization + "\r\n";
  return Exchange(port, req + "\r\n");
}

TEST_CASE("HttpServer: POST handlers need the bearer token, GET stays open", "[common]") {
  HttpServerOptions options;
  options.post_token = std::string(64, 'a') + "b";
  auto server = StartServer(options);
  std::atomic<int> calls{0};
  std::string seen_query;
  server->HandlePost("/act", [&](const HttpRequest& r) {
    ++calls;
    seen_query = r.query;
    return HttpResponse{200, "application/json", "{}"};
  });
  const uint16_t port = server->port();
  const std::string bad_token = std::string(64, 'a') + "c";
  for (const std::string& auth : {std::string(), "Bearer " + bad_token, "Bearer " + options.post_token + "x",
                                  "Basic " + options.post_token, std::string("Bearer ")}) {
    INFO(auth);
    const std::string r = Post(port, "/act?n=3", auth);
    CHECK(StatusOf(r) == 401);
    CHECK(r.find("WWW-Authenticate: Bearer") != std::string::npos);
  }
  CHECK(calls == 0);
  const std::string ok = Post(port, "/act?n=3", "Bearer " + options.post_token);
  CHECK(StatusOf(ok) == 200);
  CHECK(calls == 1);
  CHECK(seen_query == "n=3");
  CHECK(StatusOf(Post(port, "/act", "bearer " + options.post_token)) == 200);  // scheme is case-insensitive
  // GET pages need nothing; a GET of a POST-only path and a POST of a GET path are 405.
  CHECK(StatusOf(Get(port, "/hello")) == 200);
  CHECK(StatusOf(Get(port, "/act")) == 405);
  CHECK(StatusOf(Post(port, "/hello", "Bearer " + options.post_token)) == 405);
  server->Stop();
}

TEST_CASE("HttpServer: without a token every POST is forbidden", "[common]") {
  auto server = StartServer();
  bool called = false;
  server->HandlePost("/act", [&](const HttpRequest&) {
    called = true;
    return HttpResponse{};
  });
  CHECK(StatusOf(Post(server->port(), "/act", "Bearer ")) == 403);
  CHECK(StatusOf(Post(server->port(), "/act", "")) == 403);
  CHECK_FALSE(called);
  server->Stop();
}

TEST_CASE("QueryParam: finds a parameter by exact name", "[common]") {
  CHECK(QueryParam("workers=3&x=1", "workers") == std::optional<std::string>("3"));
  CHECK(QueryParam("x=1&workers=3", "workers") == std::optional<std::string>("3"));
  CHECK(QueryParam("workers", "workers") == std::optional<std::string>(""));
  CHECK_FALSE(QueryParam("workerss=3", "workers").has_value());
  CHECK_FALSE(QueryParam("", "workers").has_value());
}

TEST_CASE("HttpServer: a throwing handler is a 500, and the server keeps serving", "[common]") {
  auto server = StartServer();
  CHECK(StatusOf(Get(server->port(), "/throws")) == 500);
  CHECK(StatusOf(Get(server->port(), "/hello")) == 200);
}

TEST_CASE("HttpServer: keep-alive serves several requests on one connection", "[common]") {
  auto server = StartServer();
  const std::string two =
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\nConnection: "
      "close\r\n\r\n";
  const std::string r = Exchange(server->port(), two);
  CHECK(r.find("hello\n") != std::string::npos);
  CHECK(r.find("{\"a\":1}") != std::string::npos);
}

TEST_CASE("HttpServer: malformed and oversized requests close the connection only", "[common]") {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  options.max_body_bytes = 100;
  auto server = StartServer(options);
  bool closed = false;
  const std::string garbage = Exchange(server->port(), "\x01\x02\xff garbage\r\n\r\n", &closed);
  CHECK(closed);
  CHECK(StatusOf(garbage) == 400);
  const std::string bad_version = Exchange(server->port(), "GET /hello HTTP/9.x\r\n\r\n", &closed);
  CHECK(closed);
  const std::string huge_header = Exchange(
      server->port(), "GET /hello HTTP/1.1\r\nX: " + std::string(4000, 'a') + "\r\n\r\n", &closed);
  CHECK(closed);
  CHECK(StatusOf(huge_header) == 431);
  const std::string huge_body = Exchange(
      server->port(),
      "GET /hello HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'b'), &closed);
  CHECK(closed);
  CHECK(StatusOf(huge_body) == 413);
  const std::string bad_length =
      Exchange(server->port(), "GET /hello HTTP/1.1\r\nContent-Length: -5\r\n\r\n", &closed);
  CHECK(closed);
  CHECK(StatusOf(bad_length) == 400);
  // Still serving.
  CHECK(StatusOf(Get(server->port(), "/hello")) == 200);
}

TEST_CASE("HttpServer: an idle connection is closed after the timeout", "[common]") {
  HttpServerOptions options;
  options.connection_timeout = std::chrono::milliseconds(200);
  auto server = StartServer(options);
  bool closed = false;
  const auto start = Clock::now();
  // Half a request line, then silence.
  Exchange(server->port(), "GET /hel", &closed, std::chrono::milliseconds(3000));
  CHECK(closed);
  CHECK(Clock::now() - start < std::chrono::milliseconds(2500));
  CHECK(StatusOf(Get(server->port(), "/hello")) == 200);
}

TEST_CASE("HttpServer: Stop is clean, idempotent and closes open connections", "[common]") {
  auto server = StartServer();
  const uint16_t port = server->port();
  // A client holding a connection open while the server stops.
  auto pending = std::async(std::launch::async, [port] {
    bool closed = false;
    Exchange(port, "GET /hel", &closed, std::chrono::milliseconds(5000));
    return closed;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let it connect
  const auto start = Clock::now();
  server->Stop();
  server->Stop();
  CHECK(Clock::now() - start < std::chrono::seconds(2));
  REQUIRE(pending.wait_for(std::chrono::seconds(6)) == std::future_status::ready);
  CHECK(pending.get());
  CHECK_FALSE(server->Start().ok());
  // Nothing listens any more.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0);
  close(fd);
}

TEST_CASE("HttpServer: Create reports bad addresses as Status", "[common]") {
  HttpServerOptions bad;
  bad.bind_host = "not-an-ip";
  auto s = HttpServer::Create(bad);
  CHECK(s.status().code() == StatusCode::kInvalidArgument);

  auto first = HttpServer::Create({});
  REQUIRE(first.ok());
  HttpServerOptions same;
  same.port = (*first)->port();
  auto taken = HttpServer::Create(same);
  CHECK(taken.status().code() == StatusCode::kUnavailable);
}

TEST_CASE("HttpServer: concurrent clients and Stop from another thread", "[common]") {
  auto server = StartServer();
  const uint16_t port = server->port();
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&] {
      for (int j = 0; j < 10; ++j)
        if (StatusOf(Get(port, "/hello")) == 200) ++ok;
    });
  for (auto& t : clients) t.join();
  CHECK(ok == 40);
  std::thread stopper([&] { server->Stop(); });
  stopper.join();
}

}  // namespace
}  // namespace pst
