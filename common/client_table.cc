#include "common/client_table.h"

#include "common/log.h"

namespace pst {
namespace {

// Logs the first ten refusals of a kind, then every power of two.
bool WorthLogging(uint64_t n) { return n <= 10 || (n & (n - 1)) == 0; }

}  // namespace

void LimitRefusalsToProto(const LimitRefusals& r, proto::LimitRefusals::Builder out) {
  out.setFrame(r.frame);
  out.setIds(r.ids);
  out.setClients(r.clients);
  out.setInFlight(r.in_flight);
}

LimitRefusals LimitRefusalsFromProto(proto::LimitRefusals::Reader in) {
  return {in.getFrame(), in.getIds(), in.getClients(), in.getInFlight()};
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
    if (WorthLogging(n))
      PST_LOG_WARN("refused a request of a new client: {} clients already ({} refused so far)",
                   clients_.size(), n);
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

Status ClientTable::Hold(const zmq::message_t& identity) {
  auto it = clients_.find(Key(identity));
  if (it == clients_.end()) return Status::Internal("client table: hold for a client never admitted");
  if (it->second.held >= limits_.max_in_flight_per_client) {
    const uint64_t n = ++refusals_.in_flight;
    if (WorthLogging(n))
      PST_LOG_WARN("refused a request: its client has {} waiting ({} refused so far)",
                   it->second.held, n);
    return Status::ResourceExhausted(
        "this client already has " + std::to_string(it->second.held) +
        " requests waiting here, the most a server holds (network.max_in_flight_per_client)");
  }
  ++it->second.held;
  return Status::OK();
}

void ClientTable::Release(const zmq::message_t& identity) {
  auto it = clients_.find(Key(identity));
  if (it != clients_.end() && it->second.held > 0) --it->second.held;
}

uint32_t ClientTable::held(const zmq::message_t& identity) const {
  auto it = clients_.find(Key(identity));
  return it == clients_.end() ? 0 : it->second.held;
}

}  // namespace pst
