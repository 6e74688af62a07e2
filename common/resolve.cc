#include "common/resolve.h"

#include <netdb.h>
#include <sys/socket.h>

namespace pst {

std::string TcpEndpointHost(const std::string& endpoint) {
  const std::string prefix = "tcp://";
  if (endpoint.rfind(prefix, 0) != 0) return "";
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon < prefix.size()) return "";
  std::string host = endpoint.substr(prefix.size(), colon - prefix.size());
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

Status CheckHostResolves(const std::string& host, const std::string& what) {
  if (host.empty()) return Status::InvalidArgument(what + ": no host given");
  if (host == "*") return Status::OK();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (result) freeaddrinfo(result);
  if (rc == 0) return Status::OK();
  return Status::InvalidArgument(what + ": host '" + host + "' does not resolve (" + gai_strerror(rc) +
                                 "): give a name or IP address this machine can reach");
}

}  // namespace pst
