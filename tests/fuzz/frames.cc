#include "tests/fuzz/frames.h"

#include <chrono>
#include <cstdlib>
#include <iostream>

namespace pst::fuzz {

std::vector<std::string_view> SplitFrames(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> frames;
  for (;;) {
    const size_t at = rest.find(kFrameSeparator);
    if (at == std::string_view::npos) break;
    frames.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kFrameSeparator.size());
  }
  frames.push_back(rest);
  return frames;
}

std::string JoinFrames(const std::vector<std::string>& frames) {
  std::string out;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i > 0) out += kFrameSeparator;
    out += frames[i];
  }
  return out;
}

Loopback::Loopback()
    : router_(ctx_, zmq::socket_type::router), dealer_(ctx_, zmq::socket_type::dealer) {
  if (!ConfigureSocket(router_).ok() || !ConfigureSocket(dealer_).ok()) {
    std::cerr << "fuzz harness: cannot configure sockets\n";
    std::abort();
  }
  router_.bind("inproc://fuzz-loopback");
  dealer_.connect("inproc://fuzz-loopback");
}

Loopback& Loopback::Instance() {
  static Loopback* loopback = new Loopback();  // never destroyed: fuzz targets exit at will
  return *loopback;
}

bool Loopback::Receive(const uint8_t* data, size_t size, InMessage* out) {
  const Status s = Deliver(SplitFrames(data, size), WireLimits{}, out);
  if (s.code() == StatusCode::kDeadlineExceeded) {
    std::cerr << "fuzz harness: " << s.ToString() << "\n";
    std::abort();
  }
  return s.ok();
}

Status Loopback::Deliver(const std::vector<std::string_view>& frames, const WireLimits& limits,
                         InMessage* out) {
  for (size_t i = 0; i < frames.size(); ++i) {
    zmq::message_t m(frames[i].data(), frames[i].size());
    dealer_.send(m, i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  PST_RETURN_IF_ERROR(WaitReadable(router_, std::chrono::milliseconds(5000)));
  Status s = RecvMessage(router_, /*routed=*/true, limits, out);
  if (s.code() == StatusCode::kUnavailable) return Status::DeadlineExceeded("nothing arrived");
  return s;
}

void Loopback::DrainReplies() {
  zmq::message_t part;
  while (dealer_.recv(part, zmq::recv_flags::dontwait)) {
  }
}

}  // namespace pst::fuzz
