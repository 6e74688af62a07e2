#include "scheduler/endpoint_probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace pst {
namespace {

// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

Status ProbeTcpEndpoint(const std::string& endpoint, std::chrono::milliseconds timeout) {
  const std::string scheme = "tcp://";
  const size_t colon = endpoint.rfind(':');
  if (endpoint.rfind(scheme, 0) != 0 || colon == std::string::npos || colon < scheme.size())
    return Status::InvalidArgument("not a tcp://host:port endpoint: " + endpoint);
  std::string host = endpoint.substr(scheme.size(), colon - scheme.size());
  const std::string port = endpoint.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int e = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); e != 0)
    return Status::Unavailable("cannot resolve " + host + ": " + gai_strerror(e));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addrs(found, freeaddrinfo);
  Fd s{socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) return Status::Internal(std::string("socket: ") + std::strerror(errno));
  if (connect(s.fd, found->ai_addr, found->ai_addrlen) == 0) return Status::OK();
  if (errno != EINPROGRESS) return Status::Unavailable(endpoint + ": " + std::strerror(errno));
  pollfd p{s.fd, POLLOUT, 0};
  const int ready = poll(&p, 1, static_cast<int>(timeout.count()));
  if (ready == 0) return Status::DeadlineExceeded("no answer from " + endpoint);
  if (ready < 0) return Status::Internal(std::string("poll: ") + std::strerror(errno));
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return Status::Unavailable(endpoint + ": " + std::strerror(err));
  return Status::OK();
}

}  // namespace pst
