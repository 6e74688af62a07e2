#include "common/http_server.h"

#include <fcntl.h>

#include <cctype>
#include <exception>
#include <string_view>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/log.h"
#include "common/mutex.h"

namespace pst {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Session;

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions o) : options(std::move(o)) {}

  HttpHandler Find(const std::string& path) EXCLUDES(mu) {
    MutexLock lock(&mu);
    auto it = handlers.find(path);
    return it == handlers.end() ? HttpHandler() : it->second;
  }
  HttpPostHandler FindPost(const std::string& path) {
    MutexLock lock(&mu);
    auto it = post_handlers.find(path);
    return it == post_handlers.end() ? HttpPostHandler() : it->second;
  }
  void Accept();

  const HttpServerOptions options;
  std::string host;
  uint16_t port = 0;

  Mutex mu;
  std::map<std::string, HttpHandler> handlers GUARDED_BY(mu);
  std::map<std::string, HttpPostHandler> post_handlers GUARDED_BY(mu);

  enum class RunState { kCreated, kRunning, kStopped };
  Mutex run_mu;  // also serializes Start() and Stop()
  RunState run_state GUARDED_BY(run_mu) = RunState::kCreated;

  // Open connections. Touched only on the server thread, or by Stop() once
  // that thread has been joined. Declared before `io` so that it outlives the
  // sessions the io_context destroys with its pending handlers.
  std::set<Session*> sessions;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  std::thread thread;
};

namespace {

// Equal strings, in time that depends only on their lengths.
bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// 0 when `authorization` carries the server's token, else the status to answer.
int CheckBearer(std::string_view authorization, const std::string& token) {
  if (token.empty()) return 403;
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() < kScheme.size()) return 401;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i])))
      return 401;
  return ConstantTimeEqual(authorization.substr(kScheme.size()), token) ? 0 : 401;
}

HttpResponse Run(const std::string& path, const std::function<HttpResponse()>& call) {
  HttpResponse out;
  try {
    out = call();
  } catch (const std::exception& e) {
    PST_LOG_ERROR("http handler for {} failed: {}", path, e.what());
    out = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n"};
  } catch (...) {
    out = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n"};
  }
  if (out.status < 100 || out.status > 599) out.status = 500;
  return out;
}

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

// One connection: read a request, answer it, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server)
      : stream_(std::move(socket)),
        // Bounded too, so pipelined requests cannot pile up without limit.
        buffer_(server->options.max_header_bytes + server->options.max_body_bytes + 4096),
        server_(server) {
    server_->sessions.insert(this);
  }
  ~Session() { server_->sessions.erase(this); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    parser_->body_limit(server_->options.max_body_bytes);
    stream_.expires_after(server_->options.connection_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  using Response = http::response<http::string_body>;

  void OnRead(const beast::error_code& ec) {
    if (ec) {
      if (!IsHttpParseError(ec) || ec == http::error::end_of_stream) return Close();
      // A request we cannot parse: say so, then close (the stream is out of sync).
      unsigned status = 400;
      if (ec == http::error::body_limit) status = 413;
      if (ec == http::error::header_limit) status = 431;
      auto res = std::make_shared<Response>(static_cast<http::status>(status), 11);
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      res->body() = "bad request: " + ec.message() + "\n";
      res->keep_alive(false);
      res->prepare_payload();
      return Write(std::move(res), /*close=*/true);
    }
    const http::request<http::string_body> req = parser_->release();
    auto res = Answer(req);
    const bool close = !res->keep_alive();
    Write(std::move(res), close);
  }

  std::shared_ptr<Response> Answer(const http::request<http::string_body>& req) {
    auto res = std::make_shared<Response>();
    res->version(req.version());
    res->set(http::field::server, "pstrain");
    res->set(http::field::cache_control, "no-store");
    res->keep_alive(req.keep_alive());
    HttpRequest request;
    request.path = std::string(req.target());
    if (const size_t f = request.path.find('#'); f != std::string::npos) request.path.resize(f);
    if (const size_t q = request.path.find('?'); q != std::string::npos) {
      request.query = request.path.substr(q + 1);
      request.path.resize(q);
    }
    const std::string& path = request.path;
    HttpHandler get = server_->Find(path);
    HttpPostHandler post = server_->FindPost(path);
    HttpResponse out;
    if (!get && !post) {
      out.status = 404;
      out.body = "not found: " + path + "\n";
    } else if (req.method() == http::verb::get && get) {
      out = Run(path, get);
    } else if (req.method() == http::verb::post && post) {
      const beast::string_view auth = req[http::field::authorization];
      const int refused =
          CheckBearer(std::string_view(auth.data(), auth.size()), server_->options.post_token);
      if (refused == 403) {
        out = HttpResponse{403, "text/plain; charset=utf-8",
                           "forbidden: this server takes no POST requests (the job has no key "
                           "directory: see pstrain keygen)\n"};
      } else if (refused != 0) {
        out = HttpResponse{401, "text/plain; charset=utf-8",
                           "unauthorized: send Authorization: Bearer <the admin.token of the "
                           "job's key directory>\n"};
        res->set(http::field::www_authenticate, "Bearer realm=\"pstrain\"");
        PST_LOG_WARN("refused an unauthorised POST {}", path);
      } else {
        request.body = req.body();
        out = Run(path, [&] { return post(request); });
      }
    } else {
      out.status = 405;
      out.body = std::string("method not allowed: only ") + (get ? "GET" : "POST") + "\n";
      res->set(http::field::allow, get ? "GET" : "POST");
    }
    res->result(static_cast<unsigned>(out.status));
    res->set(http::field::content_type, out.content_type);
    res->body() = std::move(out.body);
    res->prepare_payload();
    return res;
  }

  void Write(std::shared_ptr<Response> res, bool close) {
    stream_.expires_after(server_->options.connection_timeout);
    Response& r = *res;
    http::async_write(stream_, r,
                      [self = shared_from_this(), res = std::move(res), close](beast::error_code ec,
                                                                               std::size_t) {
                        if (ec || close) return self->Close();
                        self->Read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpServer::Impl* server_;
};

void SetCloseOnExec(int fd) {
  const int flags = fcntl(fd, F_GETFD);
  if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor.async_accept(io, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // E.g. out of file descriptors: try again shortly rather than spin.
      PST_LOG_WARN("http accept failed: {}", ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    SetCloseOnExec(socket.native_handle());
    if (sessions.size() >= options.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Session>(std::move(socket), this)->Read();
    }
    Accept();
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const HttpServerOptions& options) {
  if (options.connection_timeout.count() <= 0 || options.max_connections == 0)
    return Status::InvalidArgument("http: connection timeout and max connections must be > 0");
  beast::error_code ec;
  const asio::ip::address addr = asio::ip::make_address(options.bind_host, ec);
  if (ec)
    return Status::InvalidArgument("http: bind address '" + options.bind_host +
                                   "' is not an IP address");
  auto impl = std::make_unique<Impl>(options);
  const tcp::endpoint want(addr, options.port);
  const std::string where = options.bind_host + ":" + std::to_string(options.port);
  impl->acceptor.open(want.protocol(), ec);
  if (ec) return Status::Unavailable("http: cannot open a socket: " + ec.message());
  SetCloseOnExec(impl->acceptor.native_handle());
  impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(want, ec);
  if (ec) return Status::Unavailable("http: cannot bind " + where + ": " + ec.message());
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("http: cannot listen on " + where + ": " + ec.message());
  const tcp::endpoint bound = impl->acceptor.local_endpoint(ec);
  if (ec) return Status::Unavailable("http: cannot read the bound port: " + ec.message());
  impl->host = bound.address().to_string();
  impl->port = bound.port();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Handle(const std::string& path, HttpHandler handler) {
  MutexLock lock(&impl_->mu);
  impl_->handlers[path] = std::move(handler);
}

void HttpServer::HandlePost(const std::string& path, HttpPostHandler handler) {
  MutexLock lock(&impl_->mu);
  impl_->post_handlers[path] = std::move(handler);
}

std::optional<std::string> QueryParam(const std::string& query, const std::string& name) {
  size_t at = 0;
  while (at <= query.size()) {
    size_t end = query.find('&', at);
    if (end == std::string::npos) end = query.size();
    const std::string_view pair(query.data() + at, end - at);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    at = end + 1;
  }
  return std::nullopt;
}

Status HttpServer::Start() {
  MutexLock lock(&impl_->run_mu);
  if (impl_->run_state != Impl::RunState::kCreated)
    return Status::FailedPrecondition("http: the server was already started");
  impl_->Accept();
  impl_->thread = std::thread([impl = impl_.get()] {
    for (;;) {
      try {
        impl->io.run();
        return;
      } catch (const std::exception& e) {
        // Handlers catch their own errors; this is a last line of defence.
        PST_LOG_ERROR("http server: {}", e.what());
      } catch (...) {
        PST_LOG_ERROR("http server: unknown exception");
      }
    }
  });
  impl_->run_state = Impl::RunState::kRunning;
  return Status::OK();
}

void HttpServer::Stop() {
  MutexLock lock(&impl_->run_mu);
  if (impl_->run_state == Impl::RunState::kStopped) return;
  if (impl_->run_state == Impl::RunState::kRunning) {
    impl_->io.stop();
    impl_->thread.join();
  }
  impl_->run_state = Impl::RunState::kStopped;
  // The server thread is gone: nothing else touches the sockets now.
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  for (Session* s : impl_->sessions) s->Close();
}

uint16_t HttpServer::port() const { return impl_->port; }

const std::string& HttpServer::host() const { return impl_->host; }

}  // namespace pst
