#include "common/channel.h"

#include <vector>

#include "common/curve_socket.h"
#include "common/log.h"
#include "common/resolve.h"

namespace pst {

StatusOr<std::unique_ptr<Channel>> Channel::Connect(zmq::context_t& ctx,
                                                    const std::string& endpoint,
                                                    const WireLimits& limits,
                                                    const ClusterKeys* curve) {
  const std::string host = TcpEndpointHost(endpoint);
  if (!host.empty()) PST_RETURN_IF_ERROR(CheckHostResolves(host, endpoint));
  try {
    zmq::socket_t socket(ctx, zmq::socket_type::dealer);
    PST_RETURN_IF_ERROR(ConfigureSocket(socket));
    if (curve != nullptr) PST_RETURN_IF_ERROR(MakeCurveClient(socket, *curve));
    socket.connect(endpoint);
    return std::unique_ptr<Channel>(new Channel(std::move(socket), endpoint, limits));
  } catch (const zmq::error_t& e) {
    return Status::InvalidArgument("cannot connect to '" + endpoint + "': " + e.what());
  }
}

StatusOr<uint64_t> Channel::Send(OutMessage& msg) {
  const uint64_t id = next_id_++;
  msg.envelope().setRequestId(id);
  PST_RETURN_IF_ERROR(SendMessage(socket_, msg));
  return id;
}

size_t Channel::Pump() {
  size_t taken = 0;
  for (;;) {
    InMessage in;
    Status s = RecvMessage(socket_, /*routed=*/false, limits_, &in);
    if (s.code() == StatusCode::kUnavailable) break;
    ++taken;
    if (!s.ok()) {
      // A malformed reply cannot be matched to its request; the waiting call
      // times out and reports it.
      PST_LOG_WARN("dropped malformed message from {}: {}", endpoint_, s.message());
      continue;
    }
    const uint64_t id = in.envelope().getRequestId();
    if (id == 0) {
      unsolicited_.emplace(++unsolicited_seq_, std::move(in));
    } else if (discarded_.erase(id) == 0 && id < next_id_) {
      ready_[id] = std::move(in);
    }
  }
  return taken;
}

void Channel::Discard(uint64_t id) {
  if (ready_.erase(id) != 0) return;
  discarded_.insert(id);
  // Some requests are never answered (a heartbeat with nothing new to tell):
  // keep the set bounded by forgetting the oldest.
  if (discarded_.size() > kMaxDiscarded) discarded_.erase(discarded_.begin());
}

bool Channel::PopUnsolicited(InMessage* out) {
  if (unsolicited_.empty()) return false;
  *out = std::move(unsolicited_.begin()->second);
  unsolicited_.erase(unsolicited_.begin());
  return true;
}

StatusOr<InMessage> Channel::Await(uint64_t id, std::chrono::milliseconds timeout,
                                   const std::atomic<bool>* stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    Pump();
    auto it = ready_.find(id);
    if (it != ready_.end()) {
      InMessage in = std::move(it->second);
      ready_.erase(it);
      if (in.envelope().getBody().isError()) {
        Status s = FromRpcStatus(in.envelope().getBody().getError());
        return s.ok() ? Status::Internal("error reply with ok code") : s;
      }
      return in;
    }
    if (stop && stop->load()) return Status::Cancelled("stopped while waiting for " + endpoint_);
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      return Status::DeadlineExceeded("no reply from " + endpoint_ + " within " +
                                      std::to_string(timeout.count()) + " ms");
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::min(left, std::chrono::milliseconds(50)));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Status::Internal(std::string("zmq poll: ") + e.what());
    }
  }
}

StatusOr<InMessage> Channel::Call(OutMessage& msg, std::chrono::milliseconds timeout,
                                  const std::atomic<bool>* stop) {
  PST_ASSIGN_OR_RETURN(uint64_t id, Send(msg));
  return Await(id, timeout, stop);
}

void PollChannels(Channel* const* channels, size_t n, std::chrono::milliseconds timeout) {
  std::vector<zmq::pollitem_t> items(n);
  for (size_t i = 0; i < n; ++i)
    items[i] = zmq::pollitem_t{static_cast<void*>(channels[i]->socket()), 0, ZMQ_POLLIN, 0};
  try {
    zmq::poll(items.data(), items.size(), timeout);
  } catch (const zmq::error_t&) {
    // EINTR from a signal: the caller loops and checks its stop flag.
  }
  for (size_t i = 0; i < n; ++i) channels[i]->Pump();
}

}  // namespace pst
