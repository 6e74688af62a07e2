#include "common/wire.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "common/channel.h"
#include "common/status.h"
#include "proto/envelope.capnp.h"
#include "proto/ps.capnp.h"
#include "proto/status.capnp.h"

namespace pst {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kRecvTimeout{5000};
constexpr char kClientId[] = "client-1";

std::string UniqueInproc(const char* what) {
  static std::atomic<int> counter{0};
  return std::string("inproc://wire-test-") + what + "-" + std::to_string(counter++);
}

// A connected ROUTER (server side) and DEALER (client side, routing id
// kClientId), configured as pstrain sockets are.
struct SocketPair {
  SocketPair(zmq::context_t& ctx, const std::string& bind_endpoint)
      : router(ctx, zmq::socket_type::router), dealer(ctx, zmq::socket_type::dealer) {
    REQUIRE(ConfigureSocket(router).ok());
    REQUIRE(ConfigureSocket(dealer).ok());
    dealer.set(zmq::sockopt::routing_id, kClientId);
    router.bind(bind_endpoint);
    endpoint = router.get(zmq::sockopt::last_endpoint);
    dealer.connect(endpoint);
  }
  zmq::socket_t router;
  zmq::socket_t dealer;
  std::string endpoint;
};

// Waits (bounded) until `socket` is readable, then receives one message.
Status Recv(zmq::socket_t& socket, bool routed, InMessage* out, const WireLimits& limits = {}) {
  zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, kRecvTimeout);
  return RecvMessage(socket, routed, limits, out);
}

std::string IdentityOf(const InMessage& in) { return in.identity().to_string(); }

// Floats with arbitrary bit patterns (NaN payloads, denormals, -0, inf...).
std::vector<float> RandomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t bits = rng();
    std::memcpy(&v[i], &bits, sizeof(bits));
  }
  return v;
}

bool SameBits(const float* a, const float* b, size_t n) {
  return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0;
}

// The bytes of a Cap'n Proto envelope as `fill` leaves it (floatsPerFrame is
// whatever `fill` sets, unlike SendMessage which derives it).
std::string EnvelopeBytes(const std::function<void(proto::Envelope::Builder)>& fill) {
  capnp::MallocMessageBuilder builder;
  fill(builder.initRoot<proto::Envelope>());
  kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

// A valid pushRequest envelope announcing bulk frames of `counts` floats.
std::string PushEnvelope(const std::vector<uint64_t>& counts, uint64_t request_id = 5) {
  return EnvelopeBytes([&](proto::Envelope::Builder e) {
    e.setRequestId(request_id);
    auto push = e.getBody().initPushRequest();
    push.setKeyBegin(0);
    push.setKeyEnd(4);
    push.setSampleCount(1);
    push.setChunks(1);
    auto list = e.initFloatsPerFrame(counts.size());
    for (size_t i = 0; i < counts.size(); ++i) list.set(i, counts[i]);
  });
}

std::string FloatBytes(size_t n, float value = 1.5f) {
  std::vector<float> v(n, value);
  return std::string(reinterpret_cast<const char*>(v.data()), n * sizeof(float));
}

// Sends `frames` as one multipart message, byte for byte.
void SendRaw(zmq::socket_t& socket, const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    zmq::message_t m(frames[i].data(), frames[i].size());
    const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    REQUIRE(socket.send(m, flags).has_value());
  }
}

// Sends a small valid message from the DEALER and checks that the ROUTER gets
// exactly it: the stream did not lose its framing after a bad message.
void CheckValidMessageGetsThrough(SocketPair& p, uint64_t request_id,
                                  const WireLimits& limits = {}) {
  OutMessage out;
  out.envelope().setRequestId(request_id);
  out.envelope().getBody().initPullRequest().setKeyEnd(2);
  const float vals[2] = {1.0f, -2.0f};
  out.AddFloatsCopy(vals, 2);
  REQUIRE(SendMessage(p.dealer, out).ok());
  InMessage in;
  Status s = Recv(p.router, true, &in, limits);
  REQUIRE(s.ok());
  CHECK(IdentityOf(in) == kClientId);
  CHECK(in.envelope().getRequestId() == request_id);
  REQUIRE(in.envelope().getBody().isPullRequest());
  CHECK(in.envelope().getBody().getPullRequest().getKeyEnd() == 2);
  REQUIRE(in.num_bulk_frames() == 1);
  REQUIRE(in.num_floats(0) == 2);
  CHECK(SameBits(in.floats(0), vals, 2));
}

// Sends `frames` raw and expects the ROUTER to reject them with `want`
// (kInvalidArgument: malformed; kResourceExhausted: over the limits), with the
// sender's identity still known, then checks that a valid message follows.
void ExpectRejected(SocketPair& p, const std::vector<std::string>& frames,
                    const WireLimits& limits = {},
                    StatusCode want = StatusCode::kInvalidArgument) {
  static uint64_t next_id = 1000;
  SendRaw(p.dealer, frames);
  InMessage in;
  Status s = Recv(p.router, true, &in, limits);
  CAPTURE(s.ToString());
  CHECK(s.code() == want);
  CHECK(IdentityOf(in) == kClientId);
  CheckValidMessageGetsThrough(p, ++next_id, limits);
}

// Finds `needle` in `hay`, REQUIREs exactly one occurrence.
size_t FindOnce(const std::string& hay, const std::string& needle) {
  const size_t pos = hay.find(needle);
  REQUIRE(pos != std::string::npos);
  REQUIRE(hay.find(needle, pos + 1) == std::string::npos);
  return pos;
}

// ---------------------------------------------------------------------------

void CheckRoundTrip(SocketPair& p, size_t num_frames) {
  CAPTURE(num_frames);
  const std::vector<size_t> sizes_for_3 = {1000, 0, 1};
  std::vector<std::vector<float>> frames;
  for (size_t i = 0; i < num_frames; ++i)
    frames.push_back(RandomFloats(num_frames == 3 ? sizes_for_3[i] : 257, 17 + i));

  OutMessage out;
  out.envelope().setRequestId(0x1122334455667788ull);
  auto pull = out.envelope().getBody().initPullRequest();
  pull.setKeyBegin(10);
  pull.setKeyEnd(1010);
  pull.setMinVersion(7);
  for (size_t i = 0; i < num_frames; ++i) {
    if (i % 2 == 0) {
      out.AddFloatsCopy(frames[i].data(), frames[i].size());
    } else {
      auto owner = std::make_shared<std::vector<float>>(frames[i]);
      out.AddFloatsZeroCopy(owner, owner->data(), owner->size());
    }
  }
  CHECK(out.num_bulk_frames() == num_frames);
  REQUIRE(SendMessage(p.dealer, out).ok());

  InMessage in;
  REQUIRE(Recv(p.router, true, &in).ok());
  CHECK(IdentityOf(in) == kClientId);
  auto env = in.envelope();
  CHECK(env.getRequestId() == 0x1122334455667788ull);
  REQUIRE(env.getBody().isPullRequest());
  CHECK(env.getBody().getPullRequest().getKeyBegin() == 10);
  CHECK(env.getBody().getPullRequest().getKeyEnd() == 1010);
  CHECK(env.getBody().getPullRequest().getMinVersion() == 7);
  REQUIRE(env.getFloatsPerFrame().size() == num_frames);
  REQUIRE(in.num_bulk_frames() == num_frames);
  for (size_t i = 0; i < num_frames; ++i) {
    CAPTURE(i);
    CHECK(env.getFloatsPerFrame()[i] == frames[i].size());
    REQUIRE(in.num_floats(i) == frames[i].size());
    CHECK(reinterpret_cast<uintptr_t>(in.floats(i)) % alignof(float) == 0);
    CHECK(SameBits(in.floats(i), frames[i].data(), frames[i].size()));
  }

  // And back: ROUTER -> DEALER addressed by the identity just received.
  OutMessage reply;
  reply.envelope().setRequestId(env.getRequestId());
  auto resp = reply.envelope().getBody().initPullResponse();
  resp.setVersion(7);
  SetRpcStatus(Status::OK(), resp.initStatus());
  for (size_t i = 0; i < num_frames; ++i) reply.AddFloatsCopy(in.floats(i), in.num_floats(i));
  REQUIRE(SendMessage(p.router, reply, &in.identity()).ok());

  InMessage back;
  REQUIRE(Recv(p.dealer, false, &back).ok());
  CHECK(back.identity().size() == 0);
  CHECK(back.envelope().getRequestId() == 0x1122334455667788ull);
  REQUIRE(back.envelope().getBody().isPullResponse());
  CHECK(back.envelope().getBody().getPullResponse().getVersion() == 7);
  REQUIRE(back.num_bulk_frames() == num_frames);
  for (size_t i = 0; i < num_frames; ++i) {
    REQUIRE(back.num_floats(i) == frames[i].size());
    CHECK(SameBits(back.floats(i), frames[i].data(), frames[i].size()));
  }
}

TEST_CASE("Wire: envelope and 0/1/3 bulk frames round trip bit-exactly over inproc", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("roundtrip"));
  for (size_t n : {0, 1, 3}) CheckRoundTrip(p, n);
}

TEST_CASE("Wire: round trip over loopback TCP on an ephemeral port", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, "tcp://127.0.0.1:*");
  CHECK(p.endpoint.rfind("tcp://127.0.0.1:", 0) == 0);
  CHECK(p.endpoint != "tcp://127.0.0.1:0");
  for (size_t n : {0, 1, 3}) CheckRoundTrip(p, n);

  // A larger tensor, sent without a copy.
  auto owner = std::make_shared<std::vector<float>>(RandomFloats(1 << 18, 99));
  const std::vector<float> expected = *owner;
  OutMessage out;
  out.envelope().getBody().initPushRequest();
  out.AddFloatsZeroCopy(owner, owner->data(), owner->size());
  owner.reset();
  REQUIRE(SendMessage(p.dealer, out).ok());
  InMessage in;
  REQUIRE(Recv(p.router, true, &in).ok());
  REQUIRE(in.num_bulk_frames() == 1);
  REQUIRE(in.num_floats(0) == expected.size());
  CHECK(SameBits(in.floats(0), expected.data(), expected.size()));
}

// An owner whose deleter fulfils a promise (shared, so a late deleter is safe).
struct TrackedOwner {
  std::shared_ptr<std::promise<void>> released = std::make_shared<std::promise<void>>();
  std::shared_future<void> done = released->get_future().share();
  const float* data = nullptr;
  std::shared_ptr<const void> owner;

  explicit TrackedOwner(const std::vector<float>& values) {
    auto* vec = new std::vector<float>(values);
    data = vec->data();
    auto promise = released;
    owner = std::shared_ptr<const void>(vec, [promise](const void* p) {
      delete static_cast<const std::vector<float>*>(p);
      promise->set_value();
    });
  }
  bool IsReleased() const { return done.wait_for(milliseconds(0)) == std::future_status::ready; }
  bool WaitReleased() const { return done.wait_for(kRecvTimeout) == std::future_status::ready; }
};

TEST_CASE("Wire: AddFloatsZeroCopy keeps the owner alive until ZeroMQ is done", "[common]") {
  zmq::context_t ctx;
  const std::vector<float> values = RandomFloats(4096, 5);

  SECTION("inproc") {
    SocketPair p(ctx, UniqueInproc("zerocopy"));
    TrackedOwner t(values);
    auto out = std::make_unique<OutMessage>();
    out->envelope().getBody().initPushRequest();
    out->AddFloatsZeroCopy(std::move(t.owner), t.data, values.size());
    CHECK_FALSE(t.IsReleased());  // the message holds the only reference
    REQUIRE(SendMessage(p.dealer, *out).ok());
    auto in = std::make_unique<InMessage>();
    REQUIRE(Recv(p.router, true, in.get()).ok());
    REQUIRE(in->num_bulk_frames() == 1);
    REQUIRE(in->num_floats(0) == values.size());
    CHECK(SameBits(in->floats(0), values.data(), values.size()));
    // Over inproc the receiver reads the sender's buffer in place, so it must
    // still be alive while the InMessage is.
    out.reset();
    CHECK_FALSE(t.IsReleased());
    CHECK(SameBits(in->floats(0), values.data(), values.size()));
    in.reset();
    CHECK(t.WaitReleased());
  }

  SECTION("tcp") {
    SocketPair p(ctx, "tcp://127.0.0.1:*");
    TrackedOwner t(values);
    {
      OutMessage out;
      out.envelope().getBody().initPushRequest();
      out.AddFloatsZeroCopy(std::move(t.owner), t.data, values.size());
      CHECK_FALSE(t.IsReleased());
      REQUIRE(SendMessage(p.dealer, out).ok());
      InMessage in;
      REQUIRE(Recv(p.router, true, &in).ok());
      REQUIRE(in.num_floats(0) == values.size());
      CHECK(SameBits(in.floats(0), values.data(), values.size()));
    }
    CHECK(t.WaitReleased());
  }

  SECTION("a message that is never sent releases its owner when destroyed") {
    TrackedOwner t(values);
    {
      OutMessage out;
      out.AddFloatsZeroCopy(std::move(t.owner), t.data, values.size());
      CHECK_FALSE(t.IsReleased());
    }
    CHECK(t.IsReleased());
  }
}

TEST_CASE("Wire: envelope frames whose size is not a positive multiple of 8 are rejected",
          "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("badsize"));
  const std::string valid = PushEnvelope({});
  ExpectRejected(p, {valid.substr(0, valid.size() - 4)});
  ExpectRejected(p, {std::string(12, '\0')});
  ExpectRejected(p, {std::string(7, 'x'), FloatBytes(1)});
  ExpectRejected(p, {std::string()});  // empty envelope frame
  ExpectRejected(p, {valid + "x"});
}

TEST_CASE("Wire: random bytes are rejected without crashing or desynchronising", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("random"));
  std::mt19937 rng(20240611);
  for (int iter = 0; iter < 300; ++iter) {
    CAPTURE(iter);
    std::vector<std::string> frames;
    const size_t num_frames = 1 + rng() % 4;
    for (size_t f = 0; f < num_frames; ++f) {
      // The envelope is a multiple of 8 half of the time, so the decoder sees it.
      size_t size = rng() % 300;
      if (f == 0 && iter % 2 == 0) size = 8 * (1 + size % 40);
      std::string bytes(size, '\0');
      for (char& c : bytes) c = static_cast<char>(rng());
      frames.push_back(std::move(bytes));
    }
    ExpectRejected(p, frames);
  }
}

TEST_CASE("Wire: mutated valid envelopes never crash the receiver", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("mutate"));
  const std::string valid = PushEnvelope({2});
  std::mt19937 rng(7);
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 400; ++iter) {
    std::string env = valid;
    const int flips = 1 + rng() % 4;
    for (int i = 0; i < flips; ++i) env[rng() % env.size()] ^= static_cast<char>(1 + rng() % 255);
    SendRaw(p.dealer, {env, FloatBytes(2)});
    InMessage in;
    Status s = Recv(p.router, true, &in);
    CAPTURE(iter, s.ToString());
    REQUIRE((s.ok() || s.code() == StatusCode::kInvalidArgument ||
             s.code() == StatusCode::kResourceExhausted));
    CHECK(IdentityOf(in) == kClientId);
    if (s.ok()) {
      ++accepted;
      // Accepted means consistent: one frame of the announced size.
      REQUIRE(in.num_bulk_frames() == 1);
      CHECK(in.envelope().getFloatsPerFrame()[0] == in.num_floats(0));
      CHECK(in.num_floats(0) == 2);
    } else {
      ++rejected;
    }
    CheckValidMessageGetsThrough(p, 5000 + iter);
  }
  CHECK(accepted + rejected == 400);
  CHECK(rejected > 0);
}

TEST_CASE("Wire: floatsPerFrame must match the bulk frames", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("counts"));
  // Sanity: the same helpers produce an accepted message when they agree.
  SendRaw(p.dealer, {PushEnvelope({3, 0}), FloatBytes(3), std::string()});
  InMessage ok;
  REQUIRE(Recv(p.router, true, &ok).ok());
  CHECK(ok.num_bulk_frames() == 2);
  CHECK(ok.num_floats(0) == 3);
  CHECK(ok.num_floats(1) == 0);

  SECTION("announced frames missing") { ExpectRejected(p, {PushEnvelope({3})}); }
  SECTION("unannounced frame") { ExpectRejected(p, {PushEnvelope({}), FloatBytes(3)}); }
  SECTION("fewer frames than announced") {
    ExpectRejected(p, {PushEnvelope({3, 2}), FloatBytes(3)});
  }
  SECTION("more frames than announced") {
    ExpectRejected(p, {PushEnvelope({3}), FloatBytes(3), FloatBytes(3)});
  }
  SECTION("frame one float too long") { ExpectRejected(p, {PushEnvelope({3}), FloatBytes(4)}); }
  SECTION("frame one float too short") { ExpectRejected(p, {PushEnvelope({3}), FloatBytes(2)}); }
  SECTION("frame not a whole number of floats") {
    ExpectRejected(p, {PushEnvelope({3}), FloatBytes(3) + "x"});
  }
  SECTION("sizes swapped between frames") {
    ExpectRejected(p, {PushEnvelope({1, 2, 1}), FloatBytes(1), FloatBytes(1), FloatBytes(2)});
  }
  SECTION("a count over max_floats_per_frame") {
    // 2^62 floats would be 0 bytes if the size were computed in 64 bits unchecked.
    ExpectRejected(p, {PushEnvelope({1ull << 62}), std::string()}, {}, StatusCode::kResourceExhausted);
    WireLimits small;
    small.max_floats_per_frame = 2;
    ExpectRejected(p, {PushEnvelope({3}), FloatBytes(3)}, small, StatusCode::kResourceExhausted);
  }
}

TEST_CASE("Wire: envelopes over max_envelope_bytes are rejected", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("bigenv"));
  auto error_envelope = [](size_t text_bytes) {
    return EnvelopeBytes([&](proto::Envelope::Builder e) {
      e.setRequestId(1);
      SetRpcStatus(Status::Internal(std::string(text_bytes, 'e')), e.getBody().initError());
    });
  };

  SECTION("custom limit, at and just over the boundary") {
    const std::string env = error_envelope(2000);
    WireLimits limits;
    limits.max_envelope_bytes = env.size();
    SendRaw(p.dealer, {env});
    InMessage in;
    REQUIRE(Recv(p.router, true, &in, limits).ok());  // exactly at the limit is fine
    CHECK(in.envelope().getBody().getError().getMessage().size() == 2000);
    limits.max_envelope_bytes = env.size() - 8;
    ExpectRejected(p, {env}, limits, StatusCode::kResourceExhausted);
  }

  SECTION("default limit of 4 MiB") {
    const WireLimits defaults;
    const std::string big = error_envelope(defaults.max_envelope_bytes);
    REQUIRE(big.size() > defaults.max_envelope_bytes);
    ExpectRejected(p, {big}, {}, StatusCode::kResourceExhausted);
    const std::string fits = error_envelope(defaults.max_envelope_bytes - 1024);
    REQUIRE(fits.size() <= defaults.max_envelope_bytes);
    SendRaw(p.dealer, {fits});
    InMessage in;
    CHECK(Recv(p.router, true, &in).ok());
  }
}

TEST_CASE("Wire: more bulk frames than max_bulk_frames are rejected", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("manyframes"));

  auto message = [](size_t frames) {
    std::vector<std::string> m = {PushEnvelope(std::vector<uint64_t>(frames, 1))};
    for (size_t i = 0; i < frames; ++i) m.push_back(FloatBytes(1, float(i)));
    return m;
  };

  SECTION("custom limit") {
    WireLimits limits;
    limits.max_bulk_frames = 4;
    SendRaw(p.dealer, message(4));
    InMessage in;
    REQUIRE(Recv(p.router, true, &in, limits).ok());
    CHECK(in.num_bulk_frames() == 4);
    CHECK(in.floats(3)[0] == 3.0f);
    ExpectRejected(p, message(5), limits, StatusCode::kResourceExhausted);
    ExpectRejected(p, message(50), limits, StatusCode::kResourceExhausted);
  }

  SECTION("default limit of 256") {
    SendRaw(p.dealer, message(256));
    InMessage in;
    REQUIRE(Recv(p.router, true, &in).ok());
    CHECK(in.num_bulk_frames() == 256);
    CHECK(in.floats(255)[0] == 255.0f);
    ExpectRejected(p, message(257), {}, StatusCode::kResourceExhausted);
    // The frames after the limit are drained even when they are not all floats.
    std::vector<std::string> junk = message(300);
    junk.push_back("not a float frame");
    ExpectRejected(p, junk, {}, StatusCode::kResourceExhausted);
  }
}

TEST_CASE("Wire: an unknown body type is rejected", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("unknownbody"));
  const uint64_t marker = 0x0123456789abcdefull;
  const std::string env = EnvelopeBytes([&](proto::Envelope::Builder e) {
    e.setRequestId(marker);
    e.getBody().initPushResponse();
  });
  // requestId is the first data word; the union discriminant follows it
  // (16-bit element 4 of the data section, see proto/envelope.capnp.h).
  const size_t pos = FindOnce(env, std::string(reinterpret_cast<const char*>(&marker), 8));
  const uint16_t which = static_cast<uint16_t>(proto::Envelope::Body::PUSH_RESPONSE);
  REQUIRE(std::memcmp(env.data() + pos + 8, &which, 2) == 0);
  std::string bad = env;
  const uint16_t unknown = 99;
  std::memcpy(bad.data() + pos + 8, &unknown, 2);
  ExpectRejected(p, {bad});
  // The untouched envelope is accepted.
  SendRaw(p.dealer, {env});
  InMessage in;
  REQUIRE(Recv(p.router, true, &in).ok());
  CHECK(in.envelope().getBody().isPushResponse());
}

TEST_CASE("Wire: the newest body types are accepted", "[common]") {
  // Regression: the receiver's bound on body types once lagged behind the
  // schema, so checkpoint and scale requests were dropped as unknown.
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("newbody"));
  const std::string scale = EnvelopeBytes([](proto::Envelope::Builder e) {
    e.setRequestId(7);
    e.getBody().initScaleResponse().setDesiredWorkers(3);
  });
  const std::string checkpoint = EnvelopeBytes([](proto::Envelope::Builder e) {
    e.setRequestId(8);
    e.getBody().initCheckpointRequest().setTimeoutMs(5);
  });
  for (const std::string* env : {&scale, &checkpoint}) {
    SendRaw(p.dealer, {*env});
    InMessage in;
    REQUIRE(Recv(p.router, true, &in).ok());
  }
}

TEST_CASE("Wire: truncated or amplifying envelopes are rejected", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("truncated"));
  const std::string env = PushEnvelope({2});
  // Cut whole words off the end: the segment table promises more than arrives.
  for (size_t cut = 8; cut < env.size(); cut += 8) {
    CAPTURE(cut, env.size());
    ExpectRejected(p, {env.substr(0, env.size() - cut), FloatBytes(2)});
  }

  // A segment table claiming a million segments.
  std::string many_segments = env;
  const uint32_t count = 1000000;
  std::memcpy(many_segments.data(), &count, 4);
  ExpectRejected(p, {many_segments, FloatBytes(2)});

  // floatsPerFrame rewritten as a list of 2^29-1 zero-sized elements: cheap to
  // send, must not be expanded or accepted.
  const std::string one = PushEnvelope({0x5a5a5a5a5a5a5a5aull});
  const uint64_t value = 0x5a5a5a5a5a5a5a5aull;
  const size_t value_pos = FindOnce(one, std::string(reinterpret_cast<const char*>(&value), 8));
  // Find the list pointer that points at value_pos: kind 1, element size 5 (8 bytes), count 1.
  bool rewritten = false;
  std::string amplified = one;
  for (size_t w = 8; w + 8 <= one.size(); w += 8) {
    uint64_t ptr;
    std::memcpy(&ptr, one.data() + w, 8);
    if ((ptr & 3) != 1 || ((ptr >> 32) & 7) != 5 || (ptr >> 35) != 1) continue;
    const int64_t offset = static_cast<int32_t>(static_cast<uint32_t>(ptr)) >> 2;
    if (static_cast<int64_t>(w) + 8 + offset * 8 != static_cast<int64_t>(value_pos)) continue;
    const uint64_t void_list =
        (ptr & 0xffffffffull) | (uint64_t{0} << 32) | (uint64_t{(1u << 29) - 1} << 35);
    std::memcpy(amplified.data() + w, &void_list, 8);
    rewritten = true;
  }
  REQUIRE(rewritten);
  ExpectRejected(p, {amplified, FloatBytes(1)});
}

TEST_CASE("Wire: malformed messages to a DEALER are rejected too", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("dealer"));
  // The ROUTER learns the DEALER's routing id with its first message.
  CheckValidMessageGetsThrough(p, 1);
  zmq::message_t id{std::string(kClientId)};
  auto send_to_dealer = [&](const std::vector<std::string>& frames) {
    std::vector<std::string> all = {std::string(kClientId)};
    all.insert(all.end(), frames.begin(), frames.end());
    SendRaw(p.router, all);
  };
  for (const auto& frames : std::vector<std::vector<std::string>>{
           {std::string(12, 'a')},
           {PushEnvelope({3})},
           {PushEnvelope({3}), FloatBytes(2)},
       }) {
    send_to_dealer(frames);
    InMessage in;
    CHECK(Recv(p.dealer, false, &in).code() == StatusCode::kInvalidArgument);
    OutMessage ok;
    ok.envelope().setRequestId(77);
    ok.envelope().getBody().initAck();
    REQUIRE(SendMessage(p.router, ok, &id).ok());
    InMessage good;
    REQUIRE(Recv(p.dealer, false, &good).ok());
    CHECK(good.envelope().getRequestId() == 77);
  }
}

TEST_CASE("Wire: RecvMessage with nothing waiting is kUnavailable", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("empty"));
  InMessage in;
  CHECK(RecvMessage(p.router, true, {}, &in).code() == StatusCode::kUnavailable);
  CHECK(RecvMessage(p.dealer, false, {}, &in).code() == StatusCode::kUnavailable);
}

TEST_CASE("Wire: SendMessage to an unknown ROUTER identity fails cleanly", "[common]") {
  zmq::context_t ctx;
  SocketPair p(ctx, UniqueInproc("unroutable"));
  p.router.set(zmq::sockopt::router_mandatory, 1);
  zmq::message_t nobody{std::string("nobody")};
  OutMessage out;
  out.envelope().getBody().initAck();
  Status s = SendMessage(p.router, out, &nobody);
  CHECK(s.code() == StatusCode::kUnavailable);
}

TEST_CASE("Wire: SetRpcStatus / FromRpcStatus round trip every code", "[common]") {
  for (int c = 0; c <= static_cast<int>(StatusCode::kUnauthenticated); ++c) {
    CAPTURE(c);
    const StatusCode code = static_cast<StatusCode>(c);
    const Status s =
        code == StatusCode::kOk ? Status::OK() : Status(code, "message " + std::to_string(c));
    capnp::MallocMessageBuilder builder;
    auto wire = builder.initRoot<proto::RpcStatus>();
    SetRpcStatus(s, wire);
    CHECK(static_cast<int>(wire.getCode()) == c);
    const Status back = FromRpcStatus(wire.asReader());
    CHECK(back.code() == code);
    CHECK(back.message() == s.message());
  }
  // The names line up with the schema, not just the numbers.
  capnp::MallocMessageBuilder builder;
  auto wire = builder.initRoot<proto::RpcStatus>();
  SetRpcStatus(Status::DeadlineExceeded("slow"), wire);
  CHECK(wire.getCode() == proto::StatusCode::DEADLINE_EXCEEDED);
  SetRpcStatus(Status::Unavailable("x"), wire);
  CHECK(wire.getCode() == proto::StatusCode::UNAVAILABLE);
}

TEST_CASE("Wire: an out-of-range wire status code becomes kUnknown", "[common]") {
  for (uint16_t raw : {uint16_t{17}, uint16_t{99}, uint16_t{65535}}) {
    CAPTURE(raw);
    capnp::MallocMessageBuilder builder;
    auto wire = builder.initRoot<proto::RpcStatus>();
    wire.setCode(static_cast<proto::StatusCode>(raw));
    wire.setMessage("from the future");
    const Status s = FromRpcStatus(wire.asReader());
    CHECK(s.code() == StatusCode::kUnknown);
    CHECK(s.message() == "from the future");
  }
}

// ---------------------------------------------------------------------------
// Channel against a ROUTER echo server on its own thread.

// Request kinds, chosen by PullRequest.keyBegin.
constexpr uint64_t kHold = 1'000'001;     // no reply until a kRelease arrives
constexpr uint64_t kRelease = 1'000'002;  // reply to held requests, then to this one
constexpr uint64_t kFail = 1'000'003;     // reply with an `error` body
constexpr uint64_t kBadText = 1'000'004;  // error body whose text lacks its NUL

class EchoServer {
 public:
  explicit EchoServer(zmq::context_t& ctx) : socket_(ctx, zmq::socket_type::router) {
    REQUIRE(ConfigureSocket(socket_).ok());
    socket_.bind(UniqueInproc("echo"));
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Run(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  const std::string& endpoint() const { return endpoint_; }
  // Problems seen on the server thread (Catch2 assertions are main-thread only).
  int errors() const { return errors_.load(); }

 private:
  void Run() {
    std::vector<InMessage> held;
    while (!stop_.load()) {
      zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&item, 1, milliseconds(20));
      } catch (const zmq::error_t&) {
        ++errors_;
        return;
      }
      InMessage in;
      Status s = RecvMessage(socket_, true, {}, &in);
      if (s.code() == StatusCode::kUnavailable) continue;
      if (!s.ok() || !in.envelope().getBody().isPullRequest()) {
        ++errors_;
        continue;
      }
      const uint64_t kind = in.envelope().getBody().getPullRequest().getKeyBegin();
      if (kind == kHold) {
        held.push_back(std::move(in));
      } else if (kind == kRelease) {
        for (InMessage& h : held) Reply(h);
        held.clear();
        Reply(in);
      } else if (kind == kFail) {
        OutMessage out;
        out.envelope().setRequestId(in.envelope().getRequestId());
        SetRpcStatus(Status::NotFound("no such key"), out.envelope().getBody().initError());
        Send(out, in);
      } else if (kind == kBadText) {
        SendBadText(in);
      } else {
        Reply(in);
      }
    }
  }

  void Reply(InMessage& in) {
    OutMessage out;
    out.envelope().setRequestId(in.envelope().getRequestId());
    auto resp = out.envelope().getBody().initPullResponse();
    resp.setKeyBegin(in.envelope().getBody().getPullRequest().getKeyBegin());
    resp.setKeyEnd(in.envelope().getBody().getPullRequest().getKeyEnd());
    SetRpcStatus(Status::OK(), resp.initStatus());
    for (size_t i = 0; i < in.num_bulk_frames(); ++i)
      out.AddFloatsCopy(in.floats(i), in.num_floats(i));
    Send(out, in);
  }

  void Send(OutMessage& out, InMessage& in) {
    if (!SendMessage(socket_, out, &in.identity()).ok()) ++errors_;
  }

  void SendBadText(InMessage& in) {
    std::string env = EnvelopeBytes([&](proto::Envelope::Builder e) {
      e.setRequestId(in.envelope().getRequestId());
      SetRpcStatus(Status::NotFound("NO-NUL-HERE"), e.getBody().initError());
    });
    const size_t pos = env.find(std::string("NO-NUL-HERE") + '\0');
    if (pos == std::string::npos) {
      ++errors_;
      return;
    }
    env[pos + 11] = '!';
    zmq::message_t id;
    id.copy(in.identity());
    zmq::message_t body(env.data(), env.size());
    if (!socket_.send(id, zmq::send_flags::sndmore) || !socket_.send(body, zmq::send_flags::none))
      ++errors_;
  }

  zmq::socket_t socket_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<int> errors_{0};
  std::thread thread_;
};

void InitPull(OutMessage& msg, uint64_t key_begin, uint64_t key_end = 0) {
  auto pull = msg.envelope().getBody().initPullRequest();
  pull.setKeyBegin(key_begin);
  pull.setKeyEnd(key_end);
}

std::unique_ptr<Channel> Connect(zmq::context_t& ctx, const EchoServer& server) {
  StatusOr<std::unique_ptr<Channel>> ch = Channel::Connect(ctx, server.endpoint());
  REQUIRE(ch.ok());
  return std::move(ch).value();
}

TEST_CASE("Channel: Call gets the reply with the same request id", "[common]") {
  zmq::context_t ctx;
  EchoServer server(ctx);
  auto ch = Connect(ctx, server);
  for (uint64_t i = 1; i <= 5; ++i) {
    OutMessage msg;
    InitPull(msg, 100 + i, 200 + i);
    const std::vector<float> vals = RandomFloats(i * 10, uint32_t(i));
    msg.AddFloatsCopy(vals.data(), vals.size());
    StatusOr<InMessage> reply = ch->Call(msg, kRecvTimeout);
    REQUIRE(reply.ok());
    CHECK(reply->envelope().getRequestId() == i);  // ids count up from 1
    REQUIRE(reply->envelope().getBody().isPullResponse());
    auto resp = reply->envelope().getBody().getPullResponse();
    CHECK(resp.getKeyBegin() == 100 + i);
    CHECK(resp.getKeyEnd() == 200 + i);
    CHECK(FromRpcStatus(resp.getStatus()).ok());
    REQUIRE(reply->num_bulk_frames() == 1);
    REQUIRE(reply->num_floats(0) == vals.size());
    CHECK(SameBits(reply->floats(0), vals.data(), vals.size()));
  }
  CHECK(server.errors() == 0);
}

TEST_CASE("Channel: pipelined requests are matched by id in any order", "[common]") {
  zmq::context_t ctx;
  EchoServer server(ctx);
  auto ch = Connect(ctx, server);
  std::vector<uint64_t> ids;
  for (uint64_t k = 0; k < 4; ++k) {
    OutMessage msg;
    InitPull(msg, 500 + k);
    StatusOr<uint64_t> id = ch->Send(msg);
    REQUIRE(id.ok());
    ids.push_back(*id);
  }
  for (int k = 3; k >= 0; --k) {
    StatusOr<InMessage> reply = ch->Await(ids[k], kRecvTimeout);
    REQUIRE(reply.ok());
    CHECK(reply->envelope().getRequestId() == ids[k]);
    CHECK(reply->envelope().getBody().getPullResponse().getKeyBegin() == 500 + uint64_t(k));
    CHECK_FALSE(ch->HasReply(ids[k]));  // handed out once
  }
  CHECK(server.errors() == 0);
}

TEST_CASE("Channel: Await times out with kDeadlineExceeded", "[common]") {
  zmq::context_t ctx;
  EchoServer server(ctx);
  auto ch = Connect(ctx, server);
  OutMessage msg;
  InitPull(msg, kHold);
  StatusOr<uint64_t> id = ch->Send(msg);
  REQUIRE(id.ok());
  const auto start = std::chrono::steady_clock::now();
  StatusOr<InMessage> reply = ch->Await(*id, milliseconds(100));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(reply.status().code() == StatusCode::kDeadlineExceeded);
  CHECK(elapsed >= milliseconds(100));
  CHECK(elapsed < milliseconds(3000));
  // Awaiting an id that was never sent also times out rather than hanging.
  CHECK(ch->Await(*id + 100, milliseconds(10)).status().code() == StatusCode::kDeadlineExceeded);
}

TEST_CASE("Channel: a set stop flag makes Await return kCancelled", "[common]") {
  zmq::context_t ctx;
  EchoServer server(ctx);
  auto ch = Connect(ctx, server);
  OutMessage msg;
  InitPull(msg, kHold);
  std::atomic<bool> stop{true};
  const auto start = std::chrono::steady_clock::now();
  StatusOr<InMessage> reply = ch->Call(msg, std::chrono::seconds(30), &stop);
  CHECK(reply.status().code() == StatusCode::kCancelled);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

  // A reply that is already there wins over the stop flag.
  OutMessage echo;
  InitPull(echo, 42);
  StatusOr<uint64_t> id = ch->Send(echo);
  REQUIRE(id.ok());
  std::atomic<bool> not_stopped{false};
  REQUIRE(ch->Await(*id, kRecvTimeout, &not_stopped).ok() == true);
}

TEST_CASE("Channel: an error reply becomes that status", "[common]") {
  zmq::context_t ctx;
  EchoServer server(ctx);
  auto ch = Connect(ctx, server);
  OutMessage msg;
  InitPull(msg, kFail);
  StatusOr<InMessage> reply = ch->Call(msg, kRecvTimeout);
  CHECK(reply.status().code() == StatusCode::kNotFound);
  CHECK(reply.status().message() == "no such key");
  // The channel still works afterwards.
  OutMessage again;
  InitPull(again, 7);
  CHECK(ch->Call(again, kRecvTimeout).ok());
  CHECK(server.errors() == 0);
}

TEST_CASE("Channel: Discard drops a late reply", "[common]") {
  zmq::context_t ctx;
  EchoServer server(ctx);
  auto ch = Connect(ctx, server);

  SECTION("discarded before the reply arrives") {
    OutMessage held;
    InitPull(held, kHold);
    StatusOr<uint64_t> id = ch->Send(held);
    REQUIRE(id.ok());
    CHECK(ch->Await(*id, milliseconds(30)).status().code() == StatusCode::kDeadlineExceeded);
    ch->Discard(*id);
    // The release reply comes after the held one on the same connection, so
    // once it is here the late reply has been received and dropped.
    OutMessage release;
    InitPull(release, kRelease);
    REQUIRE(ch->Call(release, kRecvTimeout).ok());
    ch->Pump();
    CHECK_FALSE(ch->HasReply(*id));
    CHECK(ch->Await(*id, milliseconds(10)).status().code() == StatusCode::kDeadlineExceeded);
  }

  SECTION("without Discard the late reply is kept") {
    OutMessage held;
    InitPull(held, kHold);
    StatusOr<uint64_t> id = ch->Send(held);
    REQUIRE(id.ok());
    CHECK(ch->Await(*id, milliseconds(30)).status().code() == StatusCode::kDeadlineExceeded);
    OutMessage release;
    InitPull(release, kRelease);
    REQUIRE(ch->Call(release, kRecvTimeout).ok());
    CHECK(ch->HasReply(*id));
    StatusOr<InMessage> late = ch->Await(*id, kRecvTimeout);
    REQUIRE(late.ok());
    CHECK(late->envelope().getBody().getPullResponse().getKeyBegin() == kHold);
  }

  SECTION("only the newest kMaxDiscarded discards are remembered") {
    OutMessage held;
    InitPull(held, kHold);
    StatusOr<uint64_t> id = ch->Send(held);
    REQUIRE(id.ok());
    CHECK(ch->Await(*id, milliseconds(30)).status().code() == StatusCode::kDeadlineExceeded);
    ch->Discard(*id);
    // Replies that never come (ids this channel never sends) push it out.
    for (uint64_t k = 0; k < Channel::kMaxDiscarded; ++k) ch->Discard(uint64_t{1} << 40 | k);
    OutMessage release;
    InitPull(release, kRelease);
    REQUIRE(ch->Call(release, kRecvTimeout).ok());
    CHECK(ch->HasReply(*id));  // forgotten as discarded, so kept
  }

  SECTION("discarded after the reply arrived") {
    OutMessage first;
    InitPull(first, 1);
    StatusOr<uint64_t> id1 = ch->Send(first);
    REQUIRE(id1.ok());
    OutMessage second;
    InitPull(second, 2);
    REQUIRE(ch->Call(second, kRecvTimeout).ok());
    CHECK(ch->HasReply(*id1));
    ch->Discard(*id1);
    CHECK_FALSE(ch->HasReply(*id1));
    CHECK(ch->Await(*id1, milliseconds(10)).status().code() == StatusCode::kDeadlineExceeded);
  }
  CHECK(server.errors() == 0);
}

// Regression: RecvMessage's totalSize() walk does not check that Text is
// NUL-terminated, so FromRpcStatus used to throw kj::Exception out of
// Channel::Await for such an error reply.
TEST_CASE("Channel: an error reply with malformed text does not throw", "[common]") {
  zmq::context_t ctx;
  EchoServer server(ctx);
  auto ch = Connect(ctx, server);
  OutMessage msg;
  InitPull(msg, kBadText);
  StatusOr<InMessage> reply = Status::OK();
  // Bytes from the network must come back as a Status, never as an exception.
  CHECK_NOTHROW(reply = ch->Call(msg, milliseconds(500)));
  CHECK_FALSE(reply.ok());
  OutMessage again;
  InitPull(again, 7);
  CHECK(ch->Call(again, kRecvTimeout).ok());
  CHECK(server.errors() == 0);
}

TEST_CASE("Channel: Connect rejects an endpoint ZeroMQ cannot parse", "[common]") {
  zmq::context_t ctx;
  StatusOr<std::unique_ptr<Channel>> ch = Channel::Connect(ctx, "not-an-endpoint");
  CHECK(ch.status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
