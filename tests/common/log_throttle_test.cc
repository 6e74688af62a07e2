#include "common/log_throttle.h"

#include <catch2/catch.hpp>

namespace pst {
namespace {

using std::chrono::milliseconds;

TEST_CASE("LogThrottle: the first events are logged each, then one line per interval with the count left out") {
  LogThrottle throttle(LogThrottle::Options{3, milliseconds(1000)});
  const auto t0 = LogThrottle::Clock::time_point{} + std::chrono::hours(1);
  std::string more = "unset";
  for (int i = 0; i < 3; ++i) {
    REQUIRE(throttle.Note(t0 + milliseconds(i), &more));
    CHECK(more.empty());
  }
  // A flood within the interval of the last logged line: nothing logged.
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(throttle.Note(t0 + milliseconds(500), &more));
  // The first event an interval after the last logged line is logged, with
  // the count of those left out since.
  CHECK_FALSE(throttle.Note(t0 + milliseconds(1001), &more));
  REQUIRE(throttle.Note(t0 + milliseconds(1002), &more));
  CHECK(more == " (1001 more like it since the last such line, not logged)");
  // The interval restarts from that line.
  CHECK_FALSE(throttle.Note(t0 + milliseconds(2001), &more));
  REQUIRE(throttle.Note(t0 + milliseconds(2002), &more));
  CHECK(more == " (1 more like it since the last such line, not logged)");
  // A lone event long after is logged with nothing left out.
  REQUIRE(throttle.Note(t0 + milliseconds(60000), &more));
  CHECK(more.empty());
  CHECK(throttle.noted() == 3 + 1000 + 1 + 1 + 1 + 1 + 1);
}

TEST_CASE("LogThrottle: a flood of any length costs the burst plus one line per interval") {
  LogThrottle throttle(LogThrottle::Options{10, milliseconds(10000)});
  const auto t0 = LogThrottle::Clock::time_point{} + std::chrono::hours(1);
  // One event per millisecond for 100 s: 100,000 events.
  int lines = 0;
  uint64_t reported_left_out = 0;
  for (int i = 0; i < 100000; ++i) {
    std::string more;
    if (!throttle.Note(t0 + milliseconds(i), &more)) continue;
    ++lines;
    if (!more.empty()) reported_left_out += std::stoull(more.substr(2));
  }
  // The burst, then one line at 10 s, 20 s, ... 90 s (the events run to 99.999 s).
  CHECK(lines == 10 + 9);
  // Every event is logged or counted in a logged line, except those after the last line.
  const uint64_t after_last = 99999 - 90009;
  CHECK(reported_left_out + lines + after_last == 100000);
}

}  // namespace
}  // namespace pst
