#include "common/resolve.h"

#include <catch2/catch.hpp>
#include <zmq.hpp>

#include "common/bind.h"
#include "common/channel.h"

namespace pst {
namespace {

TEST_CASE("TcpEndpointHost: the host of tcp:// endpoints only", "[common]") {
  CHECK(TcpEndpointHost("tcp://10.0.0.1:7000") == "10.0.0.1");
  CHECK(TcpEndpointHost("tcp://scheduler.example:7000") == "scheduler.example");
  CHECK(TcpEndpointHost("tcp://[::1]:7000") == "::1");
  CHECK(TcpEndpointHost("inproc://scheduler") == "");
  CHECK(TcpEndpointHost("tcp://nohostport") == "");
}

TEST_CASE("CheckHostResolves: IP literals and localhost resolve, .invalid names do not",
          "[common]") {
  CHECK(CheckHostResolves("127.0.0.1", "--scheduler").ok());
  CHECK(CheckHostResolves("::1", "--scheduler").ok());
  CHECK(CheckHostResolves("localhost", "--scheduler").ok());
  // RFC 6761: .invalid never resolves.
  const Status s = CheckHostResolves("no-such-host.invalid", "--scheduler tcp://no-such-host.invalid:7000");
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::StartsWith("--scheduler tcp://no-such-host.invalid:7000: host "
                                            "'no-such-host.invalid' does not resolve"));
}

TEST_CASE("Channel::Connect and BindRouter refuse a host that does not resolve", "[common]") {
  zmq::context_t ctx(1);
  auto channel = Channel::Connect(ctx, "tcp://no-such-host.invalid:7000");
  REQUIRE_FALSE(channel.ok());
  CHECK(channel.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(channel.status().message(), Catch::Contains("does not resolve"));
  CHECK(Channel::Connect(ctx, "tcp://127.0.0.1:1").ok());  // connecting is asynchronous
  CHECK(Channel::Connect(ctx, "inproc://nobody").ok());

  auto bound = BindRouter(ctx, "127.0.0.1", 0, "no-such-host.invalid", WireLimits{});
  REQUIRE_FALSE(bound.ok());
  CHECK_THAT(bound.status().message(), Catch::StartsWith("--advertise: host 'no-such-host.invalid'"));
  CHECK(BindRouter(ctx, "127.0.0.1", 0, "localhost", WireLimits{}).ok());
}

}  // namespace
}  // namespace pst
