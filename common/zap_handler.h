// pst::ZapHandler: the ZAP handler (ZeroMQ RFC 27) of one zmq context. Every
// CURVE server socket of that context (common/curve_socket.h) asks it about each
// client that completed the CURVE handshake; it admits a client whose public
// key is one of the allowed keys and refuses every other one. It can also watch
// a server socket for handshakes that fail before reaching it (a peer speaking
// plain ZMTP, or CURVE with another cluster's server key). Refusals are counted
// and logged (through a LogThrottle per kind).
//
// Threading: a thread of its own polls the ZAP socket (a REP bound to
// inproc://zeromq.zap.01) and the monitor socket; the counters may be read from
// any thread. ZeroMQ allows one ZAP handler per context.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "common/log_throttle.h"
#include "common/status.h"

namespace pst {

class ZapHandler {
 public:
  // Binds the ZAP endpoint in `ctx` and starts the thread. `allowed` holds the
  // admitted clients' public keys (Z85, 40 characters each). With `watched`
  // (a socket of ctx, not yet bound or connected), its failed handshakes are
  // counted too. kInvalidArgument for a malformed key, kAlreadyExists if ctx
  // already has a ZAP handler, kInternal for other ZeroMQ errors.
  static StatusOr<std::unique_ptr<ZapHandler>> Start(zmq::context_t& ctx,
                                                     const std::vector<std::string>& allowed,
                                                     zmq::socket_t* watched = nullptr);
  ~ZapHandler();  // stops and joins the thread; later handshakes of ctx fail
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Clients admitted / refused by key.
  uint64_t admitted() const { return admitted_.load(); }
  uint64_t refused() const { return refused_.load(); }
  // Handshakes of the watched socket that failed with a protocol error before
  // ZAP: a plain ZMTP peer, or a CURVE peer with another server key. (Peers
  // that disconnect mid-handshake are not counted.)
  uint64_t failed_handshakes() const { return failed_handshakes_.load(); }

 private:
  ZapHandler(zmq::socket_t zap, zmq::socket_t monitor, std::vector<std::string> allowed_raw)
      : zap_(std::move(zap)), monitor_(std::move(monitor)), allowed_raw_(std::move(allowed_raw)) {}
  void Loop();
  void Answer();
  void TakeMonitorEvent();

  zmq::socket_t zap_;
  zmq::socket_t monitor_;  // empty (no handle) when nothing is watched
  std::vector<std::string> allowed_raw_;  // 32-byte binary keys
  std::atomic<uint64_t> admitted_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> failed_handshakes_{0};
  LogThrottle refused_log_;    // the thread's own
  LogThrottle handshake_log_;  // the thread's own
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace pst
