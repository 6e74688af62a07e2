#include "common/zap_handler.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <zmq_addon.hpp>

#include "common/log.h"

namespace pst {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";

std::string Z85Of(const std::string& raw) {
  if (raw.size() != 32) return "(not a 32-byte key)";
  std::array<char, 41> out{};
  zmq_z85_encode(out.data(), reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
  return out.data();
}

}  // namespace

StatusOr<std::unique_ptr<ZapHandler>> ZapHandler::Start(zmq::context_t& ctx,
                                                        const std::vector<std::string>& allowed,
                                                        zmq::socket_t* watched) {
  std::vector<std::string> raw_keys;
  for (const std::string& key : allowed) {
    std::string raw(32, '\0');
    if (key.size() != 40 || zmq_z85_decode(reinterpret_cast<uint8_t*>(raw.data()), key.c_str()) == nullptr)
      return Status::InvalidArgument("ZAP: an allowed client key is not 40 Z85 characters");
    raw_keys.push_back(std::move(raw));
  }
  try {
    zmq::socket_t zap(ctx, zmq::socket_type::rep);
    zap.set(zmq::sockopt::linger, 0);
    try {
      zap.bind(kZapEndpoint);
    } catch (const zmq::error_t& e) {
      if (e.num() == EADDRINUSE)
        return Status::AlreadyExists(
            "this process's zmq context already has a ZAP handler: one secured server per context");
      throw;
    }
    zmq::socket_t monitor;
    if (watched != nullptr) {
      // A name unique within the context: the watched socket's address.
      const std::string endpoint =
          "inproc://pst-handshake-monitor-" + std::to_string(reinterpret_cast<uintptr_t>(watched->handle()));
      // Protocol failures only: a peer without CURVE (mechanism mismatch) or
      // with another server key (a Hello that does not decrypt). NO_DETAIL
      // failures are peers that went away mid-handshake, e.g. at shutdown.
      if (zmq_socket_monitor(watched->handle(), endpoint.c_str(), ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0)
        return Status::Internal(std::string("zmq_socket_monitor: ") + zmq_strerror(zmq_errno()));
      monitor = zmq::socket_t(ctx, zmq::socket_type::pair);
      monitor.set(zmq::sockopt::linger, 0);
      monitor.connect(endpoint);
    }
    std::unique_ptr<ZapHandler> handler(new ZapHandler(std::move(zap), std::move(monitor), std::move(raw_keys)));
    handler->thread_ = std::thread([h = handler.get()] { h->Loop(); });
    return handler;
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("ZAP handler: ") + e.what());
  }
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::Loop() {
  std::vector<zmq::pollitem_t> items{{zap_.handle(), 0, ZMQ_POLLIN, 0}};
  if (monitor_.handle() != nullptr) items.push_back({monitor_.handle(), 0, ZMQ_POLLIN, 0});
  while (!stop_.load()) {
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
      if (items[0].revents & ZMQ_POLLIN) Answer();
      if (items.size() > 1 && (items[1].revents & ZMQ_POLLIN)) TakeMonitorEvent();
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      PST_LOG_WARN("ZAP handler: {}", e.what());
    }
  }
}

// RFC 27: version, request id, domain, address, identity, mechanism, credentials.
void ZapHandler::Answer() {
  std::vector<zmq::message_t> req;
  if (!zmq::recv_multipart(zap_, std::back_inserter(req), zmq::recv_flags::dontwait)) return;
  const std::string request_id = req.size() > 1 ? req[1].to_string() : "";
  const std::string address = req.size() > 3 ? req[3].to_string() : "?";
  const std::string mechanism = req.size() > 5 ? req[5].to_string() : "";
  const std::string key = req.size() > 6 ? req[6].to_string() : "";
  const bool ok = req.size() >= 7 && req[0].to_string_view() == "1.0" && mechanism == "CURVE" &&
                  std::find(allowed_raw_.begin(), allowed_raw_.end(), key) != allowed_raw_.end();
  if (ok) {
    ++admitted_;
  } else {
    const uint64_t n = ++refused_;
    if (std::string more; refused_log_.Note(LogThrottle::Clock::now(), &more))
      PST_LOG_WARN("refused a connection from {}: client key {} ({}) is not this cluster's ({} refused so far){}",
                   address, Z85Of(key), mechanism.empty() ? "no mechanism" : mechanism, n, more);
  }
  std::array<zmq::const_buffer, 6> reply{zmq::str_buffer("1.0"),
                                         zmq::buffer(request_id),
                                         ok ? zmq::str_buffer("200") : zmq::str_buffer("400"),
                                         ok ? zmq::str_buffer("OK") : zmq::str_buffer("not a cluster key"),
                                         zmq::str_buffer(""),
                                         zmq::str_buffer("")};
  zmq::send_multipart(zap_, reply);
}

void ZapHandler::TakeMonitorEvent() {
  std::vector<zmq::message_t> event;
  if (!zmq::recv_multipart(monitor_, std::back_inserter(event), zmq::recv_flags::dontwait)) return;
  if (event.empty() || event[0].size() < 6) return;
  uint16_t id = 0;
  uint32_t value = 0;
  std::memcpy(&id, event[0].data(), sizeof(id));
  std::memcpy(&value, static_cast<const char*>(event[0].data()) + 2, sizeof(value));
  if (id != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) return;
  const uint64_t n = ++failed_handshakes_;
  if (std::string more; handshake_log_.Note(LogThrottle::Clock::now(), &more))
    PST_LOG_WARN("refused a connection on {}: its handshake failed (protocol error 0x{:x}: no CURVE, or not "
                 "this cluster's server key) ({} so far){}",
                 event.size() > 1 ? event[1].to_string() : "?", value, n, more);
}

}  // namespace pst
