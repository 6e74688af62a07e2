// A client connection (ZeroMQ DEALER) to one scheduler or PS, with request ids
// and deadlines. Requests may be pipelined: Send() several, then Await() each
// reply by id; replies to ids nobody waits for any more are dropped. Not
// thread-safe: one thread owns a Channel (ZeroMQ sockets are single-threaded).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "common/cluster_keys.h"
#include "common/status.h"
#include "common/wire.h"

namespace pst {

class Channel {
 public:
  // Connects (asynchronously, as ZeroMQ does) to `endpoint`, e.g. "tcp://host:port".
  // With `curve`, the connection is a CURVE client holding the cluster's
  // client key (common/curve_socket.h); a server that refuses it never answers.
  // kInvalidArgument for an endpoint ZeroMQ cannot parse, kInternal if the
  // CURVE options cannot be set.
  static StatusOr<std::unique_ptr<Channel>> Connect(zmq::context_t& ctx,
                                                    const std::string& endpoint,
                                                    const WireLimits& limits = {},
                                                    const ClusterKeys* curve = nullptr);
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  const std::string& endpoint() const { return endpoint_; }
  zmq::socket_t& socket() { return socket_; }

  // Assigns the next request id to msg, sends it and returns the id.
  StatusOr<uint64_t> Send(OutMessage& msg);

  // Waits for the reply to request `id` until `timeout` passes or *stop becomes
  // true (checked every 50 ms; stop may be null). kDeadlineExceeded on timeout,
  // kCancelled when stopped, kInvalidArgument if the reply is malformed. An
  // `error` reply body is returned as its status.
  StatusOr<InMessage> Await(uint64_t id, std::chrono::milliseconds timeout,
                            const std::atomic<bool>* stop = nullptr);

  // Send + Await.
  StatusOr<InMessage> Call(OutMessage& msg, std::chrono::milliseconds timeout,
                           const std::atomic<bool>* stop = nullptr);

  // Receives whatever is waiting without blocking and keeps replies for later
  // Await calls; returns the number of messages taken. Used to poll many
  // channels from one zmq_poll loop.
  size_t Pump();
  // Drops the reply to `id` when it arrives (or now, if it already has). At
  // most kMaxDiscarded awaited replies are remembered (the oldest are
  // forgotten), since some requests are never answered.
  void Discard(uint64_t id);
  static constexpr size_t kMaxDiscarded = 1024;
  // True if the reply to `id` has arrived (after Pump()).
  bool HasReply(uint64_t id) const { return ready_.count(id) > 0; }
  // Unsolicited messages (requestId 0) received so far are handed out here.
  bool PopUnsolicited(InMessage* out);

 private:
  Channel(zmq::socket_t socket, std::string endpoint, WireLimits limits)
      : socket_(std::move(socket)), endpoint_(std::move(endpoint)), limits_(limits) {}

  zmq::socket_t socket_;
  std::string endpoint_;
  WireLimits limits_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, InMessage> ready_;
  std::map<uint64_t, InMessage> unsolicited_;
  std::set<uint64_t> discarded_;
  uint64_t unsolicited_seq_ = 0;
};

// Waits until one of `channels` has something to read or `timeout` passes,
// then Pump()s them all.
void PollChannels(Channel* const* channels, size_t n, std::chrono::milliseconds timeout);

}  // namespace pst
