// A raw DEALER connection for integration tests that play a hostile peer: it
// sends what the test says (pstrain framing or arbitrary frames) and reads
// answers. Used on a test's helper thread, so nothing here asserts (Catch2
// v2's assertions are not thread-safe): failures come back as Status.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/status.h"
#include "common/wire.h"

namespace pst::testing {

class RawPeer {
 public:
  // Connects a DEALER of `ctx` (which must outlive the peer) to `endpoint`.
  RawPeer(zmq::context_t& ctx, const std::string& endpoint);
  // Sends frames as they are (no pstrain framing).
  Status SendRaw(const std::vector<std::string>& frames);
  Status Send(OutMessage& msg);
  // The status carried by the next answer; kUnavailable ("unreadable answer")
  // if none comes within `timeout`.
  Status Answer(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

 private:
  zmq::socket_t socket_;
  Status setup_;
};

}  // namespace pst::testing
