// Binding a server's ROUTER socket and working out the address peers should
// use for it (shared by the scheduler and the PS).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "common/cluster_keys.h"
#include "common/status.h"
#include "common/wire.h"
#include "common/zap_handler.h"

namespace pst {

struct BoundRouter {
  zmq::socket_t socket;
  // "tcp://<advertised host>:<bound port>" (or the inproc:// address).
  std::string endpoint;
  // With CURVE: the context's ZAP handler, which must outlive the socket's
  // use (declare it before the socket's member, so it is destroyed after).
  // Null for plain TCP.
  std::unique_ptr<ZapHandler> zap;
};

// Binds a ROUTER socket on tcp://bind_host:port (port 0 = any free port) with
// pstrain's socket options and a message-size limit from `limits` (ZeroMQ
// drops a peer that sends a frame over twice limits.max_floats_per_frame
// floats plus limits.max_envelope_bytes, without a reply). The
// advertised host is advertise_host, else bind_host, else (for 0.0.0.0) this
// machine's host name. A bind_host "inproc://NAME" binds that in-process
// address instead (port and advertise_host unused), for tests that run every
// role in one process. With `curve` the socket is a CURVE server that admits
// only holders of the cluster's client key (common/curve_socket.h). Errors:
// kInvalidArgument for an empty bind host, kUnavailable if the address cannot be
// bound, MakeCurveServer's errors.
StatusOr<BoundRouter> BindRouter(zmq::context_t& ctx, const std::string& bind_host, uint16_t port,
                                 const std::string& advertise_host, const WireLimits& limits,
                                 const ClusterKeys* curve = nullptr);

}  // namespace pst
