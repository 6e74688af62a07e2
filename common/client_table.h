// pst::ClientTable: the clients a server (scheduler, PS) answers, by ZeroMQ
// routing identity (one per connection of a DEALER), and what it holds for
// each. It enforces two of the limits of ClientLimits: the most clients a
// server answers, and the most requests it holds for one client (a PS's pulls
// waiting for a model version). Exceeding either is kResourceExhausted, which
// the server sends back as the request's error reply; the refusal is counted
// (LimitRefusals) for /metrics. So the server's per-client state is bounded by
// max_clients * max_in_flight_per_client entries, whatever peers send.
// Refusals are logged through a LogThrottle per limit.
//
// Not thread-safe: the server's serving thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include <zmq.hpp>

#include "common/log_throttle.h"
#include "common/status.h"
#include "proto/scheduler.capnp.h"

namespace pst {

struct ClientLimits {
  // Most clients a server answers. A request from one more gets
  // kResourceExhausted, unless a known client has been silent for
  // idle_timeout with nothing held: its place goes to the newcomer.
  // Default: 16384.
  uint32_t max_clients = 16384;
  // Most requests held for one client at once; one more is answered
  // kResourceExhausted at once. Default: 65536.
  uint32_t max_in_flight_per_client = 65536;
  // A client silent this long (and holding nothing) may lose its place to a
  // newcomer. Default: 60 s.
  std::chrono::milliseconds idle_timeout{60000};
};

// Requests refused by each limit, since the server started; and connections
// its CURVE server refused (counted by its ZapHandler, not by ClientTable).
struct LimitRefusals {
  uint64_t frame = 0;      // a frame or message over the wire limits (common/wire.h)
  uint64_t ids = 0;        // more keys or ids in one request than allowed
  uint64_t clients = 0;    // a new client beyond max_clients
  uint64_t in_flight = 0;  // a request beyond max_in_flight_per_client
  uint64_t client_key = 0;  // a CURVE client key that is not the cluster's
  uint64_t handshake = 0;   // a failed handshake: no CURVE, another server key
};

// The wire form (a PS's heartbeat carries its refusals to the scheduler).
void LimitRefusalsToProto(const LimitRefusals& r, proto::LimitRefusals::Builder out);
LimitRefusals LimitRefusalsFromProto(proto::LimitRefusals::Reader in);

class ClientTable {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ClientTable(ClientLimits limits = {}) : limits_(limits) {}
  ClientTable(const ClientTable&) = delete;
  ClientTable& operator=(const ClientTable&) = delete;

  // Replaces the limits (a PS learns its job's at registration). Clients
  // already known stay; holds above the new limit stay until released.
  void set_limits(const ClientLimits& limits) { limits_ = limits; }
  const ClientLimits& limits() const { return limits_; }

  // Records a request from `identity` at `now`. OK for a known client, or a
  // new one while there is room (after forgetting the longest-silent client
  // past idle_timeout holding nothing, if the table is full);
  // kResourceExhausted (counted) otherwise.
  Status Admit(const zmq::message_t& identity, Clock::time_point now);
  // Holds one more request of `identity` (admitted before). kResourceExhausted
  // (counted) if it already has max_in_flight_per_client held.
  Status Hold(const zmq::message_t& identity) { return Hold(Key(identity)); }
  Status Hold(const std::string& identity);  // the identity's bytes
  // Releases one held request of `identity`; nothing if none is held.
  void Release(const zmq::message_t& identity) { Release(Key(identity)); }
  void Release(const std::string& identity);

  // Counts a refusal by a limit checked elsewhere (frames, ids).
  void CountFrameRefusal() { ++refusals_.frame; }
  void CountIdsRefusal() { ++refusals_.ids; }

  size_t size() const { return clients_.size(); }
  uint32_t held(const zmq::message_t& identity) const { return held(Key(identity)); }
  uint32_t held(const std::string& identity) const;
  const LimitRefusals& refusals() const { return refusals_; }

 private:
  struct Client {
    Clock::time_point last_seen;
    uint32_t held = 0;
  };
  static std::string Key(const zmq::message_t& identity) {
    return std::string(static_cast<const char*>(identity.data()), identity.size());
  }
  // Forgets the longest-silent client past idle_timeout holding nothing;
  // false if there is none.
  bool ForgetIdle(Clock::time_point now);

  ClientLimits limits_;
  std::unordered_map<std::string, Client> clients_;
  LimitRefusals refusals_;
  LogThrottle clients_log_;
  LogThrottle in_flight_log_;
};

}  // namespace pst
