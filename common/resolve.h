// Checking that a host name resolves before a socket is pointed at it: ZeroMQ
// would otherwise retry an unresolvable tcp:// address silently forever, and a
// node would only report that nobody answered.
#pragma once

#include <string>

#include "common/status.h"

namespace pst {

// The HOST of "tcp://HOST:PORT" (brackets of "[v6]" removed); "" for other
// transports (inproc://, ipc://) or a malformed endpoint.
std::string TcpEndpointHost(const std::string& endpoint);

// OK if `host` is an IP literal or a name the resolver maps to an address.
// kInvalidArgument otherwise, with a message that starts with `what` (the flag
// or address the host came from) and says to check it. Blocks for the lookup.
Status CheckHostResolves(const std::string& host, const std::string& what);

}  // namespace pst
