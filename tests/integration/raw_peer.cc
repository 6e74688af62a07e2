#include "tests/integration/raw_peer.h"

namespace pst::testing {
namespace {

Status AnswerStatus(const InMessage& in) {
  auto body = in.envelope().getBody();
  if (body.isError()) return FromRpcStatus(body.getError());
  if (body.isShardResponse()) return FromRpcStatus(body.getShardResponse().getStatus());
  if (body.isPushResponse()) return FromRpcStatus(body.getPushResponse().getStatus());
  if (body.isPullResponse()) return FromRpcStatus(body.getPullResponse().getStatus());
  if (body.isSparsePullResponse()) return FromRpcStatus(body.getSparsePullResponse().getStatus());
  if (body.isJobStatusResponse()) return FromRpcStatus(body.getJobStatusResponse().getStatus());
  return Status::Internal("an answer of an unexpected kind");
}

}  // namespace

RawPeer::RawPeer(zmq::context_t& ctx, const std::string& endpoint)
    : socket_(ctx, zmq::socket_type::dealer) {
  setup_ = ConfigureSocket(socket_);
  if (setup_.ok()) socket_.connect(endpoint);
}

Status RawPeer::SendRaw(const std::vector<std::string>& frames) {
  PST_RETURN_IF_ERROR(setup_);
  try {
    for (size_t i = 0; i < frames.size(); ++i) {
      zmq::message_t m(frames[i].data(), frames[i].size());
      socket_.send(m, i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("send: ") + e.what());
  }
  return Status::OK();
}

Status RawPeer::Send(OutMessage& msg) {
  PST_RETURN_IF_ERROR(setup_);
  return SendMessage(socket_, msg);
}

Status RawPeer::Answer(std::chrono::milliseconds timeout) {
  PST_RETURN_IF_ERROR(setup_);
  PST_RETURN_IF_ERROR(WaitReadable(socket_, timeout));
  InMessage in;
  PST_RETURN_IF_ERROR(
      RecvMessage(socket_, /*routed=*/false, WireLimits{}, &in).WithContext("unreadable answer"));
  return AnswerStatus(in);
}

}  // namespace pst::testing
