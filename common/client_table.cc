#include "common/client_table.h"

#include "common/log.h"

namespace pst {

void LimitRefusalsToProto(const LimitRefusals& r, proto::LimitRefusals::Builder out) {
  out.setFrame(r.frame);
  out.setIds(r.ids);
  out.setClients(r.clients);
  out.setInFlight(r.in_flight);
  out.setClientKey(r.client_key);
  out.setHandshake(r.handshake);
}

LimitRefusals LimitRefusalsFromProto(proto::LimitRefusals::Reader in) {
  return {in.getFrame(),    in.getIds(),       in.getClients(),
          in.getInFlight(), in.getClientKey(), in.getHandshake()};
}

Status ClientTable::Admit(const zmq::message_t& identity, Clock::time_point now) {
  std::string key = Key(identity);
  auto it = clients_.find(key);
  if (it != clients_.end()) {
    it->second.last_seen = now;
    return Status::OK();
  }
  if (clients_.size() >= limits_.max_clients && !ForgetIdle(now)) {
    const uint64_t n = ++refusals_.clients;
    if (std::string more; clients_log_.Note(now, &more))
      PST_LOG_WARN("refused a request of a new client: {} clients already ({} refused so far){}",
                   clients_.size(), n, more);
    return Status::ResourceExhausted(
        "this server answers at most " + std::to_string(limits_.max_clients) +
        " clients (network.max_clients) and has that many: try again later");
  }
  clients_.emplace(std::move(key), Client{now, 0});
  return Status::OK();
}

bool ClientTable::ForgetIdle(Clock::time_point now) {
  auto oldest = clients_.end();
  for (auto it = clients_.begin(); it != clients_.end(); ++it) {
    if (it->second.held > 0 || now - it->second.last_seen < limits_.idle_timeout) continue;
    if (oldest == clients_.end() || it->second.last_seen < oldest->second.last_seen) oldest = it;
  }
  if (oldest == clients_.end()) return false;
  clients_.erase(oldest);
  return true;
}

Status ClientTable::Hold(const std::string& identity) {
  auto it = clients_.find(identity);
  if (it == clients_.end()) return Status::Internal("client table: hold for a client never admitted");
  if (it->second.held >= limits_.max_in_flight_per_client) {
    const uint64_t n = ++refusals_.in_flight;
    if (std::string more; in_flight_log_.Note(Clock::now(), &more))
      PST_LOG_WARN("refused a request: its client has {} waiting ({} refused so far){}",
                   it->second.held, n, more);
    return Status::ResourceExhausted(
        "this client already has " + std::to_string(it->second.held) +
        " requests waiting here, the most a server holds (network.max_in_flight_per_client)");
  }
  ++it->second.held;
  return Status::OK();
}

void ClientTable::Release(const std::string& identity) {
  auto it = clients_.find(identity);
  if (it != clients_.end() && it->second.held > 0) --it->second.held;
}

uint32_t ClientTable::held(const std::string& identity) const {
  auto it = clients_.find(identity);
  return it == clients_.end() ? 0 : it->second.held;
}

}  // namespace pst
