// Framing of pstrain messages on ZeroMQ sockets.
//
// A message is one Cap'n Proto proto::Envelope frame followed by zero or more
// bulk frames of raw float32 values (host byte order; every supported platform
// is little-endian). Envelope.floatsPerFrame lists the float count of each bulk
// frame and the receiver checks it against the frame sizes. On ROUTER sockets
// the peer's routing identity precedes the envelope. No function here throws;
// library exceptions become Status values.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <zmq.hpp>

#include "common/status.h"
#include "proto/envelope.capnp.h"

namespace pst {

// Limits on what a receiver accepts; anything larger is rejected, never allocated.
struct WireLimits {
  // Largest envelope frame in bytes. Default: 4 MiB.
  uint64_t max_envelope_bytes = 4ull << 20;
  // Most bulk frames in one message. Default: 256.
  uint32_t max_bulk_frames = 256;
  // Most floats in one bulk frame. Default: 2^28 (1 GiB).
  uint64_t max_floats_per_frame = 1ull << 28;
};

// Applies the options every pstrain socket uses: no linger on close, queues of
// up to a million messages each way, 4 MiB kernel socket buffers, and
// whole-message receive buffers (ZMQ_ZERO_COPY_RECV off) so float frames are
// malloc-aligned and can be read in place. max_message_bytes > 0 makes ZeroMQ drop
// peers that send larger frames. Returns kInternal on failure.
Status ConfigureSocket(zmq::socket_t& socket, int64_t max_message_bytes = -1);

// An outgoing message under construction. Not thread-safe; single use.
class OutMessage {
 public:
  OutMessage();
  OutMessage(const OutMessage&) = delete;
  OutMessage& operator=(const OutMessage&) = delete;

  proto::Envelope::Builder envelope() { return root_; }
  // Appends a bulk frame holding a copy of data[0, n).
  void AddFloatsCopy(const float* data, size_t n);
  // Appends a bulk frame that points at data[0, n) without copying. `owner` is
  // kept alive until ZeroMQ has finished with the bytes (possibly after Send
  // returns, on a ZeroMQ I/O thread); the caller must not modify them meanwhile.
  void AddFloatsZeroCopy(std::shared_ptr<const void> owner, const float* data, size_t n);
  size_t num_bulk_frames() const { return bulk_.size(); }

 private:
  friend Status SendMessage(zmq::socket_t&, OutMessage&, const zmq::message_t*);
  capnp::MallocMessageBuilder builder_;
  proto::Envelope::Builder root_;
  std::vector<zmq::message_t> bulk_;
  std::vector<uint64_t> counts_;
};

// A received message. The envelope reader and float pointers stay valid while
// the InMessage lives. Movable, not copyable.
class InMessage {
 public:
  InMessage() = default;
  InMessage(InMessage&&) = default;
  InMessage& operator=(InMessage&&) = default;

  // Routing identity of the sender (ROUTER sockets only; empty otherwise).
  const zmq::message_t& identity() const { return identity_; }
  zmq::message_t& identity() { return identity_; }
  proto::Envelope::Reader envelope() const { return reader_->getRoot<proto::Envelope>(); }
  // Whether envelope() may be read: after RecvMessage succeeded, and after it
  // refused a message whose envelope was whole (an unknown type, frames that
  // disagree with floatsPerFrame or are over the limits), so a refusal can
  // carry the request id.
  bool has_envelope() const { return reader_ != nullptr; }
  size_t num_bulk_frames() const { return bulk_.size(); }
  size_t num_floats(size_t i) const { return sizes_[i]; }
  // Float data of bulk frame i, 4-byte aligned. REQUIRES: i < num_bulk_frames().
  const float* floats(size_t i) const { return ptrs_[i]; }
  float* mutable_floats(size_t i) { return ptrs_[i]; }

 private:
  friend Status RecvMessage(zmq::socket_t&, bool, const WireLimits&, InMessage*);
  zmq::message_t identity_;
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
  std::vector<zmq::message_t> bulk_;
  std::vector<std::vector<float>> realigned_;  // copies of frames ZeroMQ left unaligned
  std::vector<float*> ptrs_;
  std::vector<size_t> sizes_;
};

// Sends `msg` (consumes its bulk frames) without blocking; on ROUTER sockets pass
// the destination identity. kUnavailable if the message cannot be queued now
// (peer gone or high-water mark reached), kInternal for other socket errors.
Status SendMessage(zmq::socket_t& socket, OutMessage& msg,
                   const zmq::message_t* identity = nullptr);

// Receives one whole multipart message without blocking (call when poll says
// the socket is readable). kUnavailable if nothing is waiting. kInvalidArgument
// if the message is malformed (bad envelope, frame counts or sizes that disagree
// with floatsPerFrame); kResourceExhausted if it is over `limits` (envelope
// bytes, bulk frames, floats in a frame). Either way all of its frames are
// consumed and, on ROUTER sockets, out->identity() is still set so an error
// can be sent back.
// `routed` is true for ROUTER sockets (identity frame first).
Status RecvMessage(zmq::socket_t& socket, bool routed, const WireLimits& limits, InMessage* out);

// Waits until `socket` has a message to read or `timeout` passes. A signal
// interrupting the wait counts as a timeout. kInternal for other poll errors.
Status WaitReadable(zmq::socket_t& socket, std::chrono::milliseconds timeout);

// Copies `status` into the wire form.
void SetRpcStatus(const Status& status, proto::RpcStatus::Builder out);
// Reads a wire status; unknown codes map to kUnknown.
Status FromRpcStatus(proto::RpcStatus::Reader in);

}  // namespace pst
