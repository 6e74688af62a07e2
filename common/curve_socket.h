// CurveZMQ on pstrain's sockets: the one place where a socket becomes a CURVE
// server or client (common/bind.h and common/channel.h call these). All
// servers share the cluster's server key pair and all clients its client key
// pair (common/cluster_keys.h); a server's ZAP handler admits only clients
// presenting the cluster's client key. No function here throws.
#pragma once

#include <memory>

#include <zmq.hpp>

#include "common/cluster_keys.h"
#include "common/status.h"
#include "common/zap_handler.h"

namespace pst {

// Makes `socket` (of `ctx`, not yet bound) a CURVE server with the cluster's
// server key and starts the ZAP handler of ctx, which admits only the
// cluster's client key and also counts the socket's failed handshakes. The
// handler must outlive the socket's use. Errors as ZapHandler::Start, kInternal
// when ZeroMQ refuses the options (e.g. a libzmq without CURVE).
StatusOr<std::unique_ptr<ZapHandler>> MakeCurveServer(zmq::context_t& ctx, zmq::socket_t& socket,
                                                      const ClusterKeys& keys);

// Makes `socket` (not yet connected) a CURVE client of the cluster's servers.
// kInternal when ZeroMQ refuses the options.
Status MakeCurveClient(zmq::socket_t& socket, const ClusterKeys& keys);

}  // namespace pst
