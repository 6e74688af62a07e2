#include "common/curve_socket.h"

namespace pst {
namespace {

// Every ZAP request of a pstrain server names this domain (ZAP is only
// consulted for sockets with a domain set).
constexpr char kZapDomain[] = "pstrain";

}  // namespace

StatusOr<std::unique_ptr<ZapHandler>> MakeCurveServer(zmq::context_t& ctx, zmq::socket_t& socket,
                                                      const ClusterKeys& keys) {
  if (!zmq_has("curve")) return Status::Internal("this libzmq was built without CURVE support");
  try {
    socket.set(zmq::sockopt::curve_server, true);
    socket.set(zmq::sockopt::curve_secretkey, keys.server_secret);
    socket.set(zmq::sockopt::zap_domain, kZapDomain);
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("CURVE server options: ") + e.what());
  }
  return ZapHandler::Start(ctx, {keys.client_public}, &socket);
}

Status MakeCurveClient(zmq::socket_t& socket, const ClusterKeys& keys) {
  if (!zmq_has("curve")) return Status::Internal("this libzmq was built without CURVE support");
  try {
    socket.set(zmq::sockopt::curve_serverkey, keys.server_public);
    socket.set(zmq::sockopt::curve_publickey, keys.client_public);
    socket.set(zmq::sockopt::curve_secretkey, keys.client_secret);
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("CURVE client options: ") + e.what());
  }
  return Status::OK();
}

}  // namespace pst
