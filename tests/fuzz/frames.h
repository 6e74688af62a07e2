// Helpers shared by the fuzz targets that feed pstrain's network decoders.
//
// An input is a list of ZeroMQ frames separated by the 8 bytes "PSTFRAME"
// (tests/fuzz/pst.dict names the separator, so the fuzzer adds and drops
// frames): the envelope first, then the float frames. Loopback delivers such
// frames the way a server receives them: sent by a DEALER, received by a
// ROUTER over inproc://, identity frame included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "common/wire.h"

namespace pst::fuzz {

inline constexpr std::string_view kFrameSeparator = "PSTFRAME";

// Splits `data` at every separator (an input without one is one frame).
std::vector<std::string_view> SplitFrames(const uint8_t* data, size_t size);

// Joins frames with the separator: how the seed writer makes inputs.
std::string JoinFrames(const std::vector<std::string>& frames);

// A DEALER connected to a ROUTER in one process. Single-threaded; one per
// process (Instance()), as it binds a fixed inproc endpoint.
class Loopback {
 public:
  static Loopback& Instance();
  // Sends `frames` as one multipart message from the DEALER, then receives it
  // on the ROUTER with RecvMessage, as a server does. Returns what RecvMessage
  // returns; kDeadlineExceeded if nothing arrived (a bug in the harness).
  Status Deliver(const std::vector<std::string_view>& frames, const WireLimits& limits,
                 InMessage* out);
  // Deliver with the frames of a fuzz input and default limits. Returns
  // whether RecvMessage accepted the message; aborts if nothing arrived.
  bool Receive(const uint8_t* data, size_t size, InMessage* out);
  // The receiving ROUTER, for handlers that reply on it.
  zmq::socket_t& server() { return router_; }
  // Receives and discards every reply waiting at the DEALER (non-blocking).
  void DrainReplies();

 private:
  Loopback();
  zmq::context_t ctx_{1};
  zmq::socket_t router_;
  zmq::socket_t dealer_;
};

}  // namespace pst::fuzz
