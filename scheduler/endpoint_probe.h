// Whether a node still answers at its advertised address: the scheduler asks
// before it lets a new PS replace a shard whose old PS has not been declared
// dead (a live PS must never be replaced behind its back). Blocks the calling
// thread for at most `timeout` (plus name resolution); nothing here throws.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace pst {

// Opens (and closes) a TCP connection to `endpoint` ("tcp://host:port").
// OK when something accepted it; kUnavailable when it was refused or the
// host is unreachable (nothing listens there any more); kDeadlineExceeded
// when there was no answer within `timeout` (cannot tell); kInvalidArgument
// for an endpoint that is not tcp://host:port.
Status ProbeTcpEndpoint(const std::string& endpoint, std::chrono::milliseconds timeout);

}  // namespace pst
