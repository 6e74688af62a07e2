#include "common/status.h"

#include <capnp/schema.h>
#include <catch2/catch.hpp>
#include <cctype>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "proto/status.capnp.h"

namespace pst {
namespace {

// "invalidArgument" (the schema's spelling) -> "invalid_argument".
std::string SnakeCase(std::string_view camel) {
  std::string out;
  for (char c : camel) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

TEST_CASE("Status: every code is the wire's StatusCode of the same number and name", "[common]") {
  // The numbers cross the wire as proto::StatusCode (proto/status.capnp), which
  // SetRpcStatus fills by a cast: both enums must list the same codes in the
  // same order. The schema is read by reflection, so a code added, removed or
  // renamed on either side fails here.
  const auto enumerants = capnp::Schema::from<proto::StatusCode>().getEnumerants();
  REQUIRE(enumerants.size() == static_cast<size_t>(StatusCode::kUnauthenticated) + 1);
  for (auto e : enumerants) {
    const std::string wire_name = e.getProto().getName();
    CAPTURE(wire_name, e.getOrdinal());
    CHECK(StatusCodeName(static_cast<StatusCode>(e.getOrdinal())) == SnakeCase(wire_name));
  }
  // The first value past the wire's enum has no name of its own.
  CHECK(StatusCodeName(static_cast<StatusCode>(enumerants.size())) == "unknown");
}

TEST_CASE("Status: every code has a distinct lower-case name", "[common]") {
  const std::vector<std::pair<StatusCode, std::string>> names = {
      {StatusCode::kOk, "ok"},
      {StatusCode::kCancelled, "cancelled"},
      {StatusCode::kUnknown, "unknown"},
      {StatusCode::kInvalidArgument, "invalid_argument"},
      {StatusCode::kDeadlineExceeded, "deadline_exceeded"},
      {StatusCode::kNotFound, "not_found"},
      {StatusCode::kAlreadyExists, "already_exists"},
      {StatusCode::kPermissionDenied, "permission_denied"},
      {StatusCode::kResourceExhausted, "resource_exhausted"},
      {StatusCode::kFailedPrecondition, "failed_precondition"},
      {StatusCode::kAborted, "aborted"},
      {StatusCode::kOutOfRange, "out_of_range"},
      {StatusCode::kUnimplemented, "unimplemented"},
      {StatusCode::kInternal, "internal"},
      {StatusCode::kUnavailable, "unavailable"},
      {StatusCode::kDataLoss, "data_loss"},
      {StatusCode::kUnauthenticated, "unauthenticated"},
  };
  std::set<std::string> seen;
  for (const auto& [code, name] : names) {
    CAPTURE(static_cast<int>(code));
    CHECK(StatusCodeName(code) == name);
    seen.insert(std::string(StatusCodeName(code)));
  }
  CHECK(seen.size() == names.size());
  // A value outside the enum (e.g. a corrupted byte) still gets a name.
  CHECK(StatusCodeName(static_cast<StatusCode>(200)) == "unknown");
}

TEST_CASE("Status: factories set code and message", "[common]") {
  const std::vector<std::pair<Status, StatusCode>> cases = {
      {Status::Cancelled("m"), StatusCode::kCancelled},
      {Status::InvalidArgument("m"), StatusCode::kInvalidArgument},
      {Status::DeadlineExceeded("m"), StatusCode::kDeadlineExceeded},
      {Status::NotFound("m"), StatusCode::kNotFound},
      {Status::AlreadyExists("m"), StatusCode::kAlreadyExists},
      {Status::ResourceExhausted("m"), StatusCode::kResourceExhausted},
      {Status::FailedPrecondition("m"), StatusCode::kFailedPrecondition},
      {Status::Aborted("m"), StatusCode::kAborted},
      {Status::OutOfRange("m"), StatusCode::kOutOfRange},
      {Status::Unimplemented("m"), StatusCode::kUnimplemented},
      {Status::Internal("m"), StatusCode::kInternal},
      {Status::Unavailable("m"), StatusCode::kUnavailable},
      {Status::DataLoss("m"), StatusCode::kDataLoss},
  };
  for (const auto& [s, code] : cases) {
    CAPTURE(s.ToString());
    CHECK(s.code() == code);
    CHECK_FALSE(s.ok());
    CHECK(s.message() == "m");
  }
  CHECK(Status().ok());
  CHECK(Status::OK().ok());
  CHECK(Status::OK().code() == StatusCode::kOk);
  CHECK(Status::OK().message().empty());
  CHECK(Status(StatusCode::kUnauthenticated, "who").code() == StatusCode::kUnauthenticated);
}

TEST_CASE("Status: ToString", "[common]") {
  CHECK(Status::OK().ToString() == "ok");
  CHECK(Status::InvalidArgument("bad dim").ToString() == "invalid_argument: bad dim");
  CHECK(Status::Unavailable("").ToString() == "unavailable: ");
  CHECK(Status(StatusCode::kDeadlineExceeded, "slow").ToString() == "deadline_exceeded: slow");
}

TEST_CASE("Status: WithContext prefixes the message and keeps the code", "[common]") {
  const Status s = Status::NotFound("key 7");
  const Status c = s.WithContext("pull");
  CHECK(c.code() == StatusCode::kNotFound);
  CHECK(c.message() == "pull: key 7");
  CHECK(c.ToString() == "not_found: pull: key 7");
  // The original is unchanged.
  CHECK(s.message() == "key 7");
  // Nested context reads outermost first.
  CHECK(c.WithContext("worker 1").message() == "worker 1: pull: key 7");
  // OK stays OK with no message.
  const Status ok = Status::OK().WithContext("ignored");
  CHECK(ok.ok());
  CHECK(ok.message().empty());
}

TEST_CASE("StatusOr: holds a value or an error", "[common]") {
  StatusOr<int> v = 42;
  REQUIRE(v.ok());
  CHECK(v.status().ok());
  CHECK(v.value() == 42);
  CHECK(*v == 42);

  StatusOr<int> e = Status::NotFound("nothing");
  CHECK_FALSE(e.ok());
  CHECK(e.status().code() == StatusCode::kNotFound);
  CHECK(e.status().message() == "nothing");

  StatusOr<std::string> s = std::string("abc");
  REQUIRE(s.ok());
  CHECK(s->size() == 3);
  s.value() += "d";
  CHECK(*s == "abcd");
  const std::string moved = std::move(s).value();
  CHECK(moved == "abcd");

  // Move-only values work, and moving the value out leaves ownership with the caller.
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(7);
  REQUIRE(p.ok());
  std::unique_ptr<int> owned = std::move(p).value();
  REQUIRE(owned != nullptr);
  CHECK(*owned == 7);

  const StatusOr<std::vector<int>> cv = std::vector<int>{1, 2, 3};
  CHECK(cv->size() == 3);
  CHECK((*cv)[2] == 3);
}

Status FailIf(bool fail, int* calls) {
  ++*calls;
  return fail ? Status::Aborted("boom") : Status::OK();
}

Status TwoSteps(bool fail_first, bool fail_second, int* calls, bool* reached_end) {
  PST_RETURN_IF_ERROR(FailIf(fail_first, calls));
  PST_RETURN_IF_ERROR(FailIf(fail_second, calls).WithContext("second"));
  *reached_end = true;
  return Status::OK();
}

TEST_CASE("PST_RETURN_IF_ERROR returns the first error and evaluates once", "[common]") {
  int calls = 0;
  bool end = false;
  CHECK(TwoSteps(false, false, &calls, &end).ok());
  CHECK(calls == 2);
  CHECK(end);

  calls = 0;
  end = false;
  Status s = TwoSteps(true, false, &calls, &end);
  CHECK(s.code() == StatusCode::kAborted);
  CHECK(s.message() == "boom");
  CHECK(calls == 1);
  CHECK_FALSE(end);

  calls = 0;
  s = TwoSteps(false, true, &calls, &end);
  CHECK(s.code() == StatusCode::kAborted);
  CHECK(s.message() == "second: boom");
  CHECK(calls == 2);
  CHECK_FALSE(end);
}

StatusOr<int> ParsePositive(int x, int* calls) {
  ++*calls;
  if (x <= 0) return Status::OutOfRange("not positive: " + std::to_string(x));
  return x;
}

StatusOr<int> SumOfTwo(int a, int b, int* calls) {
  PST_ASSIGN_OR_RETURN(int x, ParsePositive(a, calls));
  // Two uses in one function must not clash (the temporary is named per line).
  PST_ASSIGN_OR_RETURN(const int y, ParsePositive(b, calls));
  return x + y;
}

Status AssignExisting(int a, int* out, int* calls) {
  PST_ASSIGN_OR_RETURN(*out, ParsePositive(a, calls));
  return Status::OK();
}

StatusOr<std::unique_ptr<int>> MakeBox(bool fail) {
  if (fail) return Status::ResourceExhausted("no memory");
  return std::make_unique<int>(5);
}

StatusOr<int> Unbox(bool fail) {
  PST_ASSIGN_OR_RETURN(std::unique_ptr<int> box, MakeBox(fail));
  return *box + 1;
}

TEST_CASE("PST_ASSIGN_OR_RETURN assigns the value or returns the status", "[common]") {
  int calls = 0;
  StatusOr<int> r = SumOfTwo(2, 3, &calls);
  REQUIRE(r.ok());
  CHECK(*r == 5);
  CHECK(calls == 2);

  calls = 0;
  r = SumOfTwo(-1, 3, &calls);
  CHECK(r.status().code() == StatusCode::kOutOfRange);
  CHECK(r.status().message() == "not positive: -1");
  CHECK(calls == 1);

  calls = 0;
  r = SumOfTwo(1, 0, &calls);
  CHECK(r.status().code() == StatusCode::kOutOfRange);
  CHECK(calls == 2);

  int out = -5;
  calls = 0;
  CHECK(AssignExisting(9, &out, &calls).ok());
  CHECK(out == 9);
  CHECK(AssignExisting(0, &out, &calls).code() == StatusCode::kOutOfRange);
  CHECK(out == 9);  // untouched on error

  // Move-only values are moved out, not copied.
  REQUIRE(Unbox(false).ok());
  CHECK(*Unbox(false) == 6);
  CHECK(Unbox(true).status().code() == StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace pst
