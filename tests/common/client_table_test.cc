#include "common/client_table.h"

#include <catch2/catch.hpp>

namespace pst {
namespace {

using std::chrono::milliseconds;
using Clock = ClientTable::Clock;

zmq::message_t Id(const std::string& s) { return zmq::message_t(s.data(), s.size()); }

TEST_CASE("ClientTable: a new client beyond max_clients is refused and counted", "[common]") {
  ClientLimits limits;
  limits.max_clients = 2;
  ClientTable table(limits);
  const auto t0 = Clock::now();
  REQUIRE(table.Admit(Id("a"), t0).ok());
  REQUIRE(table.Admit(Id("b"), t0).ok());
  REQUIRE(table.Admit(Id("a"), t0).ok());  // known: always answered
  Status s = table.Admit(Id("c"), t0);
  CHECK(s.code() == StatusCode::kResourceExhausted);
  CHECK(s.message().find("network.max_clients") != std::string::npos);
  CHECK(table.Admit(Id("d"), t0).code() == StatusCode::kResourceExhausted);
  CHECK(table.refusals().clients == 2);
  CHECK(table.size() == 2);
}

TEST_CASE("ClientTable: a client silent past idle_timeout holding nothing makes room", "[common]") {
  ClientLimits limits;
  limits.max_clients = 2;
  limits.idle_timeout = milliseconds(1000);
  ClientTable table(limits);
  const auto t0 = Clock::now();
  REQUIRE(table.Admit(Id("old"), t0).ok());
  REQUIRE(table.Admit(Id("holder"), t0).ok());
  REQUIRE(table.Hold(Id("holder")).ok());
  // Not silent long enough yet.
  CHECK(table.Admit(Id("new"), t0 + milliseconds(999)).code() == StatusCode::kResourceExhausted);
  // "old" is forgotten; "holder" holds a request, so it stays even though silent.
  CHECK(table.Admit(Id("new"), t0 + milliseconds(1000)).ok());
  CHECK(table.held(Id("holder")) == 1);
  // "new" spoke 500 ms ago and "holder" still holds: no room.
  CHECK(table.Admit(Id("newer"), t0 + milliseconds(1500)).code() ==
        StatusCode::kResourceExhausted);
  table.Release(Id("holder"));
  CHECK(table.Admit(Id("newer"), t0 + milliseconds(1500)).ok());
  CHECK(table.held(Id("new")) == 0);
  CHECK(table.Admit(Id("new"), t0 + milliseconds(1500)).ok());  // still known
  CHECK(table.size() == 2);
  CHECK(table.refusals().clients == 2);
}

TEST_CASE("ClientTable: holds per client are capped, released ones free a place", "[common]") {
  ClientLimits limits;
  limits.max_in_flight_per_client = 3;
  ClientTable table(limits);
  const auto t0 = Clock::now();
  REQUIRE(table.Admit(Id("a"), t0).ok());
  REQUIRE(table.Admit(Id("b"), t0).ok());
  for (int i = 0; i < 3; ++i) REQUIRE(table.Hold(Id("a")).ok());
  Status s = table.Hold(Id("a"));
  CHECK(s.code() == StatusCode::kResourceExhausted);
  CHECK(s.message().find("network.max_in_flight_per_client") != std::string::npos);
  CHECK(table.Hold(Id("b")).ok());  // per client, not per server
  table.Release(Id("a"));
  CHECK(table.Hold(Id("a")).ok());
  CHECK(table.held(Id("a")) == 3);
  CHECK(table.refusals().in_flight == 1);
  // Releasing more than was held, or for a stranger, changes nothing.
  for (int i = 0; i < 5; ++i) table.Release(Id("b"));
  table.Release(Id("stranger"));
  CHECK(table.held(Id("b")) == 0);
  CHECK(table.Hold(Id("stranger")).code() == StatusCode::kInternal);
}

}  // namespace
}  // namespace pst
