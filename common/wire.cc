#include "common/wire.h"

#include <cstring>
#include <string>

#include <kj/exception.h>

namespace pst {
namespace {

constexpr int kQueueLimitMessages = 1'000'000;
// Kernel socket buffers (the kernel caps them at net.core.{w,r}mem_max): large
// enough that a whole model's worth of blocks is written in one go instead of
// the sender's I/O thread waking again for every window the receiver frees.
constexpr int kSocketBufferBytes = 4 << 20;

void ReleaseOwner(void* /*data*/, void* hint) {
  delete static_cast<std::shared_ptr<const void>*>(hint);
}

// Reads and discards the remaining parts of a multipart message.
void DrainRest(zmq::socket_t& socket, bool more) {
  while (more) {
    zmq::message_t part;
    auto got = socket.recv(part, zmq::recv_flags::dontwait);
    if (!got) return;
    more = part.more();
  }
}

}  // namespace

Status ConfigureSocket(zmq::socket_t& socket, int64_t max_message_bytes) {
  try {
    socket.set(zmq::sockopt::linger, 0);
    // A worker queues one message per parameter block and direction at once;
    // ZeroMQ's default of 1000 queued messages is too few for large models
    // (and a full ROUTER queue silently drops replies).
    socket.set(zmq::sockopt::sndhwm, kQueueLimitMessages);
    socket.set(zmq::sockopt::rcvhwm, kQueueLimitMessages);
    socket.set(zmq::sockopt::sndbuf, kSocketBufferBytes);
    socket.set(zmq::sockopt::rcvbuf, kSocketBufferBytes);
#ifdef ZMQ_ZERO_COPY_RECV
    socket.set(zmq::sockopt::zero_copy_recv, 0);
#endif
    if (max_message_bytes > 0) socket.set(zmq::sockopt::maxmsgsize, max_message_bytes);
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("zmq setsockopt: ") + e.what());
  }
  return Status::OK();
}

OutMessage::OutMessage() : root_(builder_.initRoot<proto::Envelope>()) {}

void OutMessage::AddFloatsCopy(const float* data, size_t n) {
  zmq::message_t frame(n * sizeof(float));
  if (n) std::memcpy(frame.data(), data, n * sizeof(float));
  bulk_.push_back(std::move(frame));
  counts_.push_back(n);
}

void OutMessage::AddFloatsZeroCopy(std::shared_ptr<const void> owner, const float* data,
                                   size_t n) {
  if (n == 0) {
    bulk_.emplace_back();
  } else {
    auto* hint = new std::shared_ptr<const void>(std::move(owner));
    bulk_.emplace_back(const_cast<float*>(data), n * sizeof(float), &ReleaseOwner, hint);
  }
  counts_.push_back(n);
}

Status SendMessage(zmq::socket_t& socket, OutMessage& msg, const zmq::message_t* identity) {
  try {
    auto counts = msg.root_.initFloatsPerFrame(msg.counts_.size());
    for (size_t i = 0; i < msg.counts_.size(); ++i) counts.set(i, msg.counts_[i]);
    kj::Array<capnp::word> words = capnp::messageToFlatArray(msg.builder_);
    auto bytes = words.asBytes();
    zmq::message_t head(bytes.begin(), bytes.size());
    const bool has_bulk = !msg.bulk_.empty();
    if (identity) {
      zmq::message_t id;
      id.copy(const_cast<zmq::message_t&>(*identity));
      if (!socket.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait))
        return Status::Unavailable("send would block");
    }
    if (!socket.send(head, (has_bulk ? zmq::send_flags::sndmore : zmq::send_flags::none) |
                               zmq::send_flags::dontwait))
      return Status::Unavailable("send would block");
    for (size_t i = 0; i < msg.bulk_.size(); ++i) {
      const bool last = i + 1 == msg.bulk_.size();
      // Once the first part is queued the rest of a multipart message cannot block.
      if (!socket.send(msg.bulk_[i], last ? zmq::send_flags::none : zmq::send_flags::sndmore))
        return Status::Unavailable("send would block");
    }
    msg.bulk_.clear();
    msg.counts_.clear();
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return Status::Unavailable("peer is gone");
    return Status::Internal(std::string("zmq send: ") + e.what());
  } catch (const kj::Exception& e) {
    return Status::Internal(std::string("capnp encode: ") + e.getDescription().cStr());
  }
  return Status::OK();
}

Status RecvMessage(zmq::socket_t& socket, bool routed, const WireLimits& limits, InMessage* out) {
  *out = InMessage();
  try {
    zmq::message_t first;
    if (!socket.recv(first, zmq::recv_flags::dontwait)) return Status::Unavailable("no message");
    bool more = first.more();
    zmq::message_t head;
    if (routed) {
      out->identity_ = std::move(first);
      if (!more) return Status::InvalidArgument("message has no envelope frame");
      if (!socket.recv(head, zmq::recv_flags::dontwait))
        return Status::InvalidArgument("message ended early");
      more = head.more();
    } else {
      head = std::move(first);
    }
    std::vector<zmq::message_t> bulk;
    while (more) {
      if (bulk.size() >= limits.max_bulk_frames) {
        DrainRest(socket, more);
        return Status::ResourceExhausted("message has more than " +
                                         std::to_string(limits.max_bulk_frames) + " bulk frames");
      }
      zmq::message_t part;
      if (!socket.recv(part, zmq::recv_flags::dontwait))
        return Status::InvalidArgument("message ended early");
      more = part.more();
      bulk.push_back(std::move(part));
    }
    const size_t head_size = head.size();
    if (head_size == 0 || head_size % sizeof(capnp::word) != 0)
      return Status::InvalidArgument("envelope size " + std::to_string(head_size) +
                                     " is not a positive multiple of 8");
    if (head_size > limits.max_envelope_bytes)
      return Status::ResourceExhausted("envelope of " + std::to_string(head_size) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(limits.max_envelope_bytes));
    out->words_ = kj::heapArray<capnp::word>(head_size / sizeof(capnp::word));
    std::memcpy(out->words_.begin(), head.data(), head_size);
    capnp::ReaderOptions options;
    options.traversalLimitInWords = head_size / sizeof(capnp::word) * 4 + 1024;
    options.nestingLimit = 16;
    out->reader_ = std::make_unique<capnp::FlatArrayMessageReader>(out->words_, options);
    auto env = out->reader_->getRoot<proto::Envelope>();
    // Walks every pointer once, so a malformed envelope fails here and not
    // later in a handler.
    env.totalSize();
    // The last member of Envelope.body: update it with every message added.
    if (env.getBody().which() > proto::Envelope::Body::SPARSE_PUSH_RESPONSE)
      return Status::InvalidArgument("unknown message type " +
                                     std::to_string(static_cast<int>(env.getBody().which())));
    auto counts = env.getFloatsPerFrame();
    if (counts.size() != bulk.size())
      return Status::InvalidArgument("envelope lists " + std::to_string(counts.size()) +
                                     " bulk frames but " + std::to_string(bulk.size()) +
                                     " arrived");
    for (size_t i = 0; i < bulk.size(); ++i) {
      const uint64_t n = counts[i];
      if (n > limits.max_floats_per_frame)
        return Status::ResourceExhausted("bulk frame " + std::to_string(i) + " of " +
                                         std::to_string(n) + " floats exceeds the limit of " +
                                         std::to_string(limits.max_floats_per_frame) +
                                         " (network.max_frame_bytes / 4)");
      if (bulk[i].size() != n * sizeof(float))
        return Status::InvalidArgument("bulk frame " + std::to_string(i) + " holds " +
                                       std::to_string(bulk[i].size()) + " bytes, envelope says " +
                                       std::to_string(n) + " floats");
    }
    out->bulk_ = std::move(bulk);
    for (auto& frame : out->bulk_) {
      float* p = static_cast<float*>(frame.data());
      const size_t n = frame.size() / sizeof(float);
      if (reinterpret_cast<uintptr_t>(p) % alignof(float) != 0) {
        out->realigned_.emplace_back(n);
        std::memcpy(out->realigned_.back().data(), frame.data(), frame.size());
        p = out->realigned_.back().data();
      }
      out->ptrs_.push_back(p);
      out->sizes_.push_back(n);
    }
  } catch (const kj::Exception& e) {
    out->reader_.reset();
    return Status::InvalidArgument(std::string("malformed envelope: ") +
                                   e.getDescription().cStr());
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("zmq recv: ") + e.what());
  }
  return Status::OK();
}

Status WaitReadable(zmq::socket_t& socket, std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
  try {
    zmq::poll(&item, 1, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) return Status::Internal(std::string("zmq poll: ") + e.what());
  }
  return Status::OK();
}

void SetRpcStatus(const Status& status, proto::RpcStatus::Builder out) {
  out.setCode(static_cast<proto::StatusCode>(status.code()));
  out.setMessage(status.message());
}

Status FromRpcStatus(proto::RpcStatus::Reader in) {
  try {
    const auto code = static_cast<uint16_t>(in.getCode());
    if (code > static_cast<uint16_t>(StatusCode::kUnauthenticated))
      return Status(StatusCode::kUnknown, in.getMessage().cStr());
    return Status(static_cast<StatusCode>(code), in.getMessage().cStr());
  } catch (const kj::Exception& e) {
    // Text without its NUL terminator is only detected when read.
    return Status::InvalidArgument(std::string("malformed status: ") + e.getDescription().cStr());
  }
}

}  // namespace pst
