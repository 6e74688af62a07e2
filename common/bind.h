// Binding a server's ROUTER socket and working out the address peers should
// use for it (shared by the scheduler and the PS).
#pragma once

#include <cstdint>
#include <string>

#include <zmq.hpp>

#include "common/status.h"
#include "common/wire.h"

namespace pst {

struct BoundRouter {
  zmq::socket_t socket;
  // "tcp://<advertised host>:<bound port>" (or the inproc:// address).
  std::string endpoint;
};

// Binds a ROUTER socket on tcp://bind_host:port (port 0 = any free port) with
// pstrain's socket options and a message-size limit from `limits`. The
// advertised host is advertise_host, else bind_host, else (for 0.0.0.0) this
// machine's host name. A bind_host "inproc://NAME" binds that in-process
// address instead (port and advertise_host unused), for tests that run every
// role in one process. kInvalidArgument for an empty bind host, kUnavailable if
// the address cannot be bound.
StatusOr<BoundRouter> BindRouter(zmq::context_t& ctx, const std::string& bind_host, uint16_t port,
                                 const std::string& advertise_host, const WireLimits& limits);

}  // namespace pst
