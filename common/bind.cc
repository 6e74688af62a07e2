#include "common/bind.h"

#include <unistd.h>

#include "common/curve_socket.h"
#include "common/resolve.h"

namespace pst {

StatusOr<BoundRouter> BindRouter(zmq::context_t& ctx, const std::string& bind_host, uint16_t port,
                                 const std::string& advertise_host, const WireLimits& limits,
                                 const ClusterKeys* curve) {
  if (bind_host.empty()) return Status::InvalidArgument("--bind must not be empty");
  // Peers dial the advertised host: a name nobody can resolve would only show up
  // as a node that never answers.
  if (!advertise_host.empty()) PST_RETURN_IF_ERROR(CheckHostResolves(advertise_host, "--advertise"));
  try {
    zmq::socket_t socket(ctx, zmq::socket_type::router);
    // Twice the largest frame: a peer a little over the limit still gets an
    // error reply (RecvMessage), one far over it is dropped by ZeroMQ before
    // the frame is buffered whole.
    const int64_t max_msg = static_cast<int64_t>(2 * limits.max_floats_per_frame * sizeof(float) +
                                                 limits.max_envelope_bytes);
    PST_RETURN_IF_ERROR(ConfigureSocket(socket, max_msg));
    std::unique_ptr<ZapHandler> zap;
    if (curve != nullptr) {
      PST_ASSIGN_OR_RETURN(zap, MakeCurveServer(ctx, socket, *curve));
    }
    if (bind_host.rfind("inproc://", 0) == 0) {
      // In-process (tests): the address is the endpoint.
      try {
        socket.bind(bind_host);
      } catch (const zmq::error_t& e) {
        return Status::Unavailable("cannot bind " + bind_host + ": " + e.what());
      }
      return BoundRouter{std::move(socket), bind_host, std::move(zap)};
    }
    const std::string addr = "tcp://" + bind_host + ":" + (port ? std::to_string(port) : "*");
    try {
      socket.bind(addr);
    } catch (const zmq::error_t& e) {
      return Status::Unavailable("cannot bind " + addr + ": " + e.what() +
                                 " (choose another --port or --bind)");
    }
    const std::string last = socket.get(zmq::sockopt::last_endpoint);
    std::string host = advertise_host;
    if (host.empty()) host = bind_host;
    if (host == "0.0.0.0" || host == "*") {
      char buf[256] = {0};
      host = gethostname(buf, sizeof(buf) - 1) == 0 ? buf : "127.0.0.1";
    }
    return BoundRouter{std::move(socket), "tcp://" + host + ":" + last.substr(last.rfind(':') + 1),
                       std::move(zap)};
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("zmq: ") + e.what());
  }
}

}  // namespace pst
