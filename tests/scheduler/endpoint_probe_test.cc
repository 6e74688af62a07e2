#include "scheduler/endpoint_probe.h"

#include <catch2/catch.hpp>

#include "tests/testing/tcp_listener.h"

namespace pst {
namespace {

using std::chrono::milliseconds;

TEST_CASE("ProbeTcpEndpoint: a listening socket answers, a closed one refuses", "[scheduler]") {
  testing::TcpListener listener;
  const std::string endpoint = listener.endpoint();
  REQUIRE_FALSE(endpoint.empty());
  CHECK(ProbeTcpEndpoint(endpoint, milliseconds(1000)).ok());
  listener.Close();
  CHECK(ProbeTcpEndpoint(endpoint, milliseconds(1000)).code() == StatusCode::kUnavailable);
}

TEST_CASE("ProbeTcpEndpoint: only tcp://host:port endpoints", "[scheduler]") {
  CHECK(ProbeTcpEndpoint("inproc://ps", milliseconds(100)).code() == StatusCode::kInvalidArgument);
  CHECK(ProbeTcpEndpoint("tcp://nocolon", milliseconds(100)).code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pst
